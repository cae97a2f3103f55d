// The `slack` integration: Slack's incoming-webhook payloads (text, blocks, attachments) and the mrkdwn → Markdown conversion.
import t from 'tap'
import { rejection } from '../helper.js'
import { readFileSync } from 'node:fs'
import { EventFilter, processDelivery, readPayload } from '../../plugins/app/webhooks/integration.js'
import { mrkdwn, slack } from '../../routes/webhooks/slack.js'

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/webhooks/slack/${name}.json`, import.meta.url), 'utf8'))
const deliver = (payload: unknown, options: { topic?: string, filter?: EventFilter } = {}) =>
  processDelivery(slack, payload, { headers: {} }, options)
const message = (topic: string, content: string) => ({ kind: 'message', eventType: 'message', message: { topic, content } })

t.test('a text-only message is the text, in the topic "(no topic)"', async (t) => {
  t.same(deliver(fixture('message__text_only')),
    message('(no topic)', 'Hello, world! The nightly backup finished in 4m 12s.'))
})

t.test('a mrkdwn message is Markdown, its channel the topic, username and icon ignored', async (t) => {
  t.same(deliver(fixture('message__mrkdwn')), message('deploys', [
    '**Deploy finished** for [acme/web@4f2a9c1](https://github.com/acme/web/commit/4f2a9c1) by @alice',
    '*Duration:* 3m 41s, ~~flaky~~ retried tests: 0',
    'Run `npm run migrate && npm start` next <not before 18:00>',
    '```',
    'if (a < b && *c*) { done() }',
    '```',
    'cc @here in #ops & see [https://status.acme.example/](https://status.acme.example/)'
  ].join('\n')))
})

t.test('blocks show header, section text and fields, divider and context; actions and accessories show nothing; text is only the fallback', async (t) => {
  t.same(deliver(fixture('message__blocks')), message('(no topic)', [
    '**New request**',
    '**Type:**\nPaid Time Off',
    '**Created by:**\n[Fred Enriquez](https://example.com/users/fred)',
    '**When:**\nAug 10 - Aug 13',
    '---',
    'Submitted via *Workday*'
  ].join('\n\n')))
})

t.test('a legacy attachment shows pretext, linked title, text and fields', async (t) => {
  t.same(deliver(fixture('message__attachments')), message('(no topic)', [
    'Build failed on `main`',
    '**[acme-api #1042](https://jenkins.example.com/job/acme-api/1042/)**',
    '3 tests failed in **OrderServiceTest**',
    '**Branch**: main\n**Duration**: 6 min 2 sec'
  ].join('\n\n')))
})

t.test('mrkdwn conversions, one by one', async (t) => {
  const table: Array<[string, string]> = [
    ['*bold*', '**bold**'],
    ['_italic_', '*italic*'],
    ['~strike~', '~~strike~~'],
    ['*_bold italic_*', '***bold italic***'],
    ['a *b* and _c_.', 'a **b** and *c*.'],
    ['(*in parens*)', '(**in parens**)'],
    ['a*b*c and snake_case_name', 'a*b*c and snake_case_name'],
    ['2 * 3 * 4', '2 * 3 * 4'],
    ['* not bold*', '* not bold*'],
    ['*two\nlines*', '*two\nlines*'],
    ['**already Markdown** and ~~struck~~', '**already Markdown** and ~~struck~~'],
    ['<http://example.com/a|Example>', '[Example](http://example.com/a)'],
    ['<https://example.com/a_b_c>', '[https://example.com/a\\_b\\_c](https://example.com/a_b_c)'],
    ['<https://example.com/q?a=1&amp;b=2|Q &amp; A>', '[Q & A](https://example.com/q?a=1&b=2)'],
    ['<https://example.com|a [bracketed] label>', '[a \\[bracketed\\] label](https://example.com/)'],
    ['*see <https://example.com|here>*', '**see [here](https://example.com/)**'],
    ['see https://example.com/_next_/x.', 'see [https://example.com/\\_next\\_/x](https://example.com/_next_/x).'],
    ['Alert!<https://example.com|here>', 'Alert\\![here](https://example.com/)'],
    ['<mailto:bob@example.com|Bob>', 'Bob'],
    ['<@U024BE7LH>', '@U024BE7LH'],
    ['<@U024BE7LH|alice>', '@alice'],
    ['<#C024BE7LR>', '#C024BE7LR'],
    ['<#C024BE7LR|general>', '#general'],
    ['<!here>', '@here'],
    ['<!channel>', '@channel'],
    ['<!everyone>', '@everyone'],
    ['<!subteam^SAZ94GDB8|@ops-team>', '@ops-team'],
    ['<!date^1392734382^{date_num}|2014-02-18>', '2014-02-18'],
    ['a &amp; b &lt; c &gt; d', 'a & b < c > d'],
    ['&amp;lt; decodes once', '&lt; decodes once'],
    ['&gt; a quote', '> a quote'],
    ['I <3 you', 'I <3 you'],
    ['a <not a link> b', 'a <not a link> b'],
    ['text <0> that looks like a placeholder', 'text <0> that looks like a placeholder'],
    ['`*code*`', '`*code*`'],
    ['before ```*x* <@U1>``` after', 'before\n```\n*x* <@U1>\n```\nafter'],
    ['```\nline 1\n\n_line 3_\n```', '```\nline 1\n\n_line 3_\n```'],
    ['```a ``` b```', '```\na \n```\nb```']
  ]
  for (const [input, output] of table) t.equal(mrkdwn(input), output, JSON.stringify(input))
})

