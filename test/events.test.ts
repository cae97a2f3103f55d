// POST /register, GET /events and DELETE /events through inject: state, acknowledgement, filters, errors, heartbeat, expiry.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { body, build, type TestUser } from './helper.js'

async function call (app: FastifyInstance, who: TestUser, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: Record<string, unknown>): Promise<{ status: number, body: any, headers: Record<string, unknown> }> {
  const res = await app.inject({ method, url: `/api/v1${url}`, headers: { authorization: who.auth }, ...(payload === undefined ? {} : { payload }) })
  return { status: res.statusCode, body: body(res), headers: res.headers }
}

async function registerQueue (app: FastifyInstance, who: TestUser, params: Record<string, unknown> = {}): Promise<string> {
  const res = await call(app, who, 'POST', '/register', params)
  if (res.status !== 200) throw new Error(`register failed: ${JSON.stringify(res.body)}`)
  return res.body.data.queue_id
}

async function pending (app: FastifyInstance, who: TestUser, queueId: string, lastEventId = -1): Promise<any[]> {
  const res = await call(app, who, 'GET', `/events?queue_id=${queueId}&last_event_id=${lastEventId}&dont_block=true`)
  if (res.status !== 200) throw new Error(`GET /events failed: ${JSON.stringify(res.body)}`)
  return res.body.data.events
}

function fakeMessage (id: number, senderId: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, sender_id: senderId, sender_email: 'x@example.com', type: 'stream', stream_id: 7, display_recipient: 'general', topic: 'lunch', content: '<p>hi</p>', content_markdown: 'hi', ...extra }
}

t.test('POST /register answers a queue id, last_event_id -1 and the state of the requested types only', async (t) => {
  const { app, owner } = await build(t)
  const res = await call(app, owner, 'POST', '/register', { event_types: ['realm_user'] })
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], 'application/json; charset=utf-8')
  const data = res.body.data
  t.match(data.queue_id, /^[A-Za-z0-9_-]{24}$/)
  t.equal(data.last_event_id, -1)
  t.same(data.realm_users.map((u: any) => u.email), ['owner@example.com'])
  t.notOk('subscriptions' in data)
  t.notOk('max_message_id' in data)
  const other = await call(app, owner, 'POST', '/register', { event_types: ['realm_user'] })
  t.not(other.body.data.queue_id, data.queue_id, 'every queue gets its own id')
})

t.test('GET /events with dont_block returns pending events with increasing ids; last_event_id acknowledges them', async (t) => {
  const { app, owner, createUser } = await build(t)
  const q = await registerQueue(app, owner, { event_types: ['realm_user'] })
  t.same(await pending(app, owner, q), [], 'nothing pending yet')
  await createUser('ann@example.com')
  await createUser('bob@example.com')
  const events = await pending(app, owner, q)
  t.match(events, [
    { id: 0, type: 'realm_user', op: 'add', person: { email: 'ann@example.com' } },
    { id: 1, type: 'realm_user', op: 'add', person: { email: 'bob@example.com' } }
  ])
  const res = await call(app, owner, 'GET', `/events?queue_id=${q}&last_event_id=0&dont_block=true`)
  t.same(res.body, { result: 'success', msg: '', data: { queue_id: q, events: [events[1]] } }, 'id 0 is acknowledged and dropped')
  t.same(await pending(app, owner, q, 1), [], 'both acknowledged')
})

t.test('unknown, deleted and other users\' queues answer 400 BAD_EVENT_QUEUE_ID with queue_id', async (t) => {
  const { app, owner, createUser } = await build(t)
  const ann = await createUser('ann@example.com')
  const q = await registerQueue(app, owner)

  const unknown = await call(app, owner, 'GET', '/events?queue_id=nope&dont_block=true')
  t.equal(unknown.status, 400)
  t.same(unknown.body, { result: 'error', msg: 'Bad event queue ID: nope', code: 'BAD_EVENT_QUEUE_ID', queue_id: 'nope' })

  const foreign = await call(app, ann, 'GET', `/events?queue_id=${q}&dont_block=true`)
  t.equal(foreign.status, 400)
  t.same(foreign.body, { result: 'error', msg: `Bad event queue ID: ${q}`, code: 'BAD_EVENT_QUEUE_ID', queue_id: q })
  const foreignDelete = await call(app, ann, 'DELETE', `/events?queue_id=${q}`)
  t.equal(foreignDelete.body.code, 'BAD_EVENT_QUEUE_ID', 'another user cannot delete it either')

  const del = await call(app, owner, 'DELETE', '/events', { queue_id: q })
  t.equal(del.status, 200)
  t.same(del.body, { result: 'success', msg: '', data: {} })
  const after = await call(app, owner, 'GET', `/events?queue_id=${q}&dont_block=true`)
  t.equal(after.status, 400)
  t.equal(after.body.code, 'BAD_EVENT_QUEUE_ID')
  const again = await call(app, owner, 'DELETE', '/events', { queue_id: q })
  t.equal(again.status, 400)
  t.equal(again.body.code, 'BAD_EVENT_QUEUE_ID')

  const missing = await call(app, owner, 'GET', '/events')
  t.equal(missing.status, 400)
  t.equal(missing.body.code, 'REQUEST_VARIABLE_MISSING')
  t.equal(missing.body.var_name, 'queue_id')
})

