// POST /typing (SPEC §6, §7): typing events reach the other participants of a conversation or the stream's subscribers, and no one else.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { body, build, type TestUser } from './helper.js'

interface Answer { status: number, body: any }

async function call (app: FastifyInstance, who: TestUser, method: 'GET' | 'POST' | 'PUT', url: string, form?: Record<string, string>): Promise<Answer> {
  const res = await app.inject({
    method,
    url: `/api/v1${url}`,
    headers: { authorization: who.auth, ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
    ...(form === undefined ? {} : { payload: new URLSearchParams(form).toString() })
  })
  return { status: res.statusCode, body: body(res) }
}

async function registerQueue (app: FastifyInstance, who: TestUser, types = ['typing']): Promise<string> {
  const res = await call(app, who, 'POST', '/register', { event_types: JSON.stringify(types) })
  if (res.status !== 200) throw new Error(JSON.stringify(res.body))
  return res.body.data.queue_id
}

async function pending (app: FastifyInstance, who: TestUser, queueId: string): Promise<any[]> {
  return (await call(app, who, 'GET', `/events?queue_id=${queueId}&dont_block=true`)).body.data.events
}

t.test('POST /typing to a direct conversation: every other participant gets the event, the sender and outsiders do not', async (t) => {
  const { app, createUser } = await build(t)
  const [alice, bob, carol, dave] = [await createUser('alice@example.com'), await createUser('bob@example.com'), await createUser('carol@example.com'), await createUser('dave@example.com')]
  const queues = new Map<TestUser, string>()
  for (const u of [alice, bob, carol, dave]) queues.set(u, await registerQueue(app, u))
  const qBobMessages = await registerQueue(app, bob, ['message'])

  // As zulip-js sends it: form-encoded, `to` as JSON text, no `type` (direct is the default).
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/typing',
    headers: { authorization: alice.auth, 'content-type': 'application/x-www-form-urlencoded' },
    payload: `op=start&to=[${carol.id},${bob.id}]`
  })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.same(body(res), { result: 'success', msg: '', data: {} })

  const event = {
    type: 'typing',
    op: 'start',
    message_type: 'direct',
    sender: { user_id: alice.id, email: alice.email },
    recipients: [alice, bob, carol].map((u) => ({ user_id: u.id, email: u.email }))
  }
  t.same(await pending(app, bob, queues.get(bob) as string), [{ id: 0, ...event }], 'recipients: every participant, the sender included, by id')
  t.same(await pending(app, carol, queues.get(carol) as string), [{ id: 0, ...event }])
  t.same(await pending(app, alice, queues.get(alice) as string), [], 'not the sender')
  t.same(await pending(app, dave, queues.get(dave) as string), [], 'not an outsider')
  t.same(await pending(app, bob, qBobMessages), [], 'not a queue that did not ask for typing')

  t.equal((await call(app, alice, 'POST', '/typing', { op: 'stop', type: 'direct', to: JSON.stringify([bob.id, alice.id]) })).status, 200)
  t.match(await pending(app, bob, queues.get(bob) as string), [{ id: 0 }, { id: 1, op: 'stop', recipients: [{ user_id: alice.id }, { user_id: bob.id }] }], 'the sender listed in `to` is the same conversation')
  t.same((await pending(app, carol, queues.get(carol) as string)).length, 1, 'carol is not in that conversation')

  t.equal((await call(app, alice, 'POST', '/typing', { op: 'start', type: 'private', to: JSON.stringify([alice.id]) })).status, 200, 'a note to self tells no one')
  t.same(await pending(app, alice, queues.get(alice) as string), [])
})

