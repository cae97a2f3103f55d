// The fan-out baseline: bare Fastify (no logger, no plugins, no database) holding every
// GET of the events path until a POST to the messages path, then answering each held poll
// with the envelope Parley sends for that message: the least a fan-out of one message can
// cost with the same framework, client and bytes. Run as a child by fanout.ts:
// `fanout-baseline.js <event.json>`, where the file holds one event as Parley served it.
import Fastify from 'fastify'
import { readFileSync } from 'node:fs'

const [eventFile] = process.argv.slice(2)
if (eventFile === undefined) {
  process.stderr.write('usage: fanout-baseline.js <event.json>\n')
  process.exit(2)
}
const event = readFileSync(eventFile, 'utf8').trim()

const held: Array<{ queueId: string, answer: (body: string) => void }> = []
const app = Fastify({ logger: false })
// The bench sends the message as a form, as Parley's clients do; its fields are not needed.
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => { done(null, body) })
app.get('/api/v1/events', (request, reply) => {
  const queueId = (request.query as { queue_id?: string }).queue_id ?? ''
  reply.type('application/json; charset=utf-8')
  return new Promise<string>((resolve) => { held.push({ queueId, answer: resolve }) })
})
// Registering and deleting queues answer what Parley's do, with nothing behind them: the
// bench sends the baseline the same requests as Parley, so both answer paths are as warm.
app.post('/api/v1/register', async () => ({ result: 'success', msg: '', data: { queue_id: '0'.repeat(24), last_event_id: -1 } }))
app.delete('/api/v1/events', async () => ({ result: 'success', msg: '', data: {} }))
app.post('/api/v1/messages', async () => {
  for (const h of held.splice(0)) h.answer(`{"result":"success","msg":"","data":{"queue_id":${JSON.stringify(h.queueId)},"events":[${event}]}}`)
  return { result: 'success', msg: '', data: { id: 1 } }
})
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening ${url}\n`)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
