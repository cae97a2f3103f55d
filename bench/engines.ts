// The shared engines a benchmark may use (PostgreSQL, Redis, nginx): whether each is there
// (a benchmark that needs one prints why it is left out instead of failing), and fresh
// databases and Redis key prefixes of the benchmark's own, removed when it is done.
import { existsSync } from 'node:fs'
import pg from 'pg'
import { Redis } from 'ioredis'
import { NGINX } from '../scripts/nginx.js'

/** The PostgreSQL server's maintenance database: benchmarks create and drop theirs through it. */
export const PG_ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'

function reason (err: unknown): string {
  return err instanceof Error ? (err.message === '' ? err.name : err.message) : String(err)
}

/** Undefined when PostgreSQL answers at `url`, otherwise why not. */
export async function postgresMissing (url = PG_ADMIN_URL): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('select 1')
    return undefined
  } catch (err) {
    return `PostgreSQL at ${url} does not answer (${reason(err)})`
  } finally {
    await client.end().catch(() => {})
  }
}

/** Undefined when Redis answers PING at `url`, otherwise why not. */
export async function redisMissing (url = REDIS_URL): Promise<string | undefined> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 })
  // ioredis rejects with "Connection is closed."; the socket's own error says why.
  let cause: Error | undefined
  r.on('error', (err: Error) => { cause ??= err })
  try {
    await r.connect()
    await r.ping()
    return undefined
  } catch (err) {
    return `Redis at ${url} does not answer (${reason(cause ?? err)})`
  } finally {
    r.disconnect()
  }
}

export function nginxMissing (): string | undefined {
  return existsSync(NGINX) ? undefined : `${NGINX} is missing (apt-get install nginx)`
}

/** The first reason any of `checks` gives, or undefined when all is there. */
export async function missing (...checks: Array<Promise<string | undefined> | string | undefined>): Promise<string | undefined> {
  return (await Promise.all(checks)).find((r) => r !== undefined)
}

/** A database name of this process: parley_bench_<pid>[_suffix]. */
export function databaseName (suffix?: string): string {
  return `parley_bench_${process.pid}${suffix === undefined ? '' : `_${suffix}`}`
}

async function admin<T> (fn: (client: pg.Client) => Promise<T>, url = PG_ADMIN_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try { return await fn(client) } finally { await client.end() }
}

/** `url` with its database replaced by `name`. */
export function databaseUrl (name: string, url = PG_ADMIN_URL): string {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

/** A fresh database `name` (a copy of `template` when given: a file copy, much faster than seeding again); its URL. */
export async function createPostgres (name: string, template?: string, url = PG_ADMIN_URL): Promise<string> {
  await admin(async (c) => {
    await c.query(`drop database if exists ${name} with (force)`)
    await c.query(`create database ${name}${template === undefined ? '' : ` template ${template}`}`)
  }, url)
  return databaseUrl(name, url)
}

export async function dropPostgres (name: string, url = PG_ADMIN_URL): Promise<void> {
  await admin(async (c) => { await c.query(`drop database if exists ${name} with (force)`) }, url)
}

/** A Redis key prefix of this process: parley-bench-<pid>-<tag>: (inside the prefixes this helper may use). */
export function redisPrefix (tag: string): string {
  return `parley-bench-${process.pid}-${tag}:`
}

/** Deletes every key under `prefix` (never a FLUSH: the Redis is shared). */
export async function deleteRedisKeys (prefix: string, url = REDIS_URL): Promise<number> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  r.on('error', () => {})
  let deleted = 0
  try {
    await r.connect()
    let cursor = '0'
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length > 0) deleted += await r.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    r.disconnect()
  }
  return deleted
}