t.test('POST /typing to a stream topic: its subscribers but the sender get the event', async (t) => {
  const { app, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const bob = await createUser('bob@example.com')
  const carol = await createUser('carol@example.com')
  const streamId = (await call(app, alice, 'PUT', '/streams', { name: 'General' })).body.data.stream_id
  await call(app, bob, 'PUT', `/users/me/subscriptions/${streamId}`)
  const [qAlice, qBob, qCarol] = [await registerQueue(app, alice), await registerQueue(app, bob), await registerQueue(app, carol)]

  const res = await call(app, alice, 'POST', '/typing', { op: 'start', type: 'stream', stream_id: String(streamId), topic: ' lunch ' })
  t.equal(res.status, 200)
  t.same(await pending(app, bob, qBob), [{ id: 0, type: 'typing', op: 'start', message_type: 'stream', sender: { user_id: alice.id, email: alice.email }, stream_id: streamId, topic: 'lunch' }])
  t.same(await pending(app, alice, qAlice), [], 'not the sender')
  t.same(await pending(app, carol, qCarol), [], 'not a non-subscriber')
  t.equal((await call(app, alice, 'POST', '/typing', { op: 'stop', type: 'channel', stream_id: String(streamId), topic: 'lunch' })).status, 200)
  t.match(await pending(app, bob, qBob), [{ id: 0 }, { id: 1, op: 'stop', message_type: 'stream' }])
})

t.test('POST /typing errors: recipients name `to`, a hidden stream is 404, a missing part is named', async (t) => {
  const { app, owner, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const gone = await createUser('gone@example.com')
  await app.users.doDeactivateUser((await app.users.get(owner.id))!, gone.id)
  const hidden = (await call(app, owner, 'PUT', '/streams', { name: 'Hidden', invite_only: 'true' })).body.data.stream_id

  const cases: Array<[Record<string, string>, number, Record<string, unknown>]> = [
    [{ op: 'start', to: '[999999]' }, 400, { code: 'REQUEST_VARIABLE_INVALID', var_name: 'to' }],
    [{ op: 'start', to: `[${gone.id}]` }, 400, { code: 'REQUEST_VARIABLE_INVALID', var_name: 'to' }],
    [{ op: 'start', to: '[]' }, 400, { code: 'REQUEST_VARIABLE_INVALID', var_name: 'to' }],
    [{ op: 'start', to: '["x"]' }, 400, { code: 'REQUEST_VARIABLE_INVALID', var_name: 'to' }],
    [{ op: 'start' }, 400, { code: 'REQUEST_VARIABLE_MISSING', var_name: 'to' }],
    [{ op: 'typing', to: `[${owner.id}]` }, 400, { code: 'REQUEST_VARIABLE_INVALID', var_name: 'op' }],
    [{ op: 'start', type: 'stream', stream_id: String(hidden), topic: 't' }, 404, { code: 'NOT_FOUND' }],
    [{ op: 'start', type: 'stream', stream_id: '999999', topic: 't' }, 404, { code: 'NOT_FOUND' }],
    [{ op: 'start', type: 'stream', topic: 't' }, 400, { code: 'REQUEST_VARIABLE_MISSING', var_name: 'stream_id' }],
    [{ op: 'start', type: 'stream', stream_id: String(hidden) }, 400, { code: 'REQUEST_VARIABLE_MISSING', var_name: 'topic' }]
  ]
  for (const [form, status, expected] of cases) {
    const res = await call(app, alice, 'POST', '/typing', form)
    t.equal(res.status, status, JSON.stringify(form))
    t.match(res.body, { result: 'error', ...expected }, JSON.stringify(form))
  }
  const hiddenRes = await call(app, alice, 'POST', '/typing', { op: 'start', type: 'stream', stream_id: String(hidden), topic: 't' })
  const unknown = await call(app, alice, 'POST', '/typing', { op: 'start', type: 'stream', stream_id: '999999', topic: 't' })
  t.same(hiddenRes.body.msg, `Invalid stream ID: ${hidden}`, 'a hidden stream answers as a missing one')
  t.same(unknown.body.msg, 'Invalid stream ID: 999999')
})
