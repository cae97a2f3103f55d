import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { Published } from '../plugins/app/events/bus.js'
import { body, build, type TestUser } from './helper.js'

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

function call (app: FastifyInstance, who: TestUser, method: Method, url: string, form?: Record<string, string>, headers: Record<string, string> = {}) {
  return app.inject({
    method,
    url: `/api/v1${url}`,
    headers: { authorization: who.auth, ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }), ...headers },
    ...(form === undefined ? {} : { payload: new URLSearchParams(form).toString() })
  })
}

/** A multipart/form-data body as the Zulip JS client sends it. */
function multipart (fields: Record<string, string>): { payload: string, headers: Record<string, string> } {
  const boundary = '----parleytest7MA4YWxkTrZu0gW'
  const payload = Object.entries(fields).map(([k, v]) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') + `--${boundary}--\r\n`
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

function record (app: FastifyInstance): Published[] {
  const seen: Published[] = []
  // Without the outbox key of the Redis mode (test/events-outbox.test.ts looks at it).
  app.bus.subscribe(({ event, audience }) => { seen.push({ event, audience }) })
  return seen
}

async function send (app: FastifyInstance, who: TestUser, form: Record<string, string>): Promise<number> {
  const res = await call(app, who, 'POST', '/messages', form)
  if (res.statusCode !== 200) throw new Error(res.payload)
  return body(res).data.id
}

async function page (app: FastifyInstance, who: TestUser, query: Record<string, string>) {
  const res = await call(app, who, 'GET', `/messages?${new URLSearchParams(query).toString()}`)
  return { status: res.statusCode, ...body(res) }
}

t.test('POST /messages to a stream by name or id, form-encoded as Zulip clients send it', async (t) => {
  const { app, owner, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const bob = await createUser('bob@example.com')
  const streamId = body(await call(app, alice, 'PUT', '/streams', { name: 'General' })).data.stream_id
  const events = record(app)

  const res = await call(app, bob, 'POST', '/messages', { type: 'stream', to: 'general', topic: 'greetings', content: 'Hello **world** https://example.com' }, { 'user-agent': 'ZulipMobile/27.1' })
  t.equal(res.statusCode, 200)
  const id = body(res).data.id
  t.match(events, [{
    event: { type: 'message', message: { id, sender_id: bob.id, type: 'stream', stream_id: streamId, display_recipient: 'General', topic: 'greetings', client: 'ZulipMobile' } },
    audience: { kind: 'users', userIds: [alice.id, bob.id] }
  }], 'subscribers plus the unsubscribed sender')

  const got = await call(app, owner, 'GET', `/messages/${id}`)
  t.equal(got.statusCode, 200)
  const m = body(got).data.message
  t.same(Object.keys(m).sort(), ['client', 'content', 'content_markdown', 'display_recipient', 'flags', 'id', 'last_edit_timestamp', 'sender_email', 'sender_full_name', 'sender_id', 'stream_id', 'timestamp', 'topic', 'type'])
  t.same(m.flags, ['read'], 'the owner never received it (not subscribed): nothing unread')
  t.match(m, { sender_email: 'bob@example.com', sender_full_name: 'bob', content_markdown: 'Hello **world** https://example.com', last_edit_timestamp: null })
  t.equal(m.content, '<p>Hello <strong>world</strong> <a href="https://example.com" target="_blank" rel="noopener noreferrer">https://example.com</a></p>')
  const { flags: _flags, ...shown } = m
  t.same(events[0]?.event.message, shown, 'the event carries the message as the API shows it; its flags are the event\'s, per queue')

  const byJsonName = await send(app, bob, { type: 'stream', to: '"General"', topic: 't', content: 'a' })
  const byId = await send(app, bob, { type: 'stream', to: String(streamId), topic: 't', content: 'b', client: 'website' })
  const byList = await send(app, bob, { type: 'channel', to: `[${streamId}]`, topic: 't', content: 'c' })
  t.ok(byJsonName < byId && byId < byList, 'not idempotent: each POST is a new message')
  t.equal(body(await call(app, bob, 'GET', `/messages/${byId}`)).data.message.client, 'website')

  await app.users.doDeactivateUser((await app.users.get(owner.id))!, alice.id)
  events.length = 0
  await send(app, bob, { type: 'stream', to: 'General', topic: 't', content: 'after' })
  t.same(events[0]?.audience, { kind: 'users', userIds: [bob.id] }, 'deactivated subscribers are not in the audience')

  const missing = await call(app, bob, 'POST', '/messages', { type: 'stream', to: 'General', content: 'x' })
  t.match(body(missing), { code: 'REQUEST_VARIABLE_MISSING', var_name: 'topic', msg: "Missing 'topic' argument" })
  const nowhere = await call(app, bob, 'POST', '/messages', { type: 'stream', to: 'nowhere', topic: 't', content: 'x' })
  t.equal(nowhere.statusCode, 404)
})

t.test('POST /messages enforces 10 000 characters of content and 60 of topic, and escapes raw HTML', async (t) => {
  const { app, owner } = await build(t)
  await call(app, owner, 'PUT', '/streams', { name: 'general' })
  const ok = await send(app, owner, { type: 'stream', to: 'general', topic: 't'.repeat(60), content: 'é'.repeat(10000) })
  t.type(ok, 'number')
  const emoji = await send(app, owner, { type: 'stream', to: 'general', topic: '🎉'.repeat(60), content: 'party' })
  t.type(emoji, 'number', 'limits count characters, not UTF-16 units')
  const cases: Array<[Record<string, string>, string]> = [
    [{ topic: 't', content: 'x'.repeat(10001) }, 'content'],
    [{ topic: 't'.repeat(61), content: 'x' }, 'topic'],
    [{ topic: 't', content: '   ' }, 'content'],
    [{ topic: '  ', content: 'x' }, 'topic']
  ]
  for (const [form, varName] of cases) {
    const res = await call(app, owner, 'POST', '/messages', { type: 'stream', to: 'general', ...form })
    t.equal(res.statusCode, 400)
    t.match(body(res), { code: 'REQUEST_VARIABLE_INVALID', var_name: varName })
  }
  const id = await send(app, owner, { type: 'stream', to: 'general', topic: 't', content: '<script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1))' })
  const m = body(await call(app, owner, 'GET', `/messages/${id}`)).data.message
  t.equal(m.content, '<p>&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt; [x](javascript:alert(1))</p>')
  t.notMatch(m.content, /<script|<img|href="javascript/)
})

t.test('direct messages: multipart `to=[id,id]`, visible only to participants', async (t) => {
  const { app, owner, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const bob = await createUser('bob@example.com')
  const eve = await createUser('eve@example.com')
  const events = record(app)
  const mp = multipart({ type: 'private', to: JSON.stringify([bob.id, alice.id]), content: 'psst' })
  const res = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: { authorization: alice.auth, ...mp.headers }, payload: mp.payload })
  t.equal(res.statusCode, 200, res.payload)
  const id = body(res).data.id
  const people = [{ id: alice.id, email: 'alice@example.com', full_name: 'alice' }, { id: bob.id, email: 'bob@example.com', full_name: 'bob' }]
  t.match(events, [{ event: { type: 'message', message: { id, type: 'direct', topic: '', display_recipient: people } }, audience: { kind: 'users', userIds: [alice.id, bob.id] } }])
  t.notOk('stream_id' in (events[0]?.event.message as object))

  t.same(body(await call(app, bob, 'GET', `/messages/${id}`)).data.message.display_recipient, people)
  for (const who of [eve, owner]) {
    const r = await call(app, who, 'GET', `/messages/${id}`)
    t.equal(r.statusCode, 404, `${who.email} cannot read it`)
    t.equal(body(r).code, 'NOT_FOUND')
    t.equal((await call(app, who, 'PATCH', `/messages/${id}`, { content: 'x' })).statusCode, 404)
    t.equal((await call(app, who, 'DELETE', `/messages/${id}`)).statusCode, 404)
    t.same((await page(app, who, { anchor: 'newest', num_before: '10', num_after: '0' })).data.messages, [])
  }

  const byEmail = await send(app, bob, { type: 'direct', to: 'alice@example.com', content: 'hi' })
  const back = await page(app, alice, { anchor: 'newest', num_before: '10', num_after: '0', narrow: JSON.stringify([['dm', [bob.id]]]) })
  t.same(back.data.messages.map((m: any) => m.id), [id, byEmail], 'the same conversation whichever way it is addressed')

  const unknown = await call(app, alice, 'POST', '/messages', { type: 'direct', to: '[9999]', content: 'x' })
  t.equal(unknown.statusCode, 400)
  t.match(body(unknown), { code: 'REQUEST_VARIABLE_INVALID', var_name: 'to' })
})

t.test('private stream messages: a non-subscriber can neither send nor read (404)', async (t) => {
  const { app, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const eve = await createUser('eve@example.com')
  const sid = body(await call(app, alice, 'PUT', '/streams', { name: 'secret', invite_only: 'true' })).data.stream_id
  const id = await send(app, alice, { type: 'stream', to: String(sid), topic: 't', content: 'hidden' })
  const post = await call(app, eve, 'POST', '/messages', { type: 'stream', to: 'secret', topic: 't', content: 'x' })
  t.equal(post.statusCode, 404)
  t.equal((await call(app, eve, 'GET', `/messages/${id}`)).statusCode, 404)
  t.same((await page(app, eve, { anchor: 'oldest', num_before: '0', num_after: '10' })).data.messages, [])
  const narrowed = await page(app, eve, { anchor: 'oldest', num_before: '0', num_after: '10', narrow: '[["stream","secret"]]' })
  t.equal(narrowed.status, 400)
  t.match(narrowed, { code: 'REQUEST_VARIABLE_INVALID', var_name: 'narrow' })
  t.equal((await call(app, alice, 'GET', `/messages/${id}`)).statusCode, 200)
})

t.test('GET /messages: anchors, found_* flags and narrows', async (t) => {
  const { app, owner, createUser } = await build(t)
  const bob = await createUser('bob@example.com')
  await call(app, owner, 'PUT', '/streams', { name: 'general' })
  await call(app, owner, 'PUT', '/streams', { name: 'random' })
  const ids: number[] = []
  for (let i = 0; i < 6; i++) ids.push(await send(app, i % 2 === 0 ? owner : bob, { type: 'stream', to: 'general', topic: i < 3 ? 'Lunch' : 'work', content: `note ${i} 100%_done` }))
  const other = await send(app, bob, { type: 'stream', to: 'random', topic: 'lunch', content: 'Pizza Time' })
  const dm = await send(app, bob, { type: 'direct', to: `[${owner.id}]`, content: 'pizza?' })
  const all = [...ids, other, dm]
  const idsOf = (r: any): number[] => r.data.messages.map((m: any) => m.id)
  const flags = (r: any) => [r.data.found_anchor, r.data.found_oldest, r.data.found_newest]

  let r = await page(app, owner, { anchor: 'newest', num_before: '3', num_after: '0' })
  t.same(idsOf(r), all.slice(-3))
  t.same(flags(r), [false, false, true])
  r = await page(app, owner, { num_before: '100', num_after: '100' })
  t.same(idsOf(r), all, 'anchor defaults to newest; oldest first')
  t.same(flags(r), [false, true, true])
  r = await page(app, owner, { anchor: 'oldest', num_before: '0', num_after: '2' })
  t.same(idsOf(r), all.slice(0, 2))
  t.same(flags(r), [false, true, false])
  r = await page(app, owner, { anchor: String(ids[2]), num_before: '2', num_after: '2' })
  t.same(idsOf(r), ids.slice(0, 5))
  t.same(flags(r), [true, true, false])
  r = await page(app, owner, { anchor: String(ids[3]), num_before: '0', num_after: '0' })
  t.same(idsOf(r), [ids[3]])
  t.same(flags(r), [true, false, false], 'num 0 on both sides still knows there is more')
  r = await page(app, owner, { anchor: String(dm + 100), num_before: '1', num_after: '5' })
  t.same(idsOf(r), [dm])
  t.same(flags(r), [false, false, true], 'an anchor past the end')

  const narrow = (n: unknown) => JSON.stringify(n)
  r = await page(app, owner, { anchor: 'oldest', num_before: '0', num_after: '50', narrow: narrow([{ operator: 'stream', operand: 'general' }, { operator: 'topic', operand: 'lunch' }]) })
  t.same(idsOf(r), ids.slice(0, 3), 'topic matches in any letter case')
  r = await page(app, owner, { anchor: String(ids[4]), num_before: '5', num_after: '5', narrow: narrow([['topic', 'LUNCH']]) })
  t.same(idsOf(r), [...ids.slice(0, 3), other])
  t.same(flags(r), [false, true, true], 'an anchor outside the narrow is not found')
  r = await page(app, owner, { anchor: 'newest', num_before: '50', num_after: '0', narrow: narrow([['sender', 'BOB@example.com'], ['stream', 1]]) })
  t.same(idsOf(r), [ids[1], ids[3], ids[5]])
  r = await page(app, owner, { anchor: 'newest', num_before: '50', num_after: '0', narrow: narrow([{ operator: 'search', operand: 'PIZZA' }]) })
  t.same(idsOf(r), [other, dm], 'search is case-insensitive and covers direct messages')
  r = await page(app, owner, { anchor: 'newest', num_before: '50', num_after: '0', narrow: narrow([['search', '100% note 5']]) })
  t.same(idsOf(r), [ids[5]], 'every word must appear, as a word or a word prefix; % and _ separate words')
  r = await page(app, owner, { anchor: 'newest', num_before: '50', num_after: '0', narrow: narrow([['search', 'x_d']]) })
  t.same(idsOf(r), [])
  r = await page(app, owner, { anchor: 'newest', num_before: '50', num_after: '0', narrow: narrow([{ operator: 'dm', operand: [bob.id] }]) })
  t.same(idsOf(r), [dm])
  r = await page(app, bob, { anchor: 'newest', num_before: '50', num_after: '0', narrow: narrow([{ operator: 'stream', operand: 'general', negated: true }]) })
  t.same(idsOf(r), [other, dm])
  r = await page(app, owner, { anchor: 'newest', num_before: '50', num_after: '0', narrow: narrow([['dm', [owner.id]]]) })
  t.same(idsOf(r), [], 'a conversation that never happened is empty, not an error')

  for (const [query, varName] of [
    [{ anchor: 'newest', num_before: '5', num_after: '0', narrow: narrow([['bogus', 1]]) }, 'narrow'],
    [{ anchor: 'newest', num_before: '5', num_after: '0', narrow: narrow([['sender', 'ghost@example.com']]) }, 'narrow'],
    [{ anchor: 'middle', num_before: '5', num_after: '0' }, 'anchor'],
    [{ anchor: 'newest', num_before: '-1', num_after: '0' }, 'num_before'],
    [{ anchor: 'newest', num_before: '5', num_after: '5001' }, 'num_after']
  ] as const) {
    const bad = await page(app, owner, query)
    t.equal(bad.status, 400)
    t.match(bad, { code: 'REQUEST_VARIABLE_INVALID', var_name: varName })
  }
  const broken = await page(app, owner, { num_before: '1', num_after: '0', narrow: '[["stream"' })
  t.match(broken, { status: 400, code: 'INVALID_JSON' })
  const missing = await page(app, owner, { anchor: 'newest', num_after: '0' })
  t.match(missing, { status: 400, code: 'REQUEST_VARIABLE_MISSING', var_name: 'num_before' })
})

t.test('PATCH and DELETE /messages/{id}: sender or admin; others who can read it get 403', async (t) => {
  const { app, owner, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const bob = await createUser('bob@example.com')
  const sid = body(await call(app, alice, 'PUT', '/streams', { name: 'general' })).data.stream_id
  await call(app, bob, 'PUT', `/users/me/subscriptions/${sid}`)
  const id = await send(app, alice, { type: 'stream', to: 'general', topic: 'old', content: 'first' })
  const events = record(app)

  const denied = await call(app, bob, 'PATCH', `/messages/${id}`, { content: 'hacked' })
  t.equal(denied.statusCode, 403)
  t.equal(body(denied).code, 'UNAUTHORIZED_PRINCIPAL')
  for (let i = 0; i < 2; i++) {
    t.equal((await call(app, alice, 'PATCH', `/messages/${id}`, { content: '*second*' })).statusCode, 200, 'the same edit twice succeeds twice')
  }
  let m = body(await call(app, bob, 'GET', `/messages/${id}`)).data.message
  t.match(m, { content: '<p><em>second</em></p>', content_markdown: '*second*', topic: 'old' })
  t.type(m.last_edit_timestamp, 'number')
  t.equal((await call(app, owner, 'PATCH', `/messages/${id}`, { topic: 'New' })).statusCode, 200, 'an admin may edit')
  m = body(await call(app, bob, 'GET', `/messages/${id}`)).data.message
  t.equal(m.topic, 'New')
  t.same((await page(app, bob, { num_before: '5', num_after: '0', narrow: '[["topic","new"]]' })).data.messages.map((x: any) => x.id), [id])
  t.match(events[0], {
    event: { type: 'update_message', message_id: id, content: '*second*', rendered_content: '<p><em>second</em></p>', user_id: alice.id },
    audience: { kind: 'users', userIds: [alice.id, bob.id] }
  })
  t.match(events[2], { event: { type: 'update_message', message_id: id, topic: 'New', user_id: owner.id } })
  t.notOk('content' in (events[2]?.event ?? {}))
  t.equal((await call(app, alice, 'PATCH', `/messages/${id}`, {})).statusCode, 400, 'nothing to change')

  const dm = await send(app, alice, { type: 'direct', to: `[${bob.id}]`, content: 'hi' })
  const noTopic = await call(app, alice, 'PATCH', `/messages/${dm}`, { topic: 'x' })
  t.match(body(noTopic), { code: 'REQUEST_VARIABLE_INVALID', var_name: 'topic' })

  t.equal((await call(app, bob, 'DELETE', `/messages/${id}`)).statusCode, 403)
  events.length = 0
  t.equal((await call(app, alice, 'DELETE', `/messages/${id}`)).statusCode, 200)
  t.same(events, [{ event: { type: 'delete_message', message_id: id, message_type: 'stream', stream_id: sid, topic: 'New' }, audience: { kind: 'users', userIds: [alice.id, bob.id] } }])
  const again = await call(app, alice, 'DELETE', `/messages/${id}`)
  t.equal(again.statusCode, 404, 'a second DELETE: it is gone')
  t.equal((await call(app, alice, 'GET', `/messages/${id}`)).statusCode, 404)
  t.equal((await call(app, owner, 'DELETE', `/messages/${dm}`)).statusCode, 404, 'an admin outside the conversation cannot see it')
  t.equal((await call(app, bob, 'DELETE', `/messages/${dm}`)).statusCode, 403)
  t.equal(await app.messages.maxId(), dm)
})
