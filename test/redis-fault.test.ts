// Redis stopped and started again under running apps (SPEC §11, issue 16 point 8), on a PRIVATE
// redis-server this file starts on a free port (test/support/engines.ts): requests answer 503 SERVER_NOT_READY at once and
// write nothing, service resumes by itself, and caches forget what they may have missed.
import t from 'tap'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import fp from 'fastify-plugin'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ReplyError } from 'ioredis'
import parley, { serverOptions } from '../app.js'
import { loadConfig } from '../plugins/app/config.js'
import { isRedisUnavailable } from '../plugins/app/shared/redis.js'
import { ParleyError } from '../plugins/app/errors.js'
import type { User } from '../plugins/app/stores/users.js'
import { subscriberCache } from '../plugins/app/stores/subscriber-cache.js'
import { body, build, freshRedisPrefix, sameDatabase } from './helper.js'
import { startPrivateRedis } from './support/engines.js'
import { freePort } from '../scripts/nginx.js'

// SIGKILL, as a crash or an operator would, and a start on the same port.
const redis = await startPrivateRedis()
t.teardown(redis.dispose)

const env = { REDIS_URL: redis.url, PARLEY_REDIS_PREFIX: freshRedisPrefix(), PARLEY_RATE_LIMIT: 'on' }
const a = await build(t, env)
const b = await build(t, { ...env, ...sameDatabase(a) })
const member = await a.createUser('fault-member@example.com')

async function me (app: FastifyInstance): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: member.auth } })
}

async function messageCount (): Promise<number> {
  const r = await a.app.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  return Number(r.n)
}

function assertNotReady (t: Pick<typeof import('tap').default, 'equal' | 'same'>, res: LightMyRequestResponse): void {
  t.equal(res.statusCode, 503)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.same(body(res), { result: 'error', msg: 'Server is not ready, try again later', code: 'SERVER_NOT_READY' })
}

t.test('Redis stopped: requests answer 503 SERVER_NOT_READY at once and change nothing; restarted: service resumes by itself', async (t) => {
  const before = await me(a.app)
  t.equal(before.statusCode, 200)
  t.equal(before.headers['x-ratelimit-remaining'], '199')
  const messages = await messageCount()

  await redis.stop()
  let start = Date.now()
  const down = await me(a.app)
  t.ok(Date.now() - start < 1000, `answered in ${Date.now() - start} ms, not held until a timeout`)
  assertNotReady(t, down)
  assertNotReady(t, await a.app.inject({ method: 'GET', url: '/api/v1/server_settings' }))
  assertNotReady(t, await a.app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', payload: { username: member.email, password: 'password123' } }))
  const send = await a.app.inject({ method: 'POST', url: '/api/v1/messages', headers: { authorization: member.auth }, payload: { type: 'direct', to: `[${a.owner.id}]`, content: 'lost?' } })
  assertNotReady(t, send)
  t.equal(await messageCount(), messages, 'the refused send stored nothing')

  await redis.start()
  start = Date.now()
  let back: LightMyRequestResponse | undefined
  while (Date.now() - start < 5000) {
    back = await me(a.app)
    if (back.statusCode === 200) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.equal(back?.statusCode, 200, `served again ${Date.now() - start} ms after Redis's return, with no restart`)
  // The restarted Redis kept nothing: counting starts over.
  t.equal(back?.headers['x-ratelimit-remaining'], '199')
  const sent = await a.app.inject({ method: 'POST', url: '/api/v1/messages', headers: { authorization: member.auth }, payload: { type: 'direct', to: `[${a.owner.id}]`, content: 'after' } })
  t.equal(sent.statusCode, 200)
  t.equal(await messageCount(), messages + 1)
})

t.test('a change made while Redis was down reaches the other process\'s cache once Redis is back', async (t) => {
  const userOf = async (id: number): Promise<User> => {
    const u = await a.app.users.get(id)
    if (u === undefined) throw new Error(`no user ${id}`)
    return u
  }
  const created = await a.app.streams.doCreateStream(await userOf(a.owner.id), { name: 'fault-stream', description: '', invite_only: false })
  // The creation's own notice first, so that it cannot be what tells B below.
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(await b.app.streams.subscriberIds(created.stream_id), [a.owner.id])
  t.same(subscriberCache(b.app.db).lists.get(created.stream_id), [a.owner.id], 'B caches the subscribers')
  const joiner = await userOf(member.id)
  await redis.stop()
  // A request that passed its rate limit just before Redis went away: it commits, but its notice cannot go.
  await a.app.streams.doSubscribe(joiner, created.stream_id)
  t.same(await b.app.streams.subscriberIds(created.stream_id), [a.owner.id], 'B cannot know yet')
  await redis.start()
  const start = Date.now()
  let ids: number[] = []
  while (Date.now() - start < 5000) {
    ids = await b.app.streams.subscriberIds(created.stream_id)
    if (ids.includes(member.id)) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.same(ids, [a.owner.id, member.id], `B forgot its list ${Date.now() - start} ms after Redis's return`)
})

t.test('a start while Redis is unreachable fails within seconds with a message naming REDIS_URL', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-test-'))
  t.teardown(() => { rmSync(dataDir, { recursive: true, force: true }) })
  const app = Fastify(serverOptions(false))
  const config = loadConfig({ PARLEY_DATA_DIR: dataDir, REDIS_URL: `redis://127.0.0.1:${await freePort()}` })
  const start = Date.now()
  await t.rejects(async () => { await app.register(fp(parley), { config }); await app.ready() }, { message: /^REDIS_URL: Redis did not answer within 5 s \(.*ECONNREFUSED/ })
  t.ok(Date.now() - start < 8000, 'gave up within seconds')
  await app.close().catch(() => {})
})

t.test('only connection failures and "not now" replies count as Redis being unavailable', async (t) => {
  t.ok(isRedisUnavailable(new Error('Connection is closed.')))
  t.ok(isRedisUnavailable(new Error("Stream isn't writeable and enableOfflineQueue options is false")))
  t.ok(isRedisUnavailable(new Error('Command timed out')))
  const Reply = ReplyError as new (message: string) => Error
  t.ok(isRedisUnavailable(new Reply('LOADING Redis is loading the dataset in memory')))
  t.ok(isRedisUnavailable(new Reply('READONLY You can\'t write against a read only replica.')))
  t.notOk(isRedisUnavailable(new Reply('ERR wrong number of arguments')), 'our own mistake stays a 500')
  t.notOk(isRedisUnavailable(new ParleyError('NOT_FOUND', 'error.not_found')))
  t.notOk(isRedisUnavailable('a string'))
})
