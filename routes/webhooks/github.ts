// The `github` integration (SPEC §10): a repository's or organization's webhook, the event
// type in `X-GitHub-Event`. Wording and topics follow Zulip's GitHub integration, so a
// stream moved from Zulip keeps its topics.
import { Type } from 'typebox'
import { event, integration, unsupported } from '../../plugins/app/webhooks/integration.js'

import { code, link, linkText } from './markdown.js'

/** Commits listed in a push message; the rest are counted, as Zulip does. */
export const COMMITS_SHOWN = 20

const User = Type.Object({ login: Type.String() })
const Repository = Type.Object({ name: Type.String() })
/** Issue and pull request bodies are null when the author left them empty (GitHub's docs). */
const Body = Type.Union([Type.String(), Type.Null()])

/** A login, for prose: a bot's `dependabot[bot]` must not read as link syntax. */
function who (login: string): string {
  return linkText(login)
}

function plural (n: number, one: string, other: string): string {
  return `${n} ${n === 1 ? one : other}`
}

function short (sha: string): string {
  return sha.slice(0, 7)
}

/**
 * Sender Markdown as a CommonMark block quote, every line prefixed so nothing in it can
 * end the quote early. GitHub sends bodies with CRLF line ends.
 */
function quote (text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/^\s*\n/, '').trimEnd()
    .split('\n').map((line) => line === '' ? '>' : `> ${line}`).join('\n')
}

/** `lead` ends with a colon and the quoted body, or with a full stop when there is none. */
function withBody (lead: string, body: string | null): string {
  return body === null || body.trim() === '' ? `${lead}.` : `${lead}:\n\n${quote(body)}`
}

// ---- ping

const ping = event(Type.Object({
  hook: Type.Object({ type: Type.String() }),
  repository: Type.Optional(Type.Object({ name: Type.String(), full_name: Type.String(), html_url: Type.String() })),
  organization: Type.Optional(Type.Object({ login: Type.String() })),
  sender: Type.Optional(User)
}), (p) => {
  const by = p.sender === undefined ? '' : ` by ${who(p.sender.login)}`
  if (p.repository !== undefined) {
    return {
      topic: p.repository.name,
      content: `GitHub webhook has been successfully configured for ${link(p.repository.full_name, p.repository.html_url)}${by}.`
    }
  }
  if (p.organization !== undefined) {
    return {
      topic: p.organization.login,
      content: `GitHub webhook has been successfully configured for the organization ${who(p.organization.login)}${by}.`
    }
  }
  // A GitHub App's or a Sponsors listing's hook names neither.
  return { topic: 'GitHub', content: `GitHub webhook has been successfully configured${by}.` }
})

// ---- push

const push = event(Type.Object({
  ref: Type.String(),
  before: Type.String(),
  after: Type.String(),
  created: Type.Boolean(),
  deleted: Type.Boolean(),
  forced: Type.Boolean(),
  compare: Type.String(),
  commits: Type.Array(Type.Object({ id: Type.String(), message: Type.String(), url: Type.String() })),
  pusher: Type.Object({ name: Type.String() }),
  repository: Repository
}), (p) => {
  const pusher = who(p.pusher.name)
  if (p.ref.startsWith('refs/tags/')) {
    // Tags go to the repository's topic (Zulip's choice): a topic per tag would hold one message.
    const tag = code(p.ref.slice('refs/tags/'.length))
    return { topic: p.repository.name, content: `${pusher} ${p.deleted ? 'deleted' : 'pushed'} tag ${tag}.` }
  }
  const name = p.ref.startsWith('refs/heads/') ? p.ref.slice('refs/heads/'.length) : p.ref
  const topic = `${p.repository.name} / ${name}`
  const branch = code(name)
  if (p.deleted) return { topic, content: `${pusher} deleted branch ${branch}.` }
  if (p.created && p.commits.length === 0) {
    return { topic, content: `${pusher} created branch ${branch} at ${code(short(p.after))}.` }
  }
  const list = commitList(p.commits)
  if (p.forced) {
    const lead = `${pusher} ${link('force pushed', p.compare)} branch ${branch} from ${code(short(p.before))} to ${code(short(p.after))}.`
    return { topic, content: list === '' ? lead : `${lead}\n${list}` }
  }
  if (p.commits.length === 0) {
    return { topic, content: `${pusher} ${link('pushed', p.compare)} branch ${branch} to ${code(short(p.after))} (no new commits).` }
  }
  return {
    topic,
    content: `${pusher} ${link('pushed', p.compare)} ${plural(p.commits.length, 'commit', 'commits')} to branch ${branch}.\n${list}`
  }
})

