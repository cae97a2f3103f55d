// Long-polling over a real listening server: held polls, supersession, disconnects, fan-out, visibility, restarts.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import parley, { serverOptions } from '../app.js'
import { loadConfig } from '../plugins/app/config.js'
import { now, type User } from '../plugins/app/stores/users.js'
import { generateApiKey } from '../plugins/app/http/credentials.js'
import { basic, build, type TestUser } from './helper.js'

interface Answer { status: number, body: any }

function request (port: number, agent: http.Agent, method: string, path: string, auth: string, payload?: Record<string, unknown>): { done: Promise<Answer>, req: http.ClientRequest } {
  const data = payload === undefined ? undefined : JSON.stringify(payload)
  let req!: http.ClientRequest
  const done = new Promise<Answer>((resolve, reject) => {
    req = http.request({
      host: '127.0.0.1',
      port,
      method,
      path: `/api/v1${path}`,
      agent,
      headers: { authorization: auth, ...(data === undefined ? {} : { 'content-type': 'application/json' }) }
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(data)
  })
  return { done, req }
}

async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as AddressInfo).port
}

/** Users straight into the table: the store hashes passwords with scrypt, far too slow for hundreds. */
async function insertUsers (app: FastifyInstance, n: number, prefix: string): Promise<TestUser[]> {
  const rows = Array.from({ length: n }, (_, i) => {
    const email = `${prefix}${i}@example.com`
    return { email, email_key: email, full_name: `${prefix} ${i}`, role: 'member' as const, is_bot: 0, bot_type: null, bot_owner_id: null, is_active: 1, date_joined: now(), api_key: generateApiKey(), password_hash: null }
  })
  const inserted = await app.db.insertInto('users').values(rows).returning(['id', 'email', 'api_key']).execute()
  return inserted.map((r) => ({ id: r.id, email: r.email, apiKey: r.api_key, auth: basic(r.email, r.api_key) }))
}

async function asUser (app: FastifyInstance, u: TestUser): Promise<User> {
  return await app.users.get(u.id) as User
}

async function register (port: number, agent: http.Agent, who: TestUser, params: Record<string, unknown> = { event_types: ['message'] }): Promise<string> {
  const res = await request(port, agent, 'POST', '/register', who.auth, params).done
  if (res.status !== 200) throw new Error(`register: ${JSON.stringify(res.body)}`)
  return res.body.data.queue_id
}

/** Resolves once `check` holds, looking every few milliseconds (state changes that have no event of their own). */
async function until (check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
}

async function sendStream (app: FastifyInstance, sender: TestUser, stream: string, content: string): Promise<number> {
  const m = await app.messages.doSendMessage(await asUser(app, sender), { type: 'stream', to: stream, topic: 'hello', content, client: 'test' })
  return m.id
}

t.test('a held poll is answered at once by a message event; a third user never receives a direct message between two others', async (t) => {
  const { app, owner, createUser } = await build(t)
  const port = await listen(app)
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => { agent.destroy() })
  const ann = await createUser('ann@example.com')
  const eve = await createUser('eve@example.com')
  const qOwner = await register(port, agent, owner)
  const qEve = await register(port, agent, eve)
  const held = request(port, agent, 'GET', `/events?queue_id=${qOwner}&last_event_id=-1`, owner.auth).done
  const heldEve = request(port, agent, 'GET', `/events?queue_id=${qEve}&last_event_id=-1`, eve.auth).done
  await until(() => app.events.queue(qOwner)?.waiter !== undefined && app.events.queue(qEve)?.waiter !== undefined)

  const m = await app.messages.doSendMessage(await asUser(app, ann), { type: 'direct', to: [owner.id], content: 'psst', client: 'test' })
  const res = await held
  t.equal(res.status, 200)
  t.match(res.body.data, { queue_id: qOwner, events: [{ id: 0, type: 'message', flags: [], message: { id: m.id, type: 'direct', content_markdown: 'psst', sender_id: ann.id } }] })
  t.equal(res.body.data.events.length, 1)

  t.ok(app.events.queue(qEve)?.waiter, 'the third user\'s poll is still held')
  t.same(app.events.queue(qEve)?.pending, [], 'and nothing was queued for them')
  await request(port, agent, 'DELETE', `/events?queue_id=${qEve}`, eve.auth).done
  t.same((await heldEve).body.data.events, [], 'deleting the queue answers its held poll')
})

t.test('a newer GET on the same queue answers the older one with no events', async (t) => {
  const { app, owner, createUser } = await build(t)
  const port = await listen(app)
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => { agent.destroy() })
  const q = await register(port, agent, owner, { event_types: ['realm_user'] })
  const first = request(port, agent, 'GET', `/events?queue_id=${q}&last_event_id=-1`, owner.auth).done
  await until(() => app.events.queue(q)?.waiter !== undefined)
  const second = request(port, agent, 'GET', `/events?queue_id=${q}&last_event_id=-1`, owner.auth).done
  const older = await first
  t.equal(older.status, 200)
  t.same(older.body, { result: 'success', msg: '', data: { events: [], queue_id: q } })
  await until(() => app.events.queue(q)?.waiter !== undefined)
  await createUser('ann@example.com')
  t.match((await second).body.data.events, [{ id: 0, type: 'realm_user', op: 'add' }], 'the newer one holds and gets the event')
})

