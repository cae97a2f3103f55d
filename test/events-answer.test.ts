// How GET /events is answered: the envelope, JSON headers, limit headers, ignored parameters, HEAD, and one access line.
import t from 'tap'
import { body, build } from './helper.js'

interface LogLine { msg: string, method?: string, statusCode?: number, url?: string }

const written: string[] = []
const stream = { write (s: string): void { written.push(s) } }
const { app, owner } = await build(t, {}, { level: 'info', stream })

async function accessLines (): Promise<LogLine[]> {
  // onResponse runs on 'finish', which may come just after inject resolves.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  return written.map((s) => JSON.parse(s) as LogLine).filter((l) => l.url === '/api/v1/events')
}

async function register (): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/register', headers: { authorization: owner.auth }, payload: { event_types: ['realm_user'] } })
  return body(res).data.queue_id
}

t.test('a held GET /events answered by an event has the envelope, JSON headers, limit headers and one access line', async (t) => {
  const queueId = await register()
  const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: owner.auth } })
  written.length = 0
  const held = app.inject({ method: 'GET', url: `/api/v1/events?queue_id=${queueId}&last_event_id=-1`, headers: { authorization: owner.auth } })
  await new Promise((resolve) => setImmediate(resolve))
  app.bus.publish({ type: 'realm_user', op: 'update', person: { user_id: owner.id, full_name: 'Renamed' } }, { kind: 'all' })
  const res = await held
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(Number(res.headers['content-length']), Buffer.byteLength(res.payload))
  // Whatever the limiter and other hooks set on the reply is sent too.
  for (const name of Object.keys(me.headers).filter((h) => h.startsWith('x-ratelimit-'))) t.ok(name in res.headers, name)
  t.same(body(res), {
    result: 'success',
    msg: '',
    data: { queue_id: queueId, events: [{ id: 0, type: 'realm_user', op: 'update', person: { user_id: owner.id, full_name: 'Renamed' } }] }
  })
  const lines = await accessLines()
  t.equal(lines.length, 1)
  t.match(lines[0]?.msg, new RegExp(`^GET 200 \\d+ms /api/v1/events \\(${owner.id} via `))
})

t.test('GET /events with an unknown parameter still lists it in ignored_parameters_unsupported', async (t) => {
  const queueId = await register()
  const res = await app.inject({ method: 'GET', url: `/api/v1/events?queue_id=${queueId}&dont_block=true&colour=red`, headers: { authorization: owner.auth } })
  t.equal(res.statusCode, 200)
  t.same(body(res).data, { queue_id: queueId, events: [], ignored_parameters_unsupported: ['colour'] })
})

t.test('HEAD /events answers the headers of GET without a body', async (t) => {
  const queueId = await register()
  const res = await app.inject({ method: 'HEAD', url: `/api/v1/events?queue_id=${queueId}&dont_block=true`, headers: { authorization: owner.auth } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(res.payload, '')
})
