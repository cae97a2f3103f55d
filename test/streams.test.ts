import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { Published } from '../plugins/app/events/bus.js'
import { body, build, type TestUser } from './helper.js'

function call (app: FastifyInstance, who: TestUser, method: 'GET' | 'PUT' | 'PATCH' | 'DELETE' | 'POST', url: string, form?: Record<string, string>) {
  return app.inject({
    method,
    url: `/api/v1${url}`,
    headers: { authorization: who.auth, ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
    ...(form === undefined ? {} : { payload: new URLSearchParams(form).toString() })
  })
}

function record (app: FastifyInstance): Published[] {
  const seen: Published[] = []
  app.bus.subscribe((p) => { seen.push(p) })
  return seen
}

t.test('PUT /streams creates a public stream, subscribes the creator and tells everyone', async (t) => {
  const { app, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const events = record(app)
  const res = await call(app, alice, 'PUT', '/streams', { name: 'General', description: 'Talk' })
  t.equal(res.statusCode, 200)
  const id = body(res).data.stream_id
  t.type(id, 'number')
  t.match(events, [
    { event: { type: 'stream', op: 'create', streams: [{ stream_id: id, name: 'General', description: 'Talk', invite_only: false }] }, audience: { kind: 'all' } },
    { event: { type: 'subscription', op: 'add', subscriptions: [{ stream_id: id }] }, audience: { kind: 'users', userIds: [alice.id] } }
  ])
  t.equal(events.length, 2)

  const list = body(await call(app, alice, 'GET', '/streams')).data.streams
  t.same(list.map((s: any) => s.name), ['General'])
  t.same(Object.keys(list[0]).sort(), ['date_created', 'description', 'invite_only', 'name', 'stream_id'])
  const subs = body(await call(app, alice, 'GET', '/users/me/subscriptions')).data.subscriptions
  t.same(subs.map((s: any) => s.stream_id), [id])
  const one = await call(app, alice, 'GET', `/streams/${id}`)
  t.equal(one.statusCode, 200)
  t.equal(body(one).data.stream.name, 'General')
})

t.test('PUT /streams with a name taken in another letter case answers 409 ALREADY_EXISTS and changes nothing', async (t) => {
  const { app, owner } = await build(t)
  t.equal((await call(app, owner, 'PUT', '/streams', { name: 'Design' })).statusCode, 200)
  const events = record(app)
  const res = await call(app, owner, 'PUT', '/streams', { name: ' design ', description: 'other' })
  t.equal(res.statusCode, 409)
  t.match(body(res), { result: 'error', code: 'ALREADY_EXISTS' })
  t.same(events, [])
  const list = body(await call(app, owner, 'GET', '/streams')).data.streams
  t.same(list.map((s: any) => [s.name, s.description]), [['Design', '']])

  const blank = await call(app, owner, 'PUT', '/streams', { name: '   ' })
  t.match(body(blank), { code: 'REQUEST_VARIABLE_INVALID', var_name: 'name' })
  const long = await call(app, owner, 'PUT', '/streams', { name: 'x'.repeat(61) })
  t.match(body(long), { code: 'REQUEST_VARIABLE_INVALID', var_name: 'name' })
})

t.test('a private stream is invisible to non-subscribers: 404 everywhere, never 403', async (t) => {
  const { app, owner, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const bob = await createUser('bob@example.com')
  const eve = await createUser('eve@example.com')
  const guest = await createUser('guest@example.com', 'guest')
  const events = record(app)
  const res = await call(app, alice, 'PUT', '/streams', { name: 'secret', invite_only: 'true', principals: JSON.stringify([bob.email]) })
  t.equal(res.statusCode, 200)
  const id = body(res).data.stream_id
  t.match(events[0], { event: { type: 'stream', op: 'create', streams: [{ invite_only: true }] }, audience: { kind: 'users', userIds: [alice.id, bob.id] } })
  t.same(events.slice(1).map((e) => e.audience), [{ kind: 'users', userIds: [alice.id] }, { kind: 'users', userIds: [bob.id] }])
  const pub = body(await call(app, owner, 'PUT', '/streams', { name: 'public' })).data.stream_id

  t.same(body(await call(app, bob, 'GET', '/streams')).data.streams.map((s: any) => s.stream_id), [id, pub])
  for (const who of [eve, guest, owner]) {
    t.same(body(await call(app, who, 'GET', '/streams')).data.streams.map((s: any) => s.stream_id), [pub], `${who.email} lists only the public stream`)
    for (const [method, url] of [['GET', `/streams/${id}`], ['PATCH', `/streams/${id}`], ['DELETE', `/streams/${id}`], ['PUT', `/users/me/subscriptions/${id}`], ['DELETE', `/users/me/subscriptions/${id}`]] as const) {
      const r = await call(app, who, method, url, method === 'PATCH' ? { description: 'x' } : undefined)
      t.equal(r.statusCode, 404, `${who.email} ${method} ${url}`)
      t.equal(body(r).code, 'NOT_FOUND')
    }
  }
  t.equal((await call(app, guest, 'GET', `/streams/${pub}`)).statusCode, 200, 'a guest sees public streams')
  const unknown = await call(app, alice, 'GET', '/streams/9999')
  t.equal(unknown.statusCode, 404)

  const badPrincipal = await call(app, alice, 'PUT', '/streams', { name: 'other', principals: '["nobody@example.com"]' })
  t.match(body(badPrincipal), { code: 'REQUEST_VARIABLE_INVALID', var_name: 'principals' })
})

t.test('PATCH /streams/{id}: admins only, idempotent, a rename publishes the old name', async (t) => {
  const { app, owner, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const id = body(await call(app, alice, 'PUT', '/streams', { name: 'general' })).data.stream_id
  await call(app, alice, 'PUT', '/streams', { name: 'random' })

  const denied = await call(app, alice, 'PATCH', `/streams/${id}`, { new_name: 'lobby' })
  t.equal(denied.statusCode, 403)
  t.match(body(denied), { code: 'UNAUTHORIZED_PRINCIPAL', msg: 'Must be an organization administrator' })

  const events = record(app)
  for (let i = 0; i < 2; i++) {
    const res = await call(app, owner, 'PATCH', `/streams/${id}`, { new_name: 'Lobby', description: 'Come in' })
    t.equal(res.statusCode, 200)
    t.same(body(res), { result: 'success', msg: '', data: {} })
  }
  t.same(events.map((e) => e.event), [
    { type: 'stream', op: 'update', stream_id: id, property: 'name', value: 'Lobby', name: 'general' },
    { type: 'stream', op: 'update', stream_id: id, property: 'description', value: 'Come in', name: 'general' }
  ], 'the second, identical edit publishes nothing')
  t.same(events.map((e) => e.audience), [{ kind: 'all' }, { kind: 'all' }])
  t.match(body(await call(app, alice, 'GET', `/streams/${id}`)).data.stream, { name: 'Lobby', description: 'Come in' })

  const clash = await call(app, owner, 'PATCH', `/streams/${id}`, { new_name: 'RANDOM' })
  t.equal(clash.statusCode, 409)
  t.equal(body(clash).code, 'ALREADY_EXISTS')
  t.equal((await call(app, owner, 'PATCH', `/streams/${id}`, { new_name: 'LOBBY' })).statusCode, 200, 'a change of case of its own name is allowed')
})

t.test('DELETE /streams/{id} archives: gone from lists and lookups, a second DELETE is 409 NO_CHANGE', async (t) => {
  const { app, owner, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const id = body(await call(app, alice, 'PUT', '/streams', { name: 'old' })).data.stream_id

  t.equal((await call(app, alice, 'DELETE', `/streams/${id}`)).statusCode, 403)
  const events = record(app)
  const res = await call(app, owner, 'DELETE', `/streams/${id}`)
  t.equal(res.statusCode, 200)
  t.match(events, [{ event: { type: 'stream', op: 'delete', streams: [{ stream_id: id, name: 'old' }] }, audience: { kind: 'all' } }])

  const again = await call(app, owner, 'DELETE', `/streams/${id}`)
  t.equal(again.statusCode, 409)
  t.equal(body(again).code, 'NO_CHANGE')
  t.equal((await call(app, alice, 'GET', `/streams/${id}`)).statusCode, 404)
  t.same(body(await call(app, alice, 'GET', '/streams')).data.streams, [])
  t.same(body(await call(app, alice, 'GET', '/users/me/subscriptions')).data.subscriptions, [])
  t.equal((await call(app, alice, 'PUT', `/users/me/subscriptions/${id}`)).statusCode, 404)
  t.equal((await call(app, alice, 'PUT', '/streams', { name: 'old' })).statusCode, 200, 'the name is free again')
})

t.test('PUT and DELETE /users/me/subscriptions/{id}: 409 on repeat, events to the user only', async (t) => {
  const { app, owner, createUser } = await build(t)
  const bob = await createUser('bob@example.com')
  const id = body(await call(app, owner, 'PUT', '/streams', { name: 'general' })).data.stream_id
  const events = record(app)

  const sub = await call(app, bob, 'PUT', `/users/me/subscriptions/${id}`)
  t.equal(sub.statusCode, 200)
  t.equal(body(sub).data.stream.stream_id, id)
  const twice = await call(app, bob, 'PUT', `/users/me/subscriptions/${id}`)
  t.equal(twice.statusCode, 409)
  t.equal(body(twice).code, 'ALREADY_EXISTS')
  t.same(body(await call(app, bob, 'GET', '/users/me/subscriptions')).data.subscriptions.map((s: any) => s.stream_id), [id])

  t.equal((await call(app, bob, 'DELETE', `/users/me/subscriptions/${id}`)).statusCode, 200)
  const gone = await call(app, bob, 'DELETE', `/users/me/subscriptions/${id}`)
  t.equal(gone.statusCode, 409)
  t.equal(body(gone).code, 'NO_CHANGE')
  t.same(body(await call(app, bob, 'GET', '/users/me/subscriptions')).data.subscriptions, [])
  t.same(events.map((e) => [e.event.type, e.event.op, e.audience]), [
    ['subscription', 'add', { kind: 'users', userIds: [bob.id] }],
    ['subscription', 'remove', { kind: 'users', userIds: [bob.id] }]
  ])
  t.same(await app.streams.subscriptionsOf(bob.id), [])
  const invalid = await call(app, bob, 'PUT', '/users/me/subscriptions/abc')
  t.match(body(invalid), { code: 'REQUEST_VARIABLE_INVALID', var_name: 'stream_id' })
})

/** Registers a message queue for a user; `received` lists the message ids it holds, read from the queue itself (works after deactivation too, in memory or in Redis). */
async function messageQueue (app: FastifyInstance, who: TestUser): Promise<{ id: string, received: () => Promise<number[]> }> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/register', headers: { authorization: who.auth }, payload: { event_types: ['message'] } })
  const id: string = body(res).data.queue_id
  return { id, received: async () => (await app.events.pendingJson(id)).map((json) => JSON.parse(json).message.id) }
}

async function sendTo (app: FastifyInstance, who: TestUser, stream: string): Promise<number> {
  const res = await call(app, who, 'POST', '/messages', { type: 'stream', to: stream, topic: 't', content: 'hi' })
  if (res.statusCode !== 200) throw new Error(res.payload)
  return body(res).data.id
}

t.test('the next message after a subscribe or an unsubscribe reaches exactly the new subscribers', async (t) => {
  const { app, owner, createUser } = await build(t)
  const ann = await createUser('ann@example.com')
  const id = body(await call(app, owner, 'PUT', '/streams', { name: 'general' })).data.stream_id
  const q = await messageQueue(app, ann)
  await sendTo(app, owner, 'general')
  t.same(await q.received(), [], 'not subscribed yet')
  t.equal((await call(app, ann, 'PUT', `/users/me/subscriptions/${id}`)).statusCode, 200)
  const m2 = await sendTo(app, owner, 'general')
  t.same(await q.received(), [m2], 'subscribed: receives the next message')
  t.equal((await call(app, ann, 'DELETE', `/users/me/subscriptions/${id}`)).statusCode, 200)
  await sendTo(app, owner, 'general')
  t.same(await q.received(), [m2], 'unsubscribed: the next message does not arrive')
})

t.test('a deactivated subscriber of a private stream created with principals stops receiving its messages', async (t) => {
  const { app, owner, createUser } = await build(t)
  const ann = await createUser('ann@example.com')
  const res = await call(app, owner, 'PUT', '/streams', { name: 'secret', invite_only: 'true', principals: JSON.stringify([ann.id]) })
  t.equal(res.statusCode, 200)
  const q = await messageQueue(app, ann)
  const m1 = await sendTo(app, owner, 'secret')
  t.same(await q.received(), [m1], 'a principal receives the stream\'s messages')
  t.equal((await call(app, owner, 'DELETE', `/users/${ann.id}`)).statusCode, 200)
  t.same(await q.received(), [m1], 'the queue outlives the deactivation, so what it receives still tells')
  await sendTo(app, owner, 'secret')
  t.same(await q.received(), [m1], 'deactivated: the next message does not arrive')
})

t.test('after an archive the stream takes no messages and its subscribers receive nothing more', async (t) => {
  const { app, owner, createUser } = await build(t)
  const ann = await createUser('ann@example.com')
  const id = body(await call(app, owner, 'PUT', '/streams', { name: 'old', principals: JSON.stringify([ann.id]) })).data.stream_id
  const q = await messageQueue(app, ann)
  const m1 = await sendTo(app, owner, 'old')
  t.same(await q.received(), [m1])
  t.equal((await call(app, owner, 'DELETE', `/streams/${id}`)).statusCode, 200)
  const after = await call(app, owner, 'POST', '/messages', { type: 'stream', to: String(id), topic: 't', content: 'x' })
  t.equal(after.statusCode, 404)
  t.same(await q.received(), [m1])
  t.same(await app.streams.subscriberIds(id), [owner.id, ann.id].sort((a, b) => a - b), 'subscriptions are kept as history')
})

t.test('subscriberIds answers a fresh array each time: a caller changing it does not change the next answer', async (t) => {
  const { app, owner } = await build(t)
  const id = body(await call(app, owner, 'PUT', '/streams', { name: 'general' })).data.stream_id
  const first = await app.streams.subscriberIds(id)
  first.push(9999)
  t.same(await app.streams.subscriberIds(id), [owner.id])
})