t.test('a client that aborts its poll releases the hold; the queue stays usable', async (t) => {
  const logged: string[] = []
  const { app, owner, createUser } = await build(t, {}, { level: 'warn', stream: { write: (line: string) => { logged.push(line) } } })
  const port = await listen(app)
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => { agent.destroy() })
  const q = await register(port, agent, owner, { event_types: ['realm_user'] })
  const { done, req } = request(port, agent, 'GET', `/events?queue_id=${q}`, owner.auth)
  done.catch(() => {})
  await until(() => app.events.queue(q)?.waiter !== undefined)
  t.ok(app.events.queue(q)?.waiter, 'held')
  req.destroy()
  await until(() => app.events.queue(q)?.waiter === undefined)
  t.equal(app.events.queue(q)?.waiter, undefined, 'the waiter is gone')
  await createUser('ann@example.com')
  const res = await request(port, agent, 'GET', `/events?queue_id=${q}&dont_block=true`, owner.auth).done
  t.match(res.body.data.events, [{ id: 0, type: 'realm_user', op: 'add' }], 'events after the disconnect are kept for the next poll')
  t.same(logged, [], 'the released poll logs no error')
})

t.test('200 concurrent long-polls on one stream are all answered by one message', async (t) => {
  const { app, owner } = await build(t)
  const port = await listen(app)
  const N = 200
  const agent = new http.Agent({ keepAlive: true, maxSockets: N + 10 })
  t.teardown(() => { agent.destroy() })
  const users = await insertUsers(app, N, 'fan')
  const stream = await app.streams.doCreateStream(await asUser(app, owner), { name: 'crowd', description: '', invite_only: false })
  await app.db.insertInto('subscriptions').values(users.map((u) => ({ user_id: u.id, stream_id: stream.stream_id, date_subscribed: now() }))).execute()

  const queues = await Promise.all(users.map(async (u) => await register(port, agent, u)))
  const polls = users.map((u, i) => request(port, agent, 'GET', `/events?queue_id=${queues[i] as string}&last_event_id=-1`, u.auth).done)
  await until(() => queues.every((q) => app.events.queue(q)?.waiter !== undefined))
  t.ok(queues.every((q) => app.events.queue(q)?.waiter !== undefined), 'every poll is held')

  const id = await sendStream(app, owner, 'crowd', 'hello everyone')
  const answers = await Promise.all(polls)
  t.equal(answers.filter((a) => a.status === 200).length, N)
  t.equal(answers.filter((a) => a.body.data.events.length === 1 && a.body.data.events[0].message.id === id && a.body.data.events[0].id === 0).length, N,
    'each poll got exactly the message as its event 0')
})

t.test('a restart answers the held poll, saves the queues, and each continues with a restart event', async (t) => {
  const { app, owner, dataDir, env } = await build(t)
  const port = await listen(app)
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => { agent.destroy() })
  const held = await register(port, agent, owner, { event_types: ['message'] })
  const away = await register(port, agent, owner, { event_types: ['message'] })
  const poll = request(port, agent, 'GET', `/events?queue_id=${held}&last_event_id=-1`, owner.auth).done
  await until(() => app.events.queue(held)?.waiter !== undefined)
  // Sent while the client of `away` is not polling: it must survive the restart.
  app.bus.publish({ type: 'message', message: { id: 41, sender_id: 999, type: 'stream', display_recipient: 'x', topic: 't' } }, { kind: 'users', userIds: [owner.id] })
  const first = await poll
  t.match(first.body.data.events, [{ id: 0, type: 'message', message: { id: 41 } }])
  const last = request(port, agent, 'GET', `/events?queue_id=${held}&last_event_id=0`, owner.auth).done
  await until(() => app.events.queue(held)?.waiter !== undefined)

  await app.close()
  const answered = await last
  t.equal(answered.status, 200, 'the held poll is answered on close')
  t.same(answered.body.data, { events: [], queue_id: held })

  const again = Fastify(serverOptions(false))
  await again.register(fp(parley), { config: loadConfig({ PARLEY_DATA_DIR: dataDir, PARLEY_RATE_LIMIT: 'off', ...env }) })
  await again.ready()
  const get = async (q: string, lastEventId: number): Promise<any[]> => {
    const res = await again.inject({ method: 'GET', url: `/api/v1/events?queue_id=${q}&last_event_id=${lastEventId}&dont_block=true`, headers: { authorization: owner.auth } })
    t.equal(res.statusCode, 200)
    return JSON.parse(res.payload).data.events
  }
  const resumed = await get(held, 0)
  t.match(resumed, [{ id: 1, type: 'restart' }], 'the same queue id and last_event_id continue with a restart event')
  t.type(resumed[0]?.server_generation, 'number')
  t.match(await get(away, -1), [{ id: 0, type: 'message', message: { id: 41 } }, { id: 1, type: 'restart' }], 'unacknowledged events are kept')
  await again.close()
})

t.test('closing the server answers a held poll before the connection is cut', async (t) => {
  const { app, owner } = await build(t)
  const port = await listen(app)
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => { agent.destroy() })
  const q = await register(port, agent, owner, { event_types: ['message'] })
  const held = request(port, agent, 'GET', `/events?queue_id=${q}&last_event_id=-1`, owner.auth).done
  await until(() => app.events.queue(q)?.waiter !== undefined)
  await app.close()
  const res = await held
  t.equal(res.status, 200)
  t.same(res.body.data, { events: [], queue_id: q })
})
