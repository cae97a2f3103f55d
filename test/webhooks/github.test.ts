// The GitHub integration (SPEC §10): every fixture's exact message, the sub-types it leaves
// unsupported, the event header, payloads it cannot read, filters, and sender text that must
// not break the Markdown around it.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ParleyError } from '../../plugins/app/errors.js'
import { renderMarkdown } from '../../plugins/app/stores/markdown.js'
import { EventFilter, processDelivery, readPayload, type Outcome } from '../../plugins/app/webhooks/integration.js'
import { github } from '../../routes/webhooks/github.js'

const DIR = join(import.meta.dirname, '..', 'fixtures', 'webhooks', 'github')
const REPO = 'https://github.com/Codertocat/Hello-World'

/** A fixture's payload, parsed afresh (tests change their copy). */
function load (fixture: string): any {
  return JSON.parse(readFileSync(join(DIR, `${fixture}.json`), 'utf8'))
}

/** The `<event>` part of a fixture's name: what GitHub sends in X-GitHub-Event. */
function eventOf (fixture: string): string {
  return fixture.split('__')[0] ?? fixture
}

function deliver (fixture: string, payload: unknown = load(fixture), options: Parameters<typeof processDelivery>[3] = {}): Outcome {
  return processDelivery(github, payload, { headers: { 'x-github-event': eventOf(fixture) } }, options)
}

/** What fn throws (undefined when it returns). */
function thrown (fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return undefined
}

function message (eventType: string, topic: string, content: string): Outcome {
  return { kind: 'message', eventType, message: { topic, content } }
}

/** A push message's bullet, as GitHub's fixture data gives it. */
function bullet (c: { id: string, message: string, url: string }): string {
  return `* ${c.message.split('\n')[0]} ([${c.id.slice(0, 7)}](${c.url}))`
}