t.test('event_types: a queue receives only the types it asked for', async (t) => {
  const { app, owner, createUser } = await build(t)
  const onlyPresence = await registerQueue(app, owner, { event_types: ['presence'] })
  const everything = await registerQueue(app, owner)
  await createUser('ann@example.com')
  app.bus.publish({ type: 'presence', user_id: 1, presence: { status: 'active', timestamp: 1 } }, { kind: 'all' })
  t.match(await pending(app, owner, onlyPresence), [{ id: 0, type: 'presence', user_id: 1 }])
  t.equal((await pending(app, owner, onlyPresence)).length, 1, 'the realm_user event was not queued')
  t.match(await pending(app, owner, everything), [{ id: 0, type: 'realm_user' }, { id: 1, type: 'presence' }])
})

t.test('audience: only queues of users in the audience receive an event; the sender gets the read flag', async (t) => {
  const { app, owner, createUser } = await build(t)
  const ann = await createUser('ann@example.com')
  const bob = await createUser('bob@example.com')
  const qOwner = await registerQueue(app, owner, { event_types: ['message'] })
  const qAnn = await registerQueue(app, ann, { event_types: ['message'] })
  const qBob = await registerQueue(app, bob, { event_types: ['message'] })
  const message = fakeMessage(5, ann.id, { type: 'direct', display_recipient: [{ id: ann.id, email: ann.email }, { id: owner.id, email: owner.email }] })
  app.bus.publish({ type: 'message', message }, { kind: 'users', userIds: [ann.id, owner.id] })
  t.same(await pending(app, ann, qAnn), [{ id: 0, type: 'message', message, flags: ['read'] }])
  t.same(await pending(app, owner, qOwner), [{ id: 0, type: 'message', message, flags: [] }])
  t.same(await pending(app, bob, qBob), [], 'a third user receives nothing')
})

t.test('narrow: a narrowed queue receives only the message events that match it', async (t) => {
  const { app, owner } = await build(t)
  const qTopic = await registerQueue(app, owner, { narrow: JSON.stringify([{ operator: 'stream', operand: 'General' }, ['topic', 'LUNCH']]) })
  const qSearch = await registerQueue(app, owner, { narrow: [{ operator: 'search', operand: 'pizza' }] })
  const qNot = await registerQueue(app, owner, { narrow: [{ operator: 'sender', operand: 99, negated: true }] })
  app.bus.publish({ type: 'message', message: fakeMessage(1, 99) }, { kind: 'all' })
  app.bus.publish({ type: 'message', message: fakeMessage(2, 98, { topic: 'dinner', content_markdown: 'Pizza tonight' }) }, { kind: 'all' })
  app.bus.publish({ type: 'presence', user_id: 1 }, { kind: 'all' })
  t.match((await pending(app, owner, qTopic)).map((e) => e.message?.id ?? e.type), [1, 'presence'], 'narrow filters message events only')
  t.match((await pending(app, owner, qSearch)).map((e) => e.message?.id ?? e.type), [2, 'presence'])
  t.match((await pending(app, owner, qNot)).map((e) => e.message?.id ?? e.type), [2, 'presence'])

  const bad = await call(app, owner, 'POST', '/register', { narrow: [{ operator: 'color', operand: 'red' }] })
  t.equal(bad.status, 400)
  t.equal(bad.body.code, 'REQUEST_VARIABLE_INVALID')
  t.equal(bad.body.var_name, 'narrow')

  // Found by test/fuzz.test.ts: an element with no operator at all was a 500.
  const none = await call(app, owner, 'POST', '/register', { narrow: '[{}]' })
  t.equal(none.status, 400)
  t.equal(none.body.code, 'REQUEST_VARIABLE_INVALID')
  t.equal(none.body.var_name, 'narrow')
  t.match(none.body.msg, /undefined/)
})

