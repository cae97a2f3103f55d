// Two processes on one Redis and one database (SPEC §11), played by two apps in this process on
// the same PARLEY_REDIS_PREFIX and the same data directory: rate limits are counted once for both,
// a change through one is seen by the other's caches at once, and a session works through either.
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { basic, body, build, freshRedisPrefix, sameDatabase } from './helper.js'

// Redis runs on every machine this suite runs on (.ci/run starts it when it is down).
const REDIS_URL = process.env.PARLEY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const shared = { REDIS_URL, PARLEY_REDIS_PREFIX: freshRedisPrefix(), PARLEY_RATE_LIMIT: 'on' }
const a = await build(t, shared)
// B opens A's database: the same SQLite file (WAL mode allows another connection, as another
// process would), or the same PostgreSQL schema when the suite runs on PostgreSQL.
const b = await build(t, { ...shared, ...sameDatabase(a) })
const A = a.app
const B = b.app

/** The notice travels through Redis: how long B may take to apply it, far under the 2-second credential cache. */
const NOTICE_MS = 500

async function me (app: FastifyInstance, auth: string, remoteAddress = '127.0.0.1'): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: auth }, remoteAddress })
}

/** Calls `probe` until it returns true; the milliseconds that took, or undefined after `ms`. */
async function within (ms: number, probe: () => Promise<boolean>): Promise<number | undefined> {
  const start = Date.now()
  for (;;) {
    if (await probe()) return Date.now() - start
    if (Date.now() - start > ms) return undefined
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

t.test('both apps share the Redis connection plugin with the same prefix', async (t) => {
  t.not(A.redis, null)
  t.equal(A.redis?.prefix, shared.PARLEY_REDIS_PREFIX)
  t.equal(B.redis?.prefix, shared.PARLEY_REDIS_PREFIX)
  t.equal(A.redis?.key('x'), `${shared.PARLEY_REDIS_PREFIX}x`)
})

t.test('a user\'s 200 requests a minute are counted once across both processes', async (t) => {
  const u = await a.createUser('shared-limit@example.com')
  for (let i = 0; i < 200; i++) {
    const res = await me(i % 2 === 0 ? A : B, u.auth)
    if (res.statusCode !== 200) { t.fail(`request ${i + 1} answered ${res.statusCode}`); return }
    if (i === 199) {
      t.equal(res.headers['x-ratelimit-limit'], '200')
      t.equal(res.headers['x-ratelimit-remaining'], '0', 'the 200th request, through B, sees A\'s 100')
    }
  }
  for (const app of [A, B]) {
    const over = await me(app, u.auth)
    t.equal(over.statusCode, 429)
    t.equal(over.headers['x-ratelimit-remaining'], '0')
    const retry = Number(over.headers['retry-after'])
    // The window ends on a whole second (Redis's clock): up to 60 s and the fraction of the second it began in, so 61 when rounded up.
    t.ok(Number.isInteger(retry) && retry >= 1 && retry <= 61, `Retry-After within the minute and its starting second (got ${retry})`)
    t.same(body(over), { result: 'error', msg: 'API usage exceeded rate limit', code: 'RATE_LIMIT_HIT', 'retry-after': retry })
  }
  // Both windows, minute and hour, come from one count: the reset is the same through either process.
  const other = await a.createUser('shared-limit-other@example.com')
  const first = await me(A, other.auth)
  const second = await me(B, other.auth)
  t.equal(first.headers['x-ratelimit-remaining'], '199')
  t.equal(second.headers['x-ratelimit-remaining'], '198')
  t.equal(second.headers['x-ratelimit-reset'], first.headers['x-ratelimit-reset'])
})

t.test('anonymous requests from one address are counted once across both processes', async (t) => {
  const remoteAddress = '10.9.0.1'
  for (let i = 0; i < 100; i++) {
    const res = await (i < 50 ? A : B).inject({ method: 'GET', url: '/api/v1/server_settings', remoteAddress })
    if (res.statusCode !== 200) { t.fail(`request ${i + 1} answered ${res.statusCode}`); return }
  }
  const over = await A.inject({ method: 'GET', url: '/api/v1/server_settings', remoteAddress })
  t.equal(over.statusCode, 429)
  t.match(body(over), { code: 'RATE_LIMIT_HIT' })
  const elsewhere = await B.inject({ method: 'GET', url: '/api/v1/server_settings', remoteAddress: '10.9.0.2' })
  t.equal(elsewhere.statusCode, 200)
  t.equal(elsewhere.headers['x-ratelimit-remaining'], '99')
})

t.test('five failed logins through one process refuse the sixth attempt through the other', async (t) => {
  const u = await a.createUser('shared-login@example.com')
  const attempt = async (app: FastifyInstance, password: string): Promise<LightMyRequestResponse> =>
    await app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', payload: { username: u.email, password } })
  for (let i = 0; i < 5; i++) {
    const res = await attempt(i < 3 ? A : B, 'wrong-password')
    t.equal(res.statusCode, 401, `failure ${i + 1}`)
  }
  const refused = await attempt(A, 'password123')
  t.equal(refused.statusCode, 429, 'even the right password waits')
  t.match(body(refused), { result: 'error', code: 'RATE_LIMIT_HIT' })
  const refusedB = await attempt(B, 'password123')
  t.equal(refusedB.statusCode, 429)
})

t.test('a user deactivated through A is refused by B at once, not when B\'s credential cache expires', async (t) => {
  const u = await a.createUser('shared-deactivate@example.com')
  t.equal((await me(B, u.auth)).statusCode, 200, 'B has the look-up cached')
  const del = await A.inject({ method: 'DELETE', url: `/api/v1/users/${u.id}`, headers: { authorization: a.owner.auth } })
  t.equal(del.statusCode, 200)
  let last: LightMyRequestResponse | undefined
  const took = await within(NOTICE_MS, async () => { last = await me(B, u.auth); return last.statusCode !== 200 })
  t.ok(took !== undefined, `B refused within ${NOTICE_MS} ms (took ${String(took)} ms)`)
  t.equal(last?.statusCode, 401)
  t.equal(last?.headers['www-authenticate'], 'Basic realm="parley"')
  t.match(body(last!), { result: 'error', code: 'USER_DEACTIVATED' })
})

t.test('a key regenerated through A stops working through B at once, and the new one works there', async (t) => {
  const u = await a.createUser('shared-regenerate@example.com')
  t.equal((await me(B, u.auth)).statusCode, 200, 'B has the look-up cached')
  const res = await A.inject({ method: 'POST', url: '/api/v1/users/me/api_key/regenerate', headers: { authorization: u.auth } })
  t.equal(res.statusCode, 200)
  const fresh = basic(u.email, body(res).data.api_key as string)
  let last: LightMyRequestResponse | undefined
  const took = await within(NOTICE_MS, async () => { last = await me(B, u.auth); return last.statusCode !== 200 })
  t.ok(took !== undefined, `B refused the old key within ${NOTICE_MS} ms (took ${String(took)} ms)`)
  t.equal(last?.statusCode, 401)
  t.match(body(last!), { result: 'error', code: 'UNAUTHORIZED' })
  const ok = await me(B, fresh)
  t.equal(ok.statusCode, 200, ok.payload)
  t.equal(body(ok).data.user.user_id, u.id)
})

t.test('a subscription made through A is in B\'s fan-out of the next message sent through B', async (t) => {
  const sender = await a.createUser('shared-sender@example.com')
  const joiner = await a.createUser('shared-joiner@example.com')
  const created = await A.inject({ method: 'PUT', url: '/api/v1/streams', headers: { authorization: sender.auth }, payload: { name: 'shared-fanout', description: '' } })
  t.equal(created.statusCode, 200)
  const streamId = body(created).data.stream_id as number
  const reg = await B.inject({ method: 'POST', url: '/api/v1/register', headers: { authorization: joiner.auth }, payload: { event_types: '["message"]' } })
  t.equal(reg.statusCode, 200)
  const queueId = body(reg).data.queue_id as string
  const send = async (content: string): Promise<void> => {
    const res = await B.inject({ method: 'POST', url: '/api/v1/messages', headers: { authorization: sender.auth }, payload: { type: 'stream', to: String(streamId), topic: 'fan-out', content } })
    t.equal(res.statusCode, 200, `sent "${content}"`)
  }
  await send('before') // B caches the stream's subscribers: the sender alone
  t.same(await B.streams.subscriberIds(streamId), [sender.id])

  const sub = await A.inject({ method: 'PUT', url: `/api/v1/users/me/subscriptions/${streamId}`, headers: { authorization: joiner.auth } })
  t.equal(sub.statusCode, 200)
  const took = await within(NOTICE_MS, async () => (await B.streams.subscriberIds(streamId)).includes(joiner.id))
  t.ok(took !== undefined, `B's subscriber list has the joiner within ${NOTICE_MS} ms (took ${String(took)} ms)`)
  await send('after')
  const events = await B.inject({ method: 'GET', url: `/api/v1/events?queue_id=${queueId}&last_event_id=-1&dont_block=true`, headers: { authorization: joiner.auth } })
  t.equal(events.statusCode, 200)
  const contents = (body(events).data.events as Array<{ type: string, message?: { content_markdown?: string, content: string } }>)
    .filter((e) => e.type === 'message').map((e) => e.message?.content)
  t.same(contents, ['<p>after</p>'], 'the joiner got the message sent after joining, not the one before')
})

t.test('a session started through A works through B (sessions live in the database)', async (t) => {
  const u = await a.createUser('shared-session@example.com')
  const { token, csrfToken } = await A.sessions.create(u.id)
  const res = await B.inject({ method: 'GET', url: '/json/users/me', headers: { cookie: `parley_session=${token}` } })
  t.equal(res.statusCode, 200)
  t.equal(body(res).data.user.user_id, u.id)
  const patched = await B.inject({ method: 'PATCH', url: `/json/users/${u.id}`, headers: { cookie: `parley_session=${token}`, 'x-csrf-token': csrfToken }, payload: { full_name: 'Shared Session' } })
  t.equal(patched.statusCode, 200)
  await A.sessions.destroy(token)
  const after = await B.inject({ method: 'GET', url: '/json/users/me', headers: { cookie: `parley_session=${token}` } })
  t.equal(after.statusCode, 401)
})