// Each fixture: what the test says it pins, and the outcome.
const EXPECTED: Record<string, [string, Outcome]> = {
  ping: ['a repository hook\'s ping names the repository, topic the repository',
    message('ping', 'Hello-World',
      `GitHub webhook has been successfully configured for [Codertocat/Hello-World](${REPO}) by Codertocat.`)],
  ping__organization: ['an organization hook\'s ping names the organization, topic its login',
    message('ping', 'Octocoders',
      'GitHub webhook has been successfully configured for the organization Octocoders by Codertocat.')],
  push__1_commit: ['a push of 1 commit says "1 commit" and lists its first line only',
    message('push', 'Hello-World / main',
      `Codertocat [pushed](${REPO}/compare/72486feda4a5...270cd035a9b7) 1 commit to branch \`main\`.\n` +
      `* Fix typo in README ([270cd03](${REPO}/commit/270cd035a9b7794ce6ac9cb16df6ff3e8758dc30))`)],
  push__3_commits: ['a push of 3 commits lists the 3',
    message('push', 'Hello-World / main',
      `Codertocat [pushed](${REPO}/compare/735bdd27b704...ee174158afae) 3 commits to branch \`main\`.\n` +
      `* Fix typo in README ([8b5090b](${REPO}/commit/8b5090bd07b7bf3922cdd15a9d287ceff72ddc65))\n` +
      `* Add a contributing guide ([e0a2fe1](${REPO}/commit/e0a2fe12025d640ef4cdd24c680aa8bdf72b9078))\n` +
      `* Bump the minimum Node version to 20 ([ee17415](${REPO}/commit/ee174158afaea094b34aa30a7b98ff44bca9e453))`)],
  push__20_commits: ['a push of exactly 20 commits lists all 20 and no "more"',
    message('push', 'Hello-World / main',
      `Codertocat [pushed](${REPO}/compare/a454ab29da19...297eaeb267c8) 20 commits to branch \`main\`.\n` +
      (load('push__20_commits').commits as any[]).map(bullet).join('\n'))],
  push__25_commits: ['a push of 25 commits lists 20 then "and 5 more commits"',
    message('push', 'Hello-World / main',
      `Codertocat [pushed](${REPO}/compare/be9c7898eadd...59a9177e98c2) 25 commits to branch \`main\`.\n` +
      (load('push__25_commits').commits as any[]).slice(0, 20).map(bullet).join('\n') +
      '\n\n[and 5 more commits]')],
  push__force: ['a force push names the old and new heads, then the commits',
    message('push', 'Hello-World / feature/parser',
      `Codertocat [force pushed](${REPO}/compare/d0c1119d75e9...3c286a276b90) branch \`feature/parser\` from \`d0c1119\` to \`3c286a2\`.\n` +
      `* Fix typo in README ([3c286a2](${REPO}/commit/3c286a276b905212b5d235a6aa34345a223bd2e0))`)],
  push__no_new_commits: ['a push without new commits says where the branch now is',
    message('push', 'Hello-World / release',
      `Codertocat [pushed](${REPO}/compare/8c671cf47a53...aaf0ba091812) branch \`release\` to \`aaf0ba0\` (no new commits).`)],
  push__create_branch: ['creating a branch without commits says "created branch" at its head',
    message('push', 'Hello-World / feature/parser', 'Codertocat created branch `feature/parser` at `2af7156`.')],
  push__delete_branch: ['deleting a branch says "deleted branch", in the branch\'s topic',
    message('push', 'Hello-World / feature/parser', 'Codertocat deleted branch `feature/parser`.')],
  push__tag: ['pushing a tag says "pushed tag", in the repository\'s topic',
    message('push', 'Hello-World', 'Codertocat pushed tag `v1.2.0`.')],
  push__delete_tag: ['deleting a tag says "deleted tag", in the repository\'s topic',
    message('push', 'Hello-World', 'Codertocat deleted tag `v1.2.0-rc.1`.')],
  issues__opened: ['an opened issue quotes its body (CRLF lines, a code block inside)',
    message('issues', 'Hello-World / Issue #12 Crash when the config file is empty',
      `octocat opened [issue #12](${REPO}/issues/12):\n\n` +
      '> Starting the server with an empty `config.json` throws:\n>\n> ```\n> SyntaxError: Unexpected end of JSON input\n> ```\n>\n> Expected: the defaults are used.')],
  issues__opened_without_body: ['an issue opened with a null body ends at the link',
    message('issues', 'Hello-World / Issue #13 Add a --version flag', `octocat opened [issue #13](${REPO}/issues/13).`)],
  issues__closed: ['a closed issue',
    message('issues', 'Hello-World / Issue #12 Crash when the config file is empty', `Codertocat closed [issue #12](${REPO}/issues/12).`)],
  issues__reopened: ['a reopened issue',
    message('issues', 'Hello-World / Issue #12 Crash when the config file is empty', `octocat reopened [issue #12](${REPO}/issues/12).`)],
  issues__labeled: ['a labeled issue is unsupported as issues:labeled',
    { kind: 'unsupported', eventType: 'issues:labeled' }],
  issue_comment__created: ['a comment on an issue quotes it, in the issue\'s topic',
    message('issue_comment', 'Hello-World / Issue #12 Crash when the config file is empty',
      `Codertocat [commented](${REPO}/issues/12#issuecomment-1987612345) on [issue #12](${REPO}/issues/12):\n\n` +
      '> Thanks for the report! I can reproduce it on `main`.\n>\n> I\'ll look at it this week.')],
  issue_comment__created_on_pr: ['a comment on a pull request goes to the PR\'s topic (cut to 60 characters)',
    message('issue_comment', 'Hello-World / PR #14 Use the defaults when the config fil...',
      `octocat [commented](${REPO}/pull/14#issuecomment-1987655555) on [PR #14](${REPO}/pull/14):\n\n` +
      '> Looks good to me. Could you add a test for a config file with only whitespace?')],
  issue_comment__edited: ['an edited comment is unsupported as issue_comment:edited',
    { kind: 'unsupported', eventType: 'issue_comment:edited' }],
  pull_request__opened: ['an opened PR names its branches and quotes its body',
    message('pull_request', 'Hello-World / PR #14 Use the defaults when the config fil...',
      `Codertocat opened [PR #14](${REPO}/pull/14) from \`fix/empty-config\` to \`main\`:\n\n` +
      '> Fixes #12.\n>\n> An empty file is now read as `{}`; a test covers it.')],
  pull_request__opened_without_body: ['a PR opened with a null body ends at the branches',
    message('pull_request', 'Hello-World / PR #15 Update dependencies',
      `hubot opened [PR #15](${REPO}/pull/15) from \`deps/2024-03\` to \`main\`.`)],
  pull_request__closed: ['a PR closed unmerged says "without merging"',
    message('pull_request', 'Hello-World / PR #15 Update dependencies', `Codertocat closed [PR #15](${REPO}/pull/15) without merging.`)],
  pull_request__merged: ['a PR closed with merged: true says "merged" and names its branches',
    message('pull_request', 'Hello-World / PR #14 Use the defaults when the config fil...',
      `octocat merged [PR #14](${REPO}/pull/14) from \`fix/empty-config\` to \`main\`.`)],
  pull_request__reopened: ['a reopened PR',
    message('pull_request', 'Hello-World / PR #15 Update dependencies', `hubot reopened [PR #15](${REPO}/pull/15).`)],
  pull_request__synchronize: ['a synchronized PR is unsupported as pull_request:synchronize',
    { kind: 'unsupported', eventType: 'pull_request:synchronize' }]
}

