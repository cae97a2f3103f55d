// Every fixture of every integration, posted over HTTP as its sender would
// (test/fixtures/webhooks/<integration>/<event>__<variant>.json): the stored message is
// what the integration formats, unsupported sub-types answer UNSUPPORTED_WEBHOOK_EVENT_TYPE
// and send nothing, and every handled event type has a fixture.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CompiledIntegration } from '../../plugins/app/webhooks/integration.js'
import { processDelivery } from '../../plugins/app/webhooks/integration.js'
import { integrations } from '../../routes/webhooks/index.js'
import { body, build, webhookBot } from '../helper.js'

const ROOT = join(import.meta.dirname, '..', 'fixtures', 'webhooks')
const { app, owner } = await build(t)

const bot = await webhookBot(app, owner.auth, 'fixtures')
await app.inject({ method: 'PUT', url: '/api/v1/streams', headers: { authorization: owner.auth }, payload: { name: 'integrations' } })
// A first message, so "one more" is counted from a real id (maxId is -1 on an empty table).
await app.inject({ method: 'POST', url: '/api/v1/messages', headers: { authorization: owner.auth }, payload: { type: 'stream', to: 'integrations', topic: 'hello', content: 'first' } })

/** The headers a sender sets for a fixture: the event header carries the name's `<event>` part. */
function headersFor (integration: CompiledIntegration, fixture: string): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': `${integration.displayName}-Hookshot/1.0` }
  if ('header' in integration.eventSource) headers[integration.eventSource.header.toLowerCase()] = fixture.split('__')[0] ?? fixture
  return headers
}

t.test('every integration has fixtures, and every event type it handles has at least one', async (t) => {
  t.ok(integrations.length >= 4, 'json, github, slack and one more')
  for (const integration of integrations) {
    const files = readdirSync(join(ROOT, integration.name)).filter((f) => f.endsWith('.json'))
    const events = new Set(files.map((f) => f.split('__')[0]?.replace(/\.json$/, '')))
    for (const type of Object.keys(integration.events)) t.ok(events.has(type), `${integration.name}: a fixture for ${type}`)
  }
})

for (const integration of integrations) {
  const dir = join(ROOT, integration.name)
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const fixture = file.replace(/\.json$/, '')
    t.test(`${integration.name}/${fixture} posted over HTTP sends exactly what the integration formats`, async (t) => {
      const raw = readFileSync(join(dir, file))
      const headers = headersFor(integration, fixture)
      const expected = processDelivery(integration, JSON.parse(raw.toString('utf8')), { headers })
      const before = await app.messages.maxId()
      const res = await app.inject({ method: 'POST', url: `/api/v1/external/${integration.name}?api_key=${bot.api_key}&stream=integrations`, payload: raw, headers })
      t.equal(res.statusCode, 200, res.payload)
      t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
      const after = await app.messages.maxId()
      if (expected.kind === 'unsupported') {
        t.same(body(res), {
          result: 'success',
          msg: `The '${expected.eventType}' event isn't currently supported by the ${integration.displayName} webhook; ignoring`,
          code: 'UNSUPPORTED_WEBHOOK_EVENT_TYPE',
          data: {}
        })
        t.equal(after, before, 'nothing sent')
        return
      }
      t.same(body(res), { result: 'success', msg: '', data: {} })
      if (expected.kind !== 'message') {
        t.equal(after, before, 'nothing sent')
        return
      }
      t.equal(after, before + 1, 'one message')
      const got = body(await app.inject({ method: 'GET', url: `/api/v1/messages/${after}`, headers: { authorization: owner.auth } })).data.message
      t.match(got, {
        sender_id: bot.user_id,
        display_recipient: 'integrations',
        topic: expected.message.topic,
        content_markdown: expected.message.content
      })
      t.ok(got.content.length > 0, 'rendered')
    })
  }
}
