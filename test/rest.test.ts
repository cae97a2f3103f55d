import t from 'tap'
import { body, build } from './helper.js'

t.test('OPTIONS /api/v1/users answers 204 with the sorted Allow header, before auth', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ method: 'OPTIONS', url: '/api/v1/users' })
  t.equal(res.statusCode, 204)
  t.equal(res.headers.allow, 'GET, HEAD, PUT')
  t.equal(res.payload, '')
})

t.test('GET /api/v1/users/me with Basic auth', async (t) => {
  const { app, owner } = await build(t)
  const res = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: owner.auth } })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], 'application/json; charset=utf-8')
  t.match(body(res), { result: 'success', msg: '', data: { user: { email: 'owner@example.com', role: 'owner', is_admin: true } } })
})