t.test('every fixture has its expected outcome pinned here', async (t) => {
  const fixtures = readdirSync(DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length)).sort()
  t.same(fixtures, Object.keys(EXPECTED).sort())
})

for (const [fixture, [says, outcome]] of Object.entries(EXPECTED)) {
  t.test(`${fixture}: ${says}`, async (t) => {
    t.same(deliver(fixture), outcome)
  })
}

t.test('a form-encoded delivery (GitHub\'s other content type) gives the same message as JSON', async (t) => {
  const json = readFileSync(join(DIR, 'push__3_commits.json'))
  const form = Buffer.from('payload=' + encodeURIComponent(json.toString('utf8')))
  const payload = readPayload(github, form, 'application/x-www-form-urlencoded')
  t.same(deliver('push__3_commits', payload), EXPECTED.push__3_commits?.[1])
  t.same(deliver('push__3_commits', readPayload(github, json, 'application/json')), EXPECTED.push__3_commits?.[1])
})

t.test('a push of 21 commits says "and 1 more commit", singular', async (t) => {
  const payload = load('push__25_commits')
  payload.commits = payload.commits.slice(0, 21)
  const outcome = deliver('push__25_commits', payload)
  t.match(outcome, { message: { content: /\) 21 commits to branch `main`\.\n/ } })
  t.match(outcome, { message: { content: /\(\[50ec8ac\]\([^)]+\)\)\n\n\[and 1 more commit\]$/ } })
})

t.test('a new branch pushed with commits lists them as a push', async (t) => {
  const payload = load('push__1_commit')
  payload.created = true
  payload.before = '0000000000000000000000000000000000000000'
  t.same(deliver('push__1_commit', payload), EXPECTED.push__1_commit?.[1])
})

t.test('a ping from a hook with neither repository nor organization (a GitHub App) still confirms', async (t) => {
  const payload = load('ping')
  delete payload.repository
  t.same(deliver('ping', payload), message('ping', 'GitHub', 'GitHub webhook has been successfully configured by Codertocat.'))
  delete payload.sender
  t.same(deliver('ping', payload), message('ping', 'GitHub', 'GitHub webhook has been successfully configured.'))
})

t.test('an issue or PR whose body is empty or blank ends at the link, like a null body', async (t) => {
  for (const body of ['', '  \r\n ']) {
    const issue = load('issues__opened')
    issue.issue.body = body
    t.match(deliver('issues__opened', issue), { message: { content: `octocat opened [issue #12](${REPO}/issues/12).` } })
    const pr = load('pull_request__opened')
    pr.pull_request.body = body
    t.match(deliver('pull_request__opened', pr), { message: { content: /to `main`\.$/ } })
  }
})

