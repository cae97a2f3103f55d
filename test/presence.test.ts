import t from 'tap'
import type { Published } from '../plugins/app/events/bus.js'
import { body, build } from './helper.js'

t.test('POST /users/me/presence records the status, GET /realm/presence shows it, everyone hears of a change', async (t) => {
  const { app, owner, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const events: Published[] = []
  app.bus.subscribe((p) => { events.push(p) })
  const post = (auth: string, status: string) => app.inject({
    method: 'POST',
    url: '/api/v1/users/me/presence',
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    payload: `status=${status}`
  })

  t.same(body(await app.inject({ method: 'GET', url: '/api/v1/realm/presence', headers: { authorization: owner.auth } })).data, { presences: {} })
  const res = await post(alice.auth, 'active')
  t.equal(res.statusCode, 200)
  t.same(body(res), { result: 'success', msg: '', data: {} })
  t.equal(events.length, 1)
  t.match(events[0], { event: { type: 'presence', user_id: alice.id, email: 'alice@example.com', presence: { status: 'active' } }, audience: { kind: 'all' } })

  await post(alice.auth, 'active')
  t.equal(events.length, 1, 'an unchanged status reported again soon is not re-broadcast')
  await post(alice.auth, 'idle')
  t.equal(events.length, 2)
  t.match(events[1], { event: { presence: { status: 'idle' } } })

  const got = await app.inject({ method: 'GET', url: '/api/v1/realm/presence', headers: { authorization: owner.auth } })
  t.equal(got.statusCode, 200)
  const presences = body(got).data.presences
  t.same(Object.keys(presences), [String(alice.id)])
  t.equal(presences[String(alice.id)].status, 'idle')
  t.type(presences[String(alice.id)].timestamp, 'number')
  t.same(await app.presence.all(), presences)

  const bad = await post(alice.auth, 'away')
  t.equal(bad.statusCode, 400)
  t.match(body(bad), { code: 'REQUEST_VARIABLE_INVALID', var_name: 'status' })
  const missing = await app.inject({ method: 'POST', url: '/api/v1/users/me/presence', headers: { authorization: alice.auth } })
  t.match(body(missing), { code: 'REQUEST_VARIABLE_MISSING', var_name: 'status' })

  await app.users.doDeactivateUser((await app.users.get(owner.id))!, alice.id)
  t.same(await app.presence.all(), {}, 'deactivated users drop out')
})
