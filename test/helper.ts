// Builds the real app for tests: a fresh data dir, the real plugins, no listening socket.
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import fp from 'fastify-plugin'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import parley, { serverOptions } from '../app.js'
import { ParleyError } from '../plugins/app/errors.js'
import { loadConfig } from '../plugins/app/config.js'
import { Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'

export interface TestUser { id: number, email: string, apiKey: string, auth: string }

export interface Built {
  app: FastifyInstance
  dataDir: string
  owner: TestUser
  /** Creates a user directly through the store and returns its credentials. */
  createUser: (email: string, role?: 'owner' | 'admin' | 'member' | 'guest') => Promise<TestUser>
}

interface Tap { teardown: (fn: () => unknown) => void }

export function basic (email: string, apiKey: string): string {
  return 'Basic ' + Buffer.from(`${email}:${apiKey}`).toString('base64')
}

/**
 * PARLEY_TEST_REDIS_URL set: REDIS_URL and a fresh PARLEY_REDIS_PREFIX for one build, so builds
 * (and test files running at once) never see each other's keys. An env given to build() wins.
 */
export function testRedis (): Record<string, string> {
  const url = process.env.PARLEY_TEST_REDIS_URL
  if (url === undefined || url === '') return {}
  return { REDIS_URL: url, PARLEY_REDIS_PREFIX: freshRedisPrefix() }
}

/** A prefix no other test uses; `parley-` as the machine's Redis is shared with other work. */
export function freshRedisPrefix (): string {
  return `parley-test-${randomBytes(6).toString('hex')}:`
}

/** Deletes every key under `prefix` (SCAN, never FLUSHDB: the Redis may be shared). */
export async function deleteRedisKeys (url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 1000 })
  try {
    await redis.connect()
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.unlink(...keys)
    } while (cursor !== '0')
  } catch {
    // Redis gone (a fault test stopped its own): nothing left to delete there.
  } finally {
    redis.disconnect()
  }
}

/** The env that makes a second build() open `built`'s database, as a second process would. */
export function sameDatabase (built: Built): Record<string, string> {
  const url = built.app.config.databaseUrl
  return url === undefined ? { PARLEY_DATA_DIR: built.dataDir } : { PARLEY_DATA_DIR: built.dataDir, DATABASE_URL: url }
}

export async function build (t: Tap, env: Record<string, string> = {}, logger: unknown = false): Promise<Built> {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-test-'))
  const config = loadConfig({ PARLEY_DATA_DIR: dataDir, PARLEY_RATE_LIMIT: 'off', ...testRedis(), ...env })
  const app = Fastify(serverOptions(logger as never))
  await app.register(fp(parley), { config })
  await app.ready()
  t.teardown(async () => {
    await app.close()
    if (config.redisUrl !== undefined) await deleteRedisKeys(config.redisUrl, config.redisPrefix)
    rmSync(dataDir, { recursive: true, force: true })
  })
  const asTestUser = async (email: string): Promise<TestUser> => {
    const row = await app.users.getRowByEmail(email)
    if (row === undefined) throw new Error(`no user ${email}`)
    return { id: row.id, email: row.email, apiKey: row.api_key, auth: basic(row.email, row.api_key) }
  }
  await app.users.ensureOwner('owner@example.com', 'owner-password')
  const owner = await asTestUser('owner@example.com')
  return {
    app,
    dataDir,
    owner,
    createUser: async (email, role = 'member') => {
      await app.users.doCreateUser({ email, password: 'password123', full_name: email.split('@')[0] ?? email, role })
      return await asTestUser(email)
    }
  }
}

/** The parsed JSON body of an inject response. */
export function body (res: LightMyRequestResponse): any {
  return JSON.parse(res.payload)
}

/** The coded error `fn` throws; fails the test when it returns or throws anything else. */
export function rejection (fn: () => unknown): ParleyError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ParleyError) return err
    throw err
  }
  throw new Error('expected a ParleyError')
}

export interface WebhookBot { user_id: number, email: string, api_key: string }

/** An incoming-webhook bot made through POST /bots by `auth`'s user (its answer: id, email, key). */
export async function webhookBot (app: FastifyInstance, auth: string, shortName: string, extra: Record<string, string> = {}): Promise<WebhookBot> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/bots',
    headers: { authorization: auth },
    payload: { full_name: `${shortName} bot`, short_name: shortName, bot_type: 'incoming_webhook', ...extra }
  })
  if (res.statusCode !== 200) throw new Error(`POST /bots: ${res.payload}`)
  return body(res).data
}