t.test('a held GET with nothing pending is answered by a heartbeat after PARLEY_HEARTBEAT_SECONDS', async (t) => {
  const { app, owner } = await build(t, { PARLEY_HEARTBEAT_SECONDS: '1' })
  const q = await registerQueue(app, owner, { event_types: ['message'] })
  const res = await call(app, owner, 'GET', `/events?queue_id=${q}&last_event_id=-1`)
  t.equal(res.status, 200)
  t.same(res.body.data, { events: [{ id: 0, type: 'heartbeat' }], queue_id: q })
  t.same(await pending(app, owner, q, 0), [], 'the heartbeat is acknowledged like any event')
})

t.test('a held GET is answered by the next event for its queue', async (t) => {
  const { app, owner, createUser } = await build(t)
  const q = await registerQueue(app, owner, { event_types: ['realm_user'] })
  const held = call(app, owner, 'GET', `/events?queue_id=${q}`)
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(app.events.queue(q)?.waiter, 'the poll is held')
  await createUser('ann@example.com')
  const res = await held
  t.match(res.body.data.events, [{ id: 0, type: 'realm_user', op: 'add' }])
})

t.test('a queue idle for PARLEY_QUEUE_TIMEOUT_SECONDS is dropped by the sweep', async (t) => {
  const { app, owner } = await build(t, { PARLEY_QUEUE_TIMEOUT_SECONDS: '1' })
  const q = await registerQueue(app, owner)
  const kept = await registerQueue(app, owner, { queue_lifespan_secs: 60 })
  await new Promise((resolve) => setTimeout(resolve, 1600))
  const res = await call(app, owner, 'GET', `/events?queue_id=${q}&dont_block=true`)
  t.equal(res.status, 400)
  t.same(res.body, { result: 'error', msg: `Bad event queue ID: ${q}`, code: 'BAD_EVENT_QUEUE_ID', queue_id: q })
  t.equal((await call(app, owner, 'GET', `/events?queue_id=${kept}&dont_block=true`)).status, 200, 'its own lifespan keeps a queue longer')
})

t.test('POST /register returns subscriptions, streams, presences and max_message_id; real actions feed the queue', async (t) => {
  const { app, owner, createUser } = await build(t)
  const ann = await createUser('ann@example.com')
  const created = await call(app, owner, 'PUT', '/streams', { name: 'general', description: 'all', invite_only: false })
  t.equal(created.status, 200)
  const streamId = created.body.data.stream_id
  const secret = await call(app, owner, 'PUT', '/streams', { name: 'secret', description: '', invite_only: true })
  t.equal(secret.status, 200)
  await call(app, owner, 'POST', '/users/me/presence', { status: 'active' })
  const sent = await call(app, owner, 'POST', '/messages', { type: 'stream', to: 'general', topic: 'hi', content: 'first' })
  t.equal(sent.status, 200)

  const reg = await call(app, ann, 'POST', '/register', {})
  t.equal(reg.status, 200)
  const data = reg.body.data
  t.same(data.subscriptions, [], 'ann is subscribed to nothing yet')
  t.same(data.streams.map((s: any) => s.name), ['general'], 'the private stream is not listed for ann')
  t.match(data.presences, { [String(owner.id)]: { status: 'active' } })
  t.equal(data.max_message_id, sent.body.data.id)
  t.same(data.realm_users.map((u: any) => u.email).sort(), ['ann@example.com', 'owner@example.com'])
  const q = data.queue_id

  t.equal((await call(app, ann, 'PUT', `/users/me/subscriptions/${streamId as number}`)).status, 200)
  const dm = await call(app, owner, 'POST', '/messages', { type: 'direct', to: JSON.stringify([ann.id]), content: 'hello **ann**' })
  t.equal(dm.status, 200)
  const inStream = await call(app, owner, 'POST', '/messages', { type: 'stream', to: String(streamId), topic: 'hi', content: 'second' })
  const events = await pending(app, ann, q)
  t.match(events.map((e) => e.type), ['subscription', 'message', 'message'])
  t.match(events[0], { id: 0, op: 'add', subscriptions: [{ name: 'general' }] })
  t.match(events[1], { id: 1, flags: [], message: { id: dm.body.data.id, type: 'direct', content: '<p>hello <strong>ann</strong></p>' } })
  t.match(events[2], { id: 2, flags: [], message: { id: inStream.body.data.id, stream_id: streamId } })
})
