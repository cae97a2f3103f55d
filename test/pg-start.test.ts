// Processes starting together on one empty PostgreSQL schema all come up: the migrations run once,
// under the schema's advisory lock, and one owner is made.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import parley, { serverOptions } from '../app.js'
import { loadConfig } from '../plugins/app/config.js'
import { migrations } from '../migrations/index.js'
import { body, testDatabase } from './helper.js'

const pg = process.env.PARLEY_TEST_DATABASE_URL !== undefined && process.env.PARLEY_TEST_DATABASE_URL !== ''

async function start (env: Record<string, string>): Promise<FastifyInstance> {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-test-'))
  const app = Fastify(serverOptions(false))
  app.addHook('onClose', async () => { rmSync(dataDir, { recursive: true, force: true }) })
  await app.register(fp(parley), { config: loadConfig({ PARLEY_DATA_DIR: dataDir, PARLEY_RATE_LIMIT: 'off', ...env }) })
  await app.ready()
  return app
}

// SQLite is one process's embedded database: two processes on one schema exist only on PostgreSQL.
t.test('three apps starting at once on an empty schema all come up, migrated once, with one owner', { skip: pg ? false : 'needs PARLEY_TEST_DATABASE_URL (the PostgreSQL run of .ci/run)' }, async (t) => {
  const env = await testDatabase(t)
  const apps = await Promise.all([start(env), start(env), start(env)])
  t.teardown(async () => { await Promise.all(apps.map(async (a) => { await a.close() })) })

  const done = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(apps[0]!.db)
  t.same(done.rows.map((r) => r.name), Object.keys(migrations).sort(), 'each migration recorded once')

  const owners = await Promise.all(apps.map(async (a) => await a.users.ensureOwner('owner@example.com', 'owner-password')))
  t.equal(owners.filter((o) => o.created).length, 1, 'one of them made the owner')
  t.same(owners.map((o) => o.email), ['owner@example.com', 'owner@example.com', 'owner@example.com'])

  // What one process writes, the others read.
  const row = await apps[0]!.users.getRowByEmail('owner@example.com')
  const auth = 'Basic ' + Buffer.from(`owner@example.com:${row?.api_key ?? ''}`).toString('base64')
  const created = await apps[1]!.inject({ method: 'PUT', url: '/api/v1/streams', headers: { authorization: auth }, payload: { name: 'Shared' } })
  t.equal(created.statusCode, 200)
  const listed = await apps[2]!.inject({ method: 'GET', url: '/api/v1/streams', headers: { authorization: auth } })
  t.equal(listed.statusCode, 200)
  t.same(body(listed).data.streams.map((s: { name: string }) => s.name), ['Shared'])
})