/** A bullet per commit (its first line, escaped so it cannot join the SHA's link), then the count of the rest. */
function commitList (commits: Array<{ id: string, message: string, url: string }>): string {
  const lines = commits.slice(0, COMMITS_SHOWN).map((c) => {
    const first = c.message.trim().split(/\r?\n/)[0] ?? ''
    return `* ${first === '' ? '(no commit message)' : linkText(first)} (${link(short(c.id), c.url)})`
  })
  const rest = commits.length - COMMITS_SHOWN
  // A blank line first: a line right after the list would join its last item.
  if (rest > 0) lines.push(`\n[and ${plural(rest, 'more commit', 'more commits')}]`)
  return lines.join('\n')
}

// ---- issues, issue comments, pull requests

const issues = event(Type.Object({
  action: Type.String(),
  issue: Type.Object({ number: Type.Integer(), title: Type.String(), html_url: Type.String(), body: Body }),
  repository: Repository,
  sender: User
}), (p) => {
  const topic = `${p.repository.name} / Issue #${p.issue.number} ${p.issue.title}`
  const lead = `${who(p.sender.login)} ${p.action} ${link(`issue #${p.issue.number}`, p.issue.html_url)}`
  switch (p.action) {
    case 'opened': return { topic, content: withBody(lead, p.issue.body) }
    case 'closed':
    case 'reopened': return { topic, content: `${lead}.` }
    default: return unsupported(`issues:${p.action}`)
  }
})

const issueComment = event(Type.Object({
  action: Type.String(),
  issue: Type.Object({
    number: Type.Integer(),
    title: Type.String(),
    html_url: Type.String(),
    // Present (an object of links) when the issue is a pull request.
    pull_request: Type.Optional(Type.Object({}))
  }),
  comment: Type.Object({ html_url: Type.String(), body: Type.String() }),
  repository: Repository,
  sender: User
}), (p) => {
  if (p.action !== 'created') return unsupported(`issue_comment:${p.action}`)
  const kind = p.issue.pull_request === undefined ? 'Issue' : 'PR'
  const topic = `${p.repository.name} / ${kind} #${p.issue.number} ${p.issue.title}`
  const target = link(`${kind === 'Issue' ? 'issue' : 'PR'} #${p.issue.number}`, p.issue.html_url)
  return { topic, content: withBody(`${who(p.sender.login)} ${link('commented', p.comment.html_url)} on ${target}`, p.comment.body) }
})

const pullRequest = event(Type.Object({
  action: Type.String(),
  pull_request: Type.Object({
    number: Type.Integer(),
    title: Type.String(),
    html_url: Type.String(),
    body: Body,
    merged: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    head: Type.Object({ ref: Type.String() }),
    base: Type.Object({ ref: Type.String() })
  }),
  repository: Repository,
  sender: User
}), (p) => {
  const pr = p.pull_request
  const topic = `${p.repository.name} / PR #${pr.number} ${pr.title}`
  const sender = who(p.sender.login)
  const target = link(`PR #${pr.number}`, pr.html_url)
  const branches = `from ${code(pr.head.ref)} to ${code(pr.base.ref)}`
  switch (p.action) {
    case 'opened': return { topic, content: withBody(`${sender} opened ${target} ${branches}`, pr.body) }
    case 'closed': return {
      topic,
      content: pr.merged === true ? `${sender} merged ${target} ${branches}.` : `${sender} closed ${target} without merging.`
    }
    case 'reopened': return { topic, content: `${sender} reopened ${target}.` }
    default: return unsupported(`pull_request:${p.action}`)
  }
})

export const github = integration({
  name: 'github',
  displayName: 'GitHub',
  docsUrl: 'https://docs.github.com/en/webhooks/webhook-events-and-payloads',
  eventSource: { header: 'X-GitHub-Event' },
  events: {
    ping,
    push,
    issues,
    issue_comment: issueComment,
    pull_request: pullRequest
  }
})
