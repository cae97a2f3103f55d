// Unread state (SPEC §6, §7): flags on messages, POST /messages/flags, update_message_flags events,
// unread_msgs in /register, the first_unread anchor, and what deleting or unsubscribing leaves behind.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { generateApiKey } from '../plugins/app/http/credentials.js'
import { body, build, type TestUser } from './helper.js'

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'

interface Answer { status: number, body: any, headers: Record<string, unknown> }

/** Form-encoded, as zulip-js and Zulip's other clients send their parameters (lists as JSON text). */
async function call (app: FastifyInstance, who: TestUser, method: Method, url: string, form?: Record<string, string>): Promise<Answer> {
  const res = await app.inject({
    method,
    url: `/api/v1${url}`,
    headers: { authorization: who.auth, ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
    ...(form === undefined ? {} : { payload: new URLSearchParams(form).toString() })
  })
  return { status: res.statusCode, body: body(res), headers: res.headers }
}

async function ok (app: FastifyInstance, who: TestUser, method: Method, url: string, form?: Record<string, string>): Promise<any> {
  const res = await call(app, who, method, url, form)
  if (res.status !== 200) throw new Error(`${method} ${url}: ${JSON.stringify(res.body)}`)
  return res.body.data
}

async function stream (app: FastifyInstance, who: TestUser, name: string, extra: Record<string, string> = {}): Promise<number> {
  return (await ok(app, who, 'PUT', '/streams', { name, ...extra })).stream_id
}

async function toStream (app: FastifyInstance, who: TestUser, streamId: number, topic: string, content = 'hi'): Promise<number> {
  return (await ok(app, who, 'POST', '/messages', { type: 'stream', to: String(streamId), topic, content })).id
}

async function direct (app: FastifyInstance, who: TestUser, to: TestUser[], content = 'psst'): Promise<number> {
  return (await ok(app, who, 'POST', '/messages', { type: 'direct', to: JSON.stringify(to.map((u) => u.id)), content })).id
}

async function flags (app: FastifyInstance, who: TestUser, op: 'add' | 'remove', ids: number[]): Promise<number[]> {
  return (await ok(app, who, 'POST', '/messages/flags', { messages: JSON.stringify(ids), op, flag: 'read' })).messages
}

async function flagsOf (app: FastifyInstance, who: TestUser, id: number): Promise<string[]> {
  return (await ok(app, who, 'GET', `/messages/${id}`)).message.flags
}

async function unreadRows (app: FastifyInstance, messageId: number): Promise<number[]> {
  const rows = await app.db.selectFrom('unread').select('user_id').where('message_id', '=', messageId).orderBy('user_id').execute()
  return rows.map((r) => r.user_id)
}

async function registerQueue (app: FastifyInstance, who: TestUser, eventTypes?: string[]): Promise<string> {
  return (await ok(app, who, 'POST', '/register', eventTypes === undefined ? {} : { event_types: JSON.stringify(eventTypes) })).queue_id
}

async function pending (app: FastifyInstance, who: TestUser, queueId: string): Promise<any[]> {
  return (await ok(app, who, 'GET', `/events?queue_id=${queueId}&dont_block=true`)).events
}

t.test('a message is unread for every recipient but its sender: flags on GET /messages and GET /messages/{id}', async (t) => {
  const { app, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const bob = await createUser('bob@example.com')
  const carol = await createUser('carol@example.com')
  const general = await stream(app, alice, 'General')
  await ok(app, bob, 'PUT', `/users/me/subscriptions/${general}`)

  const inStream = await toStream(app, alice, general, 'lunch')
  const dm = await direct(app, alice, [bob])
  t.same(await flagsOf(app, alice, inStream), ['read'], 'the sender\'s own message is read')
  t.same(await flagsOf(app, bob, inStream), [], 'a subscriber at send time has it unread')
  t.same(await flagsOf(app, carol, inStream), ['read'], 'a public stream\'s reader who was not subscribed never received it')
  t.same(await flagsOf(app, bob, dm), [])
  t.same(await unreadRows(app, inStream), [bob.id])
  t.same(await unreadRows(app, dm), [bob.id])

  const page = await call(app, bob, 'GET', '/messages?anchor=newest&num_before=10&num_after=0')
  t.equal(page.status, 200)
  t.same(page.body.data.messages.map((m: any) => [m.id, m.flags]), [[inStream, []], [dm, []]])
  t.same((await ok(app, alice, 'GET', '/messages?anchor=newest&num_before=10&num_after=0')).messages.map((m: any) => m.flags), [['read'], ['read']])
})

t.test('each row of a page carries the reader\'s own flag, whatever the anchor and narrow, and never another user\'s', async (t) => {
  const { app, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const bob = await createUser('bob@example.com')
  const carol = await createUser('carol@example.com')
  const general = await stream(app, alice, 'General')
  await ok(app, bob, 'PUT', `/users/me/subscriptions/${general}`)
  await ok(app, carol, 'PUT', `/users/me/subscriptions/${general}`)
  const ids: number[] = []
  for (let i = 0; i < 8; i++) ids.push(await toStream(app, alice, general, i % 2 === 0 ? 'even' : 'odd', `note ${i}`))
  // Bob has read the first half and every third; Carol exactly the messages Bob has not.
  const bobRead = ids.filter((_, i) => i < 4 || i % 3 === 0)
  await flags(app, bob, 'add', bobRead)
  await flags(app, carol, 'add', ids.filter((id) => !bobRead.includes(id)))
  const want = (who: TestUser, list: number[]) => list.map((id) => [id, who === alice || (who === bob) === bobRead.includes(id) ? ['read'] : []])

  const page = async (who: TestUser, anchor: string, before: number, after: number, narrow: unknown[] = []) => {
    const res = await call(app, who, 'GET', `/messages?${new URLSearchParams({ anchor, num_before: String(before), num_after: String(after), narrow: JSON.stringify(narrow) }).toString()}`)
    t.equal(res.status, 200)
    return res.body.data.messages.map((m: any) => [m.id, m.flags])
  }
  for (const who of [bob, carol, alice]) {
    const name = who.email.split('@')[0] ?? ''
    t.same(await page(who, 'newest', 5, 0), want(who, ids.slice(3)), `${name}: newest`)
    t.same(await page(who, 'oldest', 0, 5), want(who, ids.slice(0, 5)), `${name}: oldest`)
    t.same(await page(who, String(ids[4]), 3, 2), want(who, ids.slice(1, 7)), `${name}: around an id, both sides`)
    t.same(await page(who, 'newest', 10, 0, [['stream', general], ['topic', 'odd']]), want(who, ids.filter((_, i) => i % 2 === 1)), `${name}: a topic narrow`)
    t.same(await page(who, 'newest', 10, 0, [['search', 'note']]), want(who, ids), `${name}: a search`)
    for (const id of [ids[2] as number, ids[5] as number, ids[6] as number]) {
      t.same(await flagsOf(app, who, id), want(who, [id])[0]?.[1], `${name}: GET /messages/${id} agrees`)
    }
  }
})

t.test('POST /messages/flags form-encoded (messages=[1,2]&op=add&flag=read) answers the ids whose flag changed', async (t) => {
  const { app, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const bob = await createUser('bob@example.com')
  const carol = await createUser('carol@example.com')
  const general = await stream(app, alice, 'General')
  await ok(app, bob, 'PUT', `/users/me/subscriptions/${general}`)
  const m1 = await toStream(app, alice, general, 'a')
  const m2 = await toStream(app, alice, general, 'a')
  const dm = await direct(app, alice, [bob])

  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/messages/flags',
    headers: { authorization: bob.auth, 'content-type': 'application/x-www-form-urlencoded' },
    payload: `messages=[${m2},${m1}]&op=add&flag=read`
  })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.same(body(res), { result: 'success', msg: '', data: { messages: [m1, m2] } }, 'changed ids, ascending')
  t.same(await flagsOf(app, bob, m1), ['read'])
  t.same(await flags(app, bob, 'add', [m1, m2]), [], 'idempotent: a second add changes nothing')
  t.same(await flags(app, bob, 'add', [m1, m2, dm]), [dm], 'only what was still unread')

  t.same(await flags(app, bob, 'remove', [m1, m1]), [m1], 'unread again, each id once')
  t.same(await flagsOf(app, bob, m1), [])
  t.same(await flags(app, bob, 'remove', [m1]), [], 'a second remove changes nothing')
  t.same(await flags(app, alice, 'remove', [m2]), [m2], 'a sender may mark their own message unread')

  t.same(await flags(app, carol, 'remove', [m1]), [], 'remove: a stream message of a stream the caller is not subscribed to is ignored')
  t.same(await flags(app, carol, 'remove', [dm, 999999]), [], 'messages the caller cannot read, or that do not exist, are ignored alike')
  t.same(await flags(app, carol, 'add', [dm, 999999]), [])
  t.same(await unreadRows(app, dm), [], 'nothing changed for others')

  const json = await app.inject({ method: 'POST', url: '/api/v1/messages/flags', headers: { authorization: bob.auth }, payload: { messages: [m1], op: 'add', flag: 'read' } })
  t.same(body(json).data, { messages: [m1] }, 'a JSON body works the same')

  const boundary = '----parleyflags'
  const multipart = [['messages', `[${m1}]`], ['op', 'remove'], ['flag', 'read']]
    .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') + `--${boundary}--\r\n`
  const mp = await app.inject({ method: 'POST', url: '/api/v1/messages/flags', headers: { authorization: bob.auth, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload: multipart })
  t.same(body(mp).data, { messages: [m1] }, 'and multipart/form-data')
})

t.test('POST /messages/flags refuses other flags and ops by name', async (t) => {
  const { app, owner } = await build(t)
  const starred = await call(app, owner, 'POST', '/messages/flags', { messages: '[1]', op: 'add', flag: 'starred' })
  t.equal(starred.status, 400)
  t.same(starred.body, { result: 'error', msg: "Invalid 'flag': unsupported flag 'starred': only 'read' is supported", code: 'REQUEST_VARIABLE_INVALID', var_name: 'flag' })
  const op = await call(app, owner, 'POST', '/messages/flags', { messages: '[1]', op: 'toggle', flag: 'read' })
  t.match(op.body, { code: 'REQUEST_VARIABLE_INVALID', var_name: 'op' })
  const missing = await call(app, owner, 'POST', '/messages/flags', { op: 'add', flag: 'read' })
  t.match(missing.body, { code: 'REQUEST_VARIABLE_MISSING', var_name: 'messages', msg: "Missing 'messages' argument" })
  const notIds = await call(app, owner, 'POST', '/messages/flags', { messages: '["x"]', op: 'add', flag: 'read' })
  t.match(notIds.body, { code: 'REQUEST_VARIABLE_INVALID', var_name: 'messages' })
  const empty = await call(app, owner, 'POST', '/messages/flags', { messages: '[]', op: 'add', flag: 'read' })
  t.same(empty.body.data, { messages: [] }, 'an empty list changes nothing')
  const get = await call(app, owner, 'GET', '/messages/flags')
  t.equal(get.status, 405, 'the path is its own resource, not a message id')
  t.equal(get.headers.allow, 'POST')
})

t.test('update_message_flags goes to the caller\'s own queues only, and only when something changed', async (t) => {
  const { app, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const bob = await createUser('bob@example.com')
  const general = await stream(app, alice, 'General')
  await ok(app, bob, 'PUT', `/users/me/subscriptions/${general}`)
  const qBobFlags = await registerQueue(app, bob, ['update_message_flags'])
  const qBobMessages = await registerQueue(app, bob, ['message'])
  const qBobAll = await registerQueue(app, bob)
  const qAlice = await registerQueue(app, alice)

  const m = await toStream(app, alice, general, 'a')
  t.match(await pending(app, alice, qAlice), [{ id: 0, type: 'message', message: { id: m }, flags: ['read'] }], 'the sender\'s message event: read')
  t.match(await pending(app, bob, qBobMessages), [{ id: 0, type: 'message', message: { id: m }, flags: [] }], 'a recipient\'s: unread')

  t.same(await flags(app, bob, 'add', [m]), [m])
  const expected = { type: 'update_message_flags', op: 'add', flag: 'read', messages: [m], all: false }
  t.same(await pending(app, bob, qBobFlags), [{ id: 0, ...expected }])
  t.same((await pending(app, bob, qBobAll)).slice(1), [{ id: 1, ...expected }])
  t.same((await pending(app, bob, qBobMessages)).length, 1, 'a queue that did not ask for the type gets nothing')
  t.same((await pending(app, alice, qAlice)).length, 1, 'another user gets nothing')

  t.same(await flags(app, bob, 'add', [m]), [])
  t.same((await pending(app, bob, qBobFlags)).length, 1, 'nothing changed: no event')
  t.same(await flags(app, bob, 'remove', [m]), [m])
  t.match(await pending(app, bob, qBobFlags), [{ id: 0 }, { id: 1, type: 'update_message_flags', op: 'remove', flag: 'read', messages: [m], all: false }])
})

t.test('POST /register unread_msgs: by stream and topic, 1:1 (oneself too) and group conversations, Zulip\'s shape', async (t) => {
  const { app, owner, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const bob = await createUser('bob@example.com')
  const carol = await createUser('carol@example.com')
  const general = await stream(app, alice, 'General')
  const secret = await stream(app, alice, 'Secret', { invite_only: 'true', principals: JSON.stringify([bob.id]) })
  const doomed = await stream(app, alice, 'Doomed')
  await ok(app, bob, 'PUT', `/users/me/subscriptions/${general}`)
  await ok(app, bob, 'PUT', `/users/me/subscriptions/${doomed}`)

  const lunch1 = await toStream(app, alice, general, 'Lunch')
  const deploy = await toStream(app, carol, general, 'deploy')
  const lunch2 = await toStream(app, alice, general, 'lunch')
  const hidden = await toStream(app, alice, secret, 'plans')
  const fromAlice = await direct(app, alice, [bob])
  const fromCarol = await direct(app, carol, [bob])
  const group = await direct(app, alice, [bob, carol])
  const toSelf = await direct(app, bob, [bob])
  const own = await toStream(app, bob, general, 'Lunch')
  await toStream(app, alice, doomed, 'x')
  await ok(app, owner, 'DELETE', `/streams/${doomed}`)
  t.same(await flags(app, bob, 'remove', [toSelf]), [toSelf], 'a note to self is read until marked unread')

  const state = (await ok(app, bob, 'POST', '/register', { event_types: '["message"]' })).unread_msgs
  const members = [alice.id, bob.id, carol.id].sort((a, b) => a - b).join(',')
  t.same(state, {
    count: 8,
    streams: [
      { stream_id: general, topic: 'Lunch', unread_message_ids: [lunch1, lunch2] },
      { stream_id: general, topic: 'deploy', unread_message_ids: [deploy] },
      { stream_id: secret, topic: 'plans', unread_message_ids: [hidden] }
    ],
    pms: [
      { other_user_id: alice.id, unread_message_ids: [fromAlice] },
      { other_user_id: carol.id, unread_message_ids: [fromCarol] },
      { other_user_id: bob.id, unread_message_ids: [toSelf] }
    ],
    huddles: [{ user_ids_string: members, unread_message_ids: [group] }],
    mentions: [],
    old_unreads_missing: false
  }, 'topics group without regard to case; the archived stream is left out; bob\'s own message is read')

  t.ok((await ok(app, bob, 'POST', '/register', { event_types: '["update_message_flags"]' })).unread_msgs, 'also for update_message_flags')
  t.ok((await ok(app, bob, 'POST', '/register')).unread_msgs, 'and for every type')
  t.notOk('unread_msgs' in await ok(app, bob, 'POST', '/register', { event_types: '["realm_user"]' }), 'not for other types')

  await flags(app, bob, 'add', [lunch1, fromCarol])
  const after = (await ok(app, bob, 'POST', '/register', { event_types: '["message"]' })).unread_msgs
  t.equal(after.count, 6)
  t.same(after.streams, [
    { stream_id: general, topic: 'deploy', unread_message_ids: [deploy] },
    { stream_id: general, topic: 'lunch', unread_message_ids: [lunch2] },
    { stream_id: secret, topic: 'plans', unread_message_ids: [hidden] }
  ], 'the oldest unread message orders and names its topic')
  t.same(after.pms.map((p: any) => p.other_user_id), [alice.id, bob.id])
  t.same((await ok(app, alice, 'POST', '/register', { event_types: '["message"]' })).unread_msgs, {
    count: 2,
    streams: [{ stream_id: general, topic: 'deploy', unread_message_ids: [deploy] }, { stream_id: general, topic: 'Lunch', unread_message_ids: [own] }],
    pms: [],
    huddles: [],
    mentions: [],
    old_unreads_missing: false
  }, 'each user has their own: alice has only what others sent to her streams')
})

t.test('unsubscribing or deleting a message leaves no unread rows behind', async (t) => {
  const { app, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const bob = await createUser('bob@example.com')
  const general = await stream(app, alice, 'General')
  const other = await stream(app, alice, 'Other')
  await ok(app, bob, 'PUT', `/users/me/subscriptions/${general}`)
  await ok(app, bob, 'PUT', `/users/me/subscriptions/${other}`)
  const m1 = await toStream(app, alice, general, 'a')
  const m2 = await toStream(app, alice, other, 'a')
  const dm = await direct(app, alice, [bob])

  await ok(app, bob, 'DELETE', `/users/me/subscriptions/${general}`)
  t.same(await unreadRows(app, m1), [], 'the stream\'s unread rows went with the subscription')
  t.same(await unreadRows(app, m2), [bob.id], 'other streams keep theirs')
  await ok(app, bob, 'PUT', `/users/me/subscriptions/${general}`)
  t.same(await flagsOf(app, bob, m1), ['read'], 'subscribing again does not bring them back')
  t.same((await ok(app, bob, 'POST', '/register', { event_types: '["message"]' })).unread_msgs.count, 2)

  await ok(app, alice, 'DELETE', `/messages/${dm}`)
  t.same(await unreadRows(app, dm), [], 'a deleted message\'s rows are deleted with it')
  t.same((await ok(app, bob, 'POST', '/register', { event_types: '["message"]' })).unread_msgs.pms, [])
})

t.test('anchor first_unread: the oldest unread message of the narrow, else as newest', async (t) => {
  const { app, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const bob = await createUser('bob@example.com')
  const general = await stream(app, alice, 'General')
  await ok(app, bob, 'PUT', `/users/me/subscriptions/${general}`)
  const ids: number[] = []
  for (let i = 0; i < 5; i++) ids.push(await toStream(app, alice, general, i < 3 ? 'old' : 'new', `m${i}`))
  const dm = await direct(app, alice, [bob])
  await flags(app, bob, 'add', [ids[0] as number, ids[1] as number])

  const q = (who: TestUser, narrow: unknown[], before = 1, after = 1) =>
    call(app, who, 'GET', `/messages?${new URLSearchParams({ anchor: 'first_unread', num_before: String(before), num_after: String(after), narrow: JSON.stringify(narrow) }).toString()}`)
  const page = await q(bob, [{ operator: 'stream', operand: general }])
  t.equal(page.status, 200)
  t.same(page.body.data.messages.map((m: any) => [m.id, m.flags]), [[ids[1], ['read']], [ids[2], []], [ids[3], []]])
  t.match(page.body.data, { found_anchor: true, found_oldest: false, found_newest: false })

  const all = await q(bob, [], 0, 0)
  t.same(all.body.data.messages.map((m: any) => m.id), [ids[2]], 'without a narrow: the oldest unread anywhere')
  const topic = await q(bob, [['stream', general], ['topic', 'new']], 0, 10)
  t.same(topic.body.data.messages.map((m: any) => m.id), [ids[3], ids[4]])
  t.match(topic.body.data, { found_anchor: true, found_newest: true })
  const dms = await q(bob, [{ operator: 'dm', operand: [alice.id] }], 5, 5)
  t.same(dms.body.data.messages.map((m: any) => m.id), [dm])

  await flags(app, bob, 'add', [ids[2] as number])
  const none = await q(bob, [['stream', general], ['topic', 'old']], 2, 2)
  t.same(none.body.data.messages.map((m: any) => m.id), [ids[1], ids[2]], 'nothing unread in the narrow: the newest messages')
  t.match(none.body.data, { found_anchor: false, found_newest: true, found_oldest: false })
  const sender = await q(alice, [], 1, 1)
  t.same(sender.body.data.messages.map((m: any) => m.id), [dm], 'the sender has nothing unread: as newest')
  t.match(sender.body.data, { found_anchor: false, found_newest: true })
})

t.test('a message to a stream of 600 subscribers writes one unread row for each but the sender', async (t) => {
  const { app, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const general = await stream(app, alice, 'General')
  const now = Math.floor(Date.now() / 1000)
  const users = Array.from({ length: 599 }, (_, i) => ({
    email: `u${i}@example.com`,
    email_key: `u${i}@example.com`,
    full_name: `u${i}`,
    role: 'member' as const,
    is_bot: 0,
    bot_type: null,
    bot_owner_id: null,
    is_active: 1,
    date_joined: now,
    api_key: generateApiKey(),
    password_hash: null
  }))
  const ids: number[] = []
  for (let i = 0; i < users.length; i += 200) {
    ids.push(...(await app.db.insertInto('users').values(users.slice(i, i + 200)).returning('id').execute()).map((r) => r.id))
  }
  await app.db.insertInto('subscriptions').values(ids.map((id) => ({ user_id: id, stream_id: general, date_subscribed: now }))).execute()

  const floors = async (): Promise<Array<{ user_id: number, floor: number }>> => await app.db.selectFrom('unread_floors').select(['user_id', 'floor'])
    .where('stream_id', '=', general).where('dm_group_id', '=', 0).orderBy('user_id').execute()
  const m = await toStream(app, alice, general, 'big')
  t.same(await unreadRows(app, m), ids, 'each recipient once, the sender not')
  t.same(await floors(), ids.map((id) => ({ user_id: id, floor: m })), 'each recipient\'s floor in the stream is this first message')
  const m2 = await toStream(app, alice, general, 'big')
  t.same(await unreadRows(app, m2), ids, 'the same rows for the next message')
  t.same(await floors(), ids.map((id) => ({ user_id: id, floor: m })), 'the floors already there are kept')
})

t.test('unread_msgs and first_unread agree with the unread rows through reads out of order, re-marks, deletions and unsubscriptions', async (t) => {
  const { app, createUser } = await build(t)
  const people = [await createUser('alice@example.com'), await createUser('bob@example.com'), await createUser('carol@example.com')]
  const [alice, bob] = people as [TestUser, TestUser, TestUser]
  const streams = [await stream(app, alice, 'One'), await stream(app, alice, 'Two')]
  for (const s of streams) await ok(app, bob, 'PUT', `/users/me/subscriptions/${s}`)
  const subscribed = new Set(streams)
  let seed = 14
  // A linear congruential generator's high bits: the low ones cycle.
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return Math.floor(seed / 65536) % n }
  const sent: number[] = []
  const seen = { most: 0, ops: new Set<number>() }

  for (let step = 0; step < 80; step++) {
    const op = rand(10)
    seen.ops.add(Math.min(op, 9))
    const pick = (): number[] => sent.filter(() => rand(3) === 0)
    if (op < 4 || sent.length === 0) {
      const from = people[rand(3)] as TestUser
      if (rand(2) === 0) sent.push(await toStream(app, from, streams[rand(2)] as number, `topic ${rand(3)}`))
      else sent.push(await direct(app, from, from === bob ? [alice] : [bob, ...(rand(2) === 0 ? [people[2] as TestUser] : [])]))
    } else if (op < 6) {
      await flags(app, bob, 'add', pick())
    } else if (op < 8) {
      await flags(app, bob, 'remove', pick())
    } else if (op === 8) {
      const id = sent.splice(rand(sent.length), 1)[0] as number
      const sender = (await app.db.selectFrom('messages').select('sender_id').where('id', '=', id).executeTakeFirstOrThrow()).sender_id
      await ok(app, people.find((p) => p.id === sender) as TestUser, 'DELETE', `/messages/${id}`)
    } else {
      const s = streams[rand(2)] as number
      await ok(app, bob, subscribed.has(s) ? 'DELETE' : 'PUT', `/users/me/subscriptions/${s}`)
      if (subscribed.has(s)) subscribed.delete(s)
      else subscribed.add(s)
    }
    const truth = (await app.db.selectFrom('unread').select('message_id').where('user_id', '=', bob.id).orderBy('message_id').execute()).map((r) => r.message_id)
    const state = (await ok(app, bob, 'POST', '/register', { event_types: '["message"]' })).unread_msgs
    const listed = [...state.streams, ...state.pms, ...state.huddles].flatMap((e: any) => e.unread_message_ids).sort((a: number, b: number) => a - b)
    if (!t.same(listed, truth, `step ${step}: unread_msgs lists exactly the unread rows`)) break
    t.equal(state.count, truth.length)
    seen.most = Math.max(seen.most, truth.length)
    const first = await ok(app, bob, 'GET', '/messages?anchor=first_unread&num_before=0&num_after=0')
    t.same(first.messages.map((m: any) => m.id), truth.length === 0 ? [] : [truth[0]], `step ${step}: first_unread`)
    const rows = await app.db.selectFrom('unread').innerJoin('messages', 'messages.id', 'unread.message_id')
      .select('messages.stream_id').where('unread.user_id', '=', bob.id).where('messages.stream_id', 'is not', null).execute()
    t.ok(rows.every((r) => subscribed.has(r.stream_id as number)), `step ${step}: no unread rows in streams bob left`)
  }
  t.ok(seen.most >= 5, `the sequence had ${seen.most} unread messages at most`)
  t.same([...seen.ops].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'every kind of step ran')
})
