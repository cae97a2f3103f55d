// Values that differ between the engines answer the same on both: numbers beyond 64 bits (SQLite
// compares them as reals, PostgreSQL's bigint refuses them) and bigint columns (pg answers strings).
import t from 'tap'
import { clampParameters } from '../plugins/app/db/postgres.js'
import { body, build } from './helper.js'

t.test('ids and anchors beyond 64 bits answer as any id that does not exist, never a 500', async (t) => {
  const { app, owner } = await build(t)
  const get = async (url: string) => await app.inject({ method: 'GET', url: `/api/v1${url}`, headers: { authorization: owner.auth } })

  for (const anchor of ['1e300', '9223372036854775808']) {
    const res = await get(`/messages?anchor=${anchor}&num_before=1&num_after=1`)
    t.equal(res.statusCode, 200, anchor)
    t.same(body(res), { result: 'success', msg: '', data: { messages: [], found_anchor: false, found_newest: true, found_oldest: true } })
  }
  const stream = await get('/streams/1e300')
  t.equal(stream.statusCode, 404)
  t.same(body(stream), { result: 'error', msg: 'Invalid stream ID: 1e+300', code: 'NOT_FOUND' })
  const user = await get('/users/1e20')
  t.equal(user.statusCode, 404)
  t.same(body(user), { result: 'error', msg: 'No such user', code: 'NOT_FOUND' })
  const dm = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: { authorization: owner.auth }, payload: { type: 'direct', to: '[1e300]', content: 'x' } })
  t.equal(dm.statusCode, 400)
  t.same(body(dm), { result: 'error', msg: "Invalid 'to': no such user: 1e+300", code: 'REQUEST_VARIABLE_INVALID', var_name: 'to' })
})

t.test('clampParameters puts bigint bounds in place of numbers beyond them and leaves everything else', async (t) => {
  const inside = [1, -1, 2 ** 53, -(2 ** 63), 'x', null, true]
  t.equal(clampParameters(inside), inside, 'the same array when nothing changes')
  t.same(clampParameters([2 ** 63, 1e300, -1e300, 5, Infinity]), ['9223372036854775807', '9223372036854775807', '-9223372036854775808', 5, '9223372036854775807'])
})

t.test('ids, times and counts are JSON numbers (pg answers bigint as text)', async (t) => {
  const { app, owner, createUser } = await build(t)
  const bob = await createUser('bob@example.com')
  const created = body(await app.inject({ method: 'PUT', url: '/api/v1/streams', headers: { authorization: owner.auth }, payload: { name: 'Numbers', principals: JSON.stringify([bob.id]) } }))
  t.type(created.data.stream_id, 'number')
  const sent = body(await app.inject({ method: 'POST', url: '/api/v1/messages', headers: { authorization: owner.auth }, payload: { type: 'stream', to: 'Numbers', topic: 't', content: 'hi' } }))
  t.type(sent.data.id, 'number')
  const page = body(await app.inject({ method: 'GET', url: '/api/v1/messages?anchor=newest&num_before=5&num_after=0', headers: { authorization: bob.auth } }))
  const [m] = page.data.messages
  for (const k of ['id', 'sender_id', 'stream_id', 'timestamp']) t.type(m[k], 'number', k)
  const registered = body(await app.inject({ method: 'POST', url: '/api/v1/register', headers: { authorization: bob.auth }, payload: {} }))
  t.match(registered.data.unread_msgs, { count: 1, streams: [{ stream_id: created.data.stream_id, topic: 't', unread_message_ids: [sent.data.id] }] })
  t.type(registered.data.max_message_id, 'number')
  const me = body(await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: bob.auth } }))
  t.type(me.data.user.date_joined, 'number')
  t.equal(await app.users.countOwners(), 1)
})
