// Rate limits (SPEC §5): per user, per IP for anonymous calls, authentication failures per username.
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { body, build } from './helper.js'

// One rate-limited app; each test uses its own user or client address, so counters do not mix.
const { app, owner, createUser } = await build(t, { PARLEY_RATE_LIMIT: 'on' })

type Test = Pick<typeof t, 'equal' | 'ok' | 'same'>

function nowSeconds (): number { return Math.floor(Date.now() / 1000) }

function assertLimitHeaders (t: Test, res: LightMyRequestResponse, limit: number, remaining: number): void {
  t.equal(res.headers['x-ratelimit-limit'], String(limit))
  t.equal(res.headers['x-ratelimit-remaining'], String(remaining))
  const reset = Number(res.headers['x-ratelimit-reset'])
  t.ok(Number.isInteger(reset), 'reset is whole Unix seconds')
  t.ok(reset > nowSeconds(), 'reset is in the future')
  t.ok(reset <= nowSeconds() + 61, 'reset is within the minute window')
}

function assertLimited (t: Test, res: LightMyRequestResponse): void {
  t.equal(res.statusCode, 429)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  const retry = Number(res.headers['retry-after'])
  t.ok(Number.isInteger(retry) && retry >= 1, 'Retry-After is a positive number of seconds')
  t.same(body(res), { result: 'error', msg: 'API usage exceeded rate limit', code: 'RATE_LIMIT_HIT', 'retry-after': retry })
}

t.test('every authenticated response carries X-RateLimit-Limit, -Remaining and -Reset', async (t) => {
  const u = await createUser('rl-headers@example.com')
  const ok = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: u.auth } })
  t.equal(ok.statusCode, 200)
  assertLimitHeaders(t, ok, 200, 199)
  // Errors after authentication count and carry the headers too.
  const missing = await app.inject({ method: 'GET', url: '/api/v1/users/999999', headers: { authorization: u.auth } })
  t.equal(missing.statusCode, 404)
  assertLimitHeaders(t, missing, 200, 198)
  const invalid = await app.inject({ method: 'PATCH', url: `/api/v1/users/${u.id}`, headers: { authorization: u.auth }, payload: { full_name: '' } })
  t.equal(invalid.statusCode, 400)
  assertLimitHeaders(t, invalid, 200, 197)
})

t.test('the 201st request in a minute by one user answers 429 RATE_LIMIT_HIT with Retry-After', async (t) => {
  const u = await createUser('rl-user@example.com')
  const other = await createUser('rl-user-other@example.com')
  let last: LightMyRequestResponse | undefined
  for (let i = 0; i < 200; i++) {
    last = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: u.auth } })
    if (last.statusCode !== 200) break
  }
  t.equal(last?.statusCode, 200, '200 requests pass')
  assertLimitHeaders(t, last!, 200, 0)
  const over = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: u.auth } })
  assertLimited(t, over)
  t.equal(over.headers['x-ratelimit-remaining'], '0')
  // The session mount counts against the same user.
  const { token } = await app.sessions.create(u.id)
  const json = await app.inject({ method: 'GET', url: '/json/users/me', headers: { cookie: `parley_session=${token}` } })
  assertLimited(t, json)
  // Another user is not affected.
  const fine = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: other.auth } })
  t.equal(fine.statusCode, 200)
})

t.test('anonymous requests are limited to 100 a minute per IP', async (t) => {
  const remoteAddress = '10.0.0.1'
  let last: LightMyRequestResponse | undefined
  for (let i = 0; i < 100; i++) {
    last = await app.inject({ method: 'GET', url: '/api/v1/server_settings', remoteAddress })
    if (last.statusCode !== 200) break
  }
  t.equal(last?.statusCode, 200, '100 requests pass')
  assertLimitHeaders(t, last!, 100, 0)
  const over = await app.inject({ method: 'GET', url: '/api/v1/server_settings', remoteAddress })
  assertLimited(t, over)
  const otherIp = await app.inject({ method: 'GET', url: '/api/v1/server_settings', remoteAddress: '10.0.0.2' })
  t.equal(otherIp.statusCode, 200)
  assertLimitHeaders(t, otherIp, 100, 99)
  // Credentials on an anonymous verb count against the user, not the address.
  const asUser = await app.inject({ method: 'GET', url: '/api/v1/server_settings', remoteAddress, headers: { authorization: owner.auth } })
  t.equal(asUser.statusCode, 200)
  t.equal(asUser.headers['x-ratelimit-limit'], '200')
})

t.test('fetch_api_key: after 5 failures for one username the 6th attempt is 429, even with the right password', async (t) => {
  const u = await createUser('rl-login@example.com')
  const remoteAddress = '10.0.1.1'
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', remoteAddress, payload: { username: u.email, password: `wrong-${i}` } })
    t.equal(res.statusCode, 401, `failure ${i + 1}`)
    t.match(body(res), { code: 'UNAUTHORIZED' })
  }
  const right = await app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', remoteAddress, payload: { username: u.email, password: 'password123' } })
  assertLimited(t, right)
  t.notOk(right.payload.includes(u.apiKey))
  // The username is the account, whatever its letter case or surrounding spaces.
  for (const username of ['RL-LOGIN@example.com', ' rl-login@example.com ']) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', remoteAddress, payload: { username, password: 'password123' } })
    assertLimited(t, res)
  }
  // Another username from the same address still works.
  const other = await createUser('rl-login-other@example.com')
  const fine = await app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', remoteAddress, payload: { username: other.email, password: 'password123' } })
  t.equal(fine.statusCode, 200)
  t.equal(body(fine).data.api_key, other.apiKey)
})

t.test('with PARLEY_RATE_LIMIT=off no rate-limit headers are sent and nothing is limited', async (t) => {
  const off = await build(t, { PARLEY_RATE_LIMIT: 'off' })
  const res = await off.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: off.owner.auth } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-ratelimit-limit'], undefined)
  t.equal(res.headers['x-ratelimit-remaining'], undefined)
  t.equal(res.headers['x-ratelimit-reset'], undefined)
  for (let i = 0; i < 6; i++) {
    const bad = await off.app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', payload: { username: off.owner.email, password: 'wrong-password' } })
    t.equal(bad.statusCode, 401)
  }
  const right = await off.app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', payload: { username: off.owner.email, password: 'owner-password' } })
  t.equal(right.statusCode, 200)
  t.equal(right.headers['x-ratelimit-limit'], undefined)
})

t.test('behind a proxy on loopback the client address comes from X-Forwarded-For; a remote client cannot choose its own', async (t) => {
  const viaProxy = (ip: string): Promise<LightMyRequestResponse> =>
    app.inject({ method: 'GET', url: '/api/v1/server_settings', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': ip } })
  const first = await viaProxy('203.0.113.7')
  assertLimitHeaders(t, first, 100, 99)
  // Another client behind the same nginx has a counter of its own.
  assertLimitHeaders(t, await viaProxy('203.0.113.8'), 100, 99)
  assertLimitHeaders(t, await viaProxy('203.0.113.7'), 100, 98)
  // Not from loopback: the header is not believed, the socket's address counts.
  const spoofed = await app.inject({ method: 'GET', url: '/api/v1/server_settings', remoteAddress: '10.0.0.9', headers: { 'x-forwarded-for': '203.0.113.7' } })
  assertLimitHeaders(t, spoofed, 100, 99)
})