t.test('code spans and blocks keep their text: no emphasis, links or mentions inside, entities decoded as Slack shows them', async (t) => {
  t.equal(mrkdwn('run `rm -rf _build_ *.o <https://x.example|x> &lt;dir&gt;` now'),
    'run `rm -rf _build_ *.o <https://x.example|x> <dir>` now')
  t.equal(mrkdwn('```\n*bold* _it_ ~s~ <!here>\n```'), '```\n*bold* _it_ ~s~ <!here>\n```')
})

t.test('a code block holding ``` runs is fenced longer than them', async (t) => {
  t.equal(mrkdwn('```\n`` ` ``\n```'), '```\n`` ` ``\n```')
  // Slack's block ends at the first ```, so a longer run cannot be inside; the fence still outgrows what is.
  t.equal(mrkdwn('```a ``x`` b```'), '```\na ``x`` b\n```')
})

t.test('a link that is not http(s) is its label, unlinked', async (t) => {
  t.equal(mrkdwn('<javascript:alert(1)|x>'), 'x')
  t.equal(mrkdwn('<javascript:alert(1)>'), 'javascript:alert(1)')
  t.same(deliver({ text: 'click <javascript:alert(1)|x>' }), message('(no topic)', 'click x'))
})

t.test('the topic parameter overrides the channel and "(no topic)"', async (t) => {
  t.same(deliver({ text: 'hi', channel: '#general' }, { topic: 'builds' }), message('builds', 'hi'))
  t.same(deliver({ text: 'hi', channel: '@alice' }), message('alice', 'hi'))
  t.same(deliver({ text: 'hi', channel: null }), message('(no topic)', 'hi'))
})

t.test('a form-encoded delivery carries the message in its payload field', async (t) => {
  const body = Buffer.from('payload=' + encodeURIComponent(JSON.stringify({ text: '*Form* & <https://example.com|link>' })))
  const payload = readPayload(slack, body, 'application/x-www-form-urlencoded; charset=utf-8')
  t.same(deliver(payload), message('(no topic)', '**Form** & [link](https://example.com/)'))
})

t.test('with blocks that show nothing, the text is shown', async (t) => {
  t.same(deliver({
    text: 'Approve the *deploy*?',
    blocks: [{ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Approve' } }] }]
  }), message('(no topic)', 'Approve the **deploy**?'))
})

t.test('text and attachments both show, text first, as in Slack', async (t) => {
  t.same(deliver({ text: 'Build report', attachments: [{ title: 'ok', text: null, fields: null }] }),
    message('(no topic)', 'Build report\n\n**ok**'))
})

t.test('an attachment with nothing else shows its fallback', async (t) => {
  t.same(deliver({ attachments: [{ fallback: 'Plain summary', color: 'good' }] }), message('(no topic)', 'Plain summary'))
})

t.test('plain_text is not converted, a markdown block passes as Markdown, an image block is a link', async (t) => {
  t.same(deliver({
    blocks: [
      { type: 'section', text: { type: 'plain_text', text: '*as typed*' } },
      { type: 'markdown', text: '**Markdown** _here_' },
      { type: 'image', image_url: 'https://example.com/chart.png', alt_text: 'chart' },
      { type: 'rich_text', elements: [{ type: 'rich_text_section', elements: [{ type: 'text', text: 'not shown' }] }] }
    ]
  }), message('(no topic)', '*as typed*\n\n**Markdown** _here_\n\n[chart](https://example.com/chart.png)'))
})

t.test('a payload that passes but shows nothing sends nothing', async (t) => {
  t.same(deliver({ text: '   ' }), { kind: 'nothing', eventType: 'message' })
  t.same(deliver({ blocks: [{ type: 'actions', elements: [] }] }), { kind: 'nothing', eventType: 'message' })
})

t.test('a payload with no text, blocks or attachments is 400 naming Slack', async (t) => {
  for (const [payload, why] of [
    [{}, 'must have required properties text'],
    [{ text: 5 }, '/text must be string'],
    [{ text: '' }, '/text must not have fewer than 1 characters'],
    [{ username: 'bot', blocks: [] }, 'must have required properties text']
  ] as const) {
    const err = rejection(() => deliver(payload))
    t.equal(err.statusCode, 400, JSON.stringify(payload))
    t.equal(err.message, `The Slack webhook cannot read this payload: ${why}`, JSON.stringify(payload))
  }
})

t.test('a block of the wrong shape is 400 naming Slack, not a crash', async (t) => {
  const err = rejection(() => deliver({ blocks: [{ type: 'section', text: 7 }] }))
  t.equal(err.statusCode, 400)
  t.match(err.message, /^The Slack webhook cannot read this payload/)
})

t.test('only_events / exclude_events filter the one event type, message', async (t) => {
  t.same(deliver({ text: 'x' }, { filter: new EventFilter(['other'], undefined) }), { kind: 'filtered', eventType: 'message' })
  t.same(deliver({ text: 'x' }, { filter: new EventFilter(['mess*'], undefined) }), message('(no topic)', 'x'))
})