t.test('every line of a quoted body stays inside the quote', async (t) => {
  const payload = load('issue_comment__created')
  payload.comment.body = 'first\n\n# not a heading of ours\n---\n> nested'
  const outcome = deliver('issue_comment__created', payload)
  t.match(outcome, { message: { content: /:\n\n> first\n>\n> # not a heading of ours\n> ---\n> > nested$/ } })
  const html = outcome.kind === 'message' ? renderMarkdown(outcome.message.content) : ''
  t.match(html, /<\/p>\n<blockquote>[\s\S]*<\/blockquote>$/)
})

t.test('other actions of issues, issue comments and pull requests are unsupported, named by event:action', async (t) => {
  for (const [fixture, action] of [['issues__opened', 'assigned'], ['issues__opened', 'edited'],
    ['issue_comment__created', 'deleted'], ['pull_request__opened', 'labeled'], ['pull_request__opened', 'ready_for_review']] as const) {
    const payload = load(fixture)
    payload.action = action
    t.same(deliver(fixture, payload), { kind: 'unsupported', eventType: `${eventOf(fixture)}:${action}` })
  }
})

t.test('an event type GitHub sends that is not handled (star) is unsupported', async (t) => {
  const payload = { action: 'created', starred_at: '2024-03-11T09:00:00Z', repository: load('ping').repository, sender: load('ping').sender }
  t.same(processDelivery(github, payload, { headers: { 'x-github-event': 'star' } }), { kind: 'unsupported', eventType: 'star' })
})

t.test('a delivery without X-GitHub-Event is 400 MISSING_HTTP_EVENT_HEADER', async (t) => {
  for (const headers of [{}, { 'x-github-event': '' }, { 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958' }]) {
    const err = thrown(() => processDelivery(github, load('push__1_commit'), { headers }))
    t.ok(err instanceof ParleyError, JSON.stringify(headers))
    t.match(err, { code: 'MISSING_HTTP_EVENT_HEADER', statusCode: 400, message: /'X-GitHub-Event'/ })
  }
})

t.test('a payload missing a field the formatter reads is 400 naming GitHub', async (t) => {
  const cases: Array<[string, (p: any) => void, RegExp]> = [
    ['push__1_commit', (p) => { delete p.repository }, /repository/],
    ['push__1_commit', (p) => { p.commits[0].url = 42 }, /\/commits\/0\/url/],
    ['issues__opened', (p) => { p.issue.body = 12 }, /\/issue\/body/],
    ['issue_comment__created', (p) => { delete p.comment }, /comment/],
    ['pull_request__merged', (p) => { delete p.pull_request.head }, /head/],
    ['ping', (p) => { delete p.hook }, /hook/]
  ]
  for (const [fixture, spoil, names] of cases) {
    const payload = load(fixture)
    spoil(payload)
    const err = thrown(() => deliver(fixture, payload))
    t.ok(err instanceof ParleyError, fixture)
    t.match(err, { code: 'BAD_REQUEST', statusCode: 400, message: /^The GitHub webhook cannot read this payload: / }, fixture)
    t.match(err, { message: names }, fixture)
  }
  const err = thrown(() => deliver('push__1_commit', 'not an object'))
  t.ok(err instanceof ParleyError)
  t.match(err, { code: 'BAD_REQUEST', statusCode: 400, message: /^The GitHub webhook cannot read this payload: / })
})

t.test('only_events / exclude_events filter GitHub event types, wildcards included', async (t) => {
  const onlyPulls = { filter: new EventFilter(['pull_*'], undefined) }
  t.same(deliver('pull_request__opened', undefined, onlyPulls), EXPECTED.pull_request__opened?.[1])
  t.same(deliver('push__1_commit', undefined, onlyPulls), { kind: 'filtered', eventType: 'push' })
  t.same(deliver('issue_comment__created_on_pr', undefined, onlyPulls), { kind: 'filtered', eventType: 'issue_comment' })

  const noIssues = { filter: new EventFilter(undefined, ['issue*']) }
  t.same(deliver('issues__opened', undefined, noIssues), { kind: 'filtered', eventType: 'issues' })
  t.same(deliver('issue_comment__created', undefined, noIssues), { kind: 'filtered', eventType: 'issue_comment' })
  t.same(deliver('push__tag', undefined, noIssues), EXPECTED.push__tag?.[1])

  // The filter names event types (the header), not actions: an issue left out is filtered before its action is read.
  t.same(deliver('issues__labeled', undefined, { filter: new EventFilter(['push'], undefined) }), { kind: 'filtered', eventType: 'issues' })
  t.same(deliver('push__force', undefined, { filter: new EventFilter(['push', 'ping'], ['issues']) }), EXPECTED.push__force?.[1])
})

t.test('the topic parameter overrides the integration\'s topic and keeps the content', async (t) => {
  t.same(deliver('push__delete_branch', undefined, { topic: 'deploys' }),
    message('push', 'deploys', 'Codertocat deleted branch `feature/parser`.'))
  t.same(deliver('push__delete_branch', undefined, { topic: '   ' }), EXPECTED.push__delete_branch?.[1])
})

t.test('a commit message with "](javascript:x)" or "[" cannot break the commit\'s link', async (t) => {
  const payload = load('push__3_commits')
  payload.commits[0].message = 'Evil ](javascript:alert(1)) [x'
  payload.commits[1].message = '[click](javascript:x)\n\n[ref]: javascript:y'
  payload.commits[2].message = 'ends with a backslash \\'
  const outcome = deliver('push__3_commits', payload)
  const content = outcome.kind === 'message' ? outcome.message.content : ''
  t.equal(content.split('\n').slice(1).join('\n'),
    `* Evil \\](javascript:alert(1)) \\[x ([8b5090b](${REPO}/commit/8b5090bd07b7bf3922cdd15a9d287ceff72ddc65))\n` +
    `* \\[click\\](javascript:x) ([e0a2fe1](${REPO}/commit/e0a2fe12025d640ef4cdd24c680aa8bdf72b9078))\n` +
    `* ends with a backslash \\\\ ([ee17415](${REPO}/commit/ee174158afaea094b34aa30a7b98ff44bca9e453))`)
  const html = renderMarkdown(content)
  t.notMatch(html, /javascript:[^<]*<\/a>|href="javascript/)
  // The compare link and one link per commit, each to GitHub, each on its SHA.
  t.same([...html.matchAll(/<a href="([^"]+)"[^>]*>([^<]*)<\/a>/g)].map((m) => m[2]), ['pushed', '8b5090b', 'e0a2fe1', 'ee17415'])
  t.match(html, '<li>Evil ](javascript:alert(1)) [x (<a href=')
})

t.test('a bot\'s login (dependabot[bot]) and a branch with backticks stay text and code', async (t) => {
  const payload = load('pull_request__opened')
  payload.sender.login = 'dependabot[bot]'
  payload.pull_request.head.ref = 'fix/`odd`-name'
  payload.pull_request.body = null
  t.same(deliver('pull_request__opened', payload), message('pull_request', 'Hello-World / PR #14 Use the defaults when the config fil...',
    `dependabot\\[bot\\] opened [PR #14](${REPO}/pull/14) from \`\`fix/\`odd\`-name\`\` to \`main\`.`))
  const push = load('push__delete_branch')
  push.ref = 'refs/heads/a`b'
  t.same(deliver('push__delete_branch', push), message('push', 'Hello-World / a`b', 'Codertocat deleted branch ``a`b``.'))
})

t.test('a link target that is not http(s) leaves the link text as text', async (t) => {
  const payload = load('issues__closed')
  payload.issue.html_url = 'javascript:alert(1)'
  t.same(deliver('issues__closed', payload),
    message('issues', 'Hello-World / Issue #12 Crash when the config file is empty', 'Codertocat closed issue #12.'))
})

t.test('a commit with an empty message still gets its line', async (t) => {
  const payload = load('push__1_commit')
  payload.commits[0].message = '\n'
  t.match(deliver('push__1_commit', payload), { message: { content: /\n\* \(no commit message\) \(\[270cd03\]/ } })
})
