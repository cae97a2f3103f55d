// Builds the real app for tests: a fresh data dir (and, with PARLEY_TEST_DATABASE_URL, a fresh
// PostgreSQL schema), the real plugins, no listening socket.
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import fp from 'fastify-plugin'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import parley, { serverOptions } from '../app.js'
import { ParleyError } from '../plugins/app/errors.js'
import { loadConfig } from '../plugins/app/config.js'
import { randomBytes } from 'node:crypto'
import pg from 'pg'

export interface TestUser { id: number, email: string, apiKey: string, auth: string }

export interface Built {
  app: FastifyInstance
  dataDir: string
  /** The environment the app was built with beyond PARLEY_DATA_DIR (DATABASE_URL on PostgreSQL): what a second app on the same data needs. */
  env: Record<string, string>
  owner: TestUser
  /** Creates a user directly through the store and returns its credentials. */
  createUser: (email: string, role?: 'owner' | 'admin' | 'member' | 'guest') => Promise<TestUser>
}

interface Tap { teardown: (fn: () => unknown) => void }

/** One connection per test process to PARLEY_TEST_DATABASE_URL's database, for creating and dropping schemas. */
let admin: pg.Pool | undefined

/**
 * With PARLEY_TEST_DATABASE_URL (a postgres:// URL of a database the tests may fill), a fresh
 * schema in it, dropped at `t`'s teardown: `{ DATABASE_URL }` naming that schema as the
 * connection's search_path. Without it, `{}`: the app uses SQLite in its data dir.
 * A test that starts a second app on the same data passes this env to it too.
 */
export async function testDatabase (t: Tap): Promise<Record<string, string>> {
  const base = process.env.PARLEY_TEST_DATABASE_URL
  if (base === undefined || base === '') return {}
  admin ??= new pg.Pool({ connectionString: base, max: 1, allowExitOnIdle: true })
  const schema = `parley_t${process.pid}_${randomBytes(6).toString('hex')}`
  await admin.query(`create schema ${schema}`)
  t.teardown(async () => { await admin?.query(`drop schema ${schema} cascade`) })
  const url = new URL(base)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return { DATABASE_URL: url.toString() }
}

export function basic (email: string, apiKey: string): string {
  return 'Basic ' + Buffer.from(`${email}:${apiKey}`).toString('base64')
}

export async function build (t: Tap, env: Record<string, string> = {}, logger: unknown = false): Promise<Built> {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-test-'))
  t.teardown(() => { rmSync(dataDir, { recursive: true, force: true }) })
  // Registered before the app's own teardown, so it runs after it (tap runs teardowns last-in first-out).
  const database = await testDatabase(t)
  const config = loadConfig({ PARLEY_DATA_DIR: dataDir, PARLEY_RATE_LIMIT: 'off', ...database, ...env })
  const app = Fastify(serverOptions(logger as never))
  t.teardown(async () => { await app.close() })
  await app.register(fp(parley), { config })
  await app.ready()
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
    env: database,
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
