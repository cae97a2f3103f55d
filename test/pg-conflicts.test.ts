// A busy PostgreSQL never answers 500: a transaction that loses a deadlock or a serialization
// failure is run again (plugins/app/db/postgres.ts), one that keeps losing, or a statement cut off
// by PARLEY_DB_STATEMENT_TIMEOUT_MS, answers 503 SERVER_NOT_READY with Retry-After, rolled back.
import t from 'tap'
import { sql } from 'kysely'
import pg from 'pg'
import { setTimeout as sleep } from 'node:timers/promises'
import { body, build, testDatabase } from './helper.js'
import { KYSELY_LOCK_CLASS, LOCK_CLASS, retryConflicts } from '../plugins/app/db/postgres.js'
import { migrate, openPostgres } from '../plugins/app/db/db.js'
import { isDatabaseBusy, isTransientConflict } from '../plugins/app/db/engine-errors.js'
import { toParleyError } from '../plugins/app/errors.js'

const pgRun = process.env.PARLEY_TEST_DATABASE_URL !== undefined && process.env.PARLEY_TEST_DATABASE_URL !== ''
const skip = pgRun ? false : 'needs PARLEY_TEST_DATABASE_URL (the PostgreSQL run of .ci/run): SQLite has one connection, no deadlocks and no statement timeout'

/** An error as pg makes it: the SQLSTATE in `code`. */
function pgError (code: string): Error & { code: string } {
  return Object.assign(new Error(`injected ${code}`), { code })
}

const noWait = { attempts: 3, delayMs: 0 }

t.test('retryConflicts: a deadlock or serialization failure is run again, up to 3 runs; anything else at once', async (t) => {
  let runs = 0
  t.equal(await retryConflicts(async () => { if (++runs < 3) throw pgError(runs === 1 ? '40P01' : '40001'); return 'done' }, noWait), 'done')
  t.equal(runs, 3, 'two conflicts, then success')

  runs = 0
  await t.rejects(retryConflicts(async () => { runs++; throw pgError('40P01') }, noWait), { code: '40P01' })
  t.equal(runs, 3, 'the third conflict is thrown')

  for (const code of ['57014', '23505', '42P01']) {
    runs = 0
    await t.rejects(retryConflicts(async () => { runs++; throw pgError(code) }, noWait), { code })
    t.equal(runs, 1, `${code} is not run again`)
  }
})

t.test('conflicts and cancelled statements are 503 SERVER_NOT_READY with Retry-After; other database errors are not', async (t) => {
  for (const code of ['40P01', '40001', '57014', '55P03']) {
    t.ok(isDatabaseBusy(pgError(code)), code)
    const coded = toParleyError(pgError(code))
    t.match(coded, { statusCode: 503, code: 'SERVER_NOT_READY', message: 'The database is busy, try again in a moment', headers: { 'retry-after': '1' } }, code)
  }
  t.ok(isTransientConflict(pgError('40P01')) && isTransientConflict(pgError('40001')))
  t.notOk(isTransientConflict(pgError('57014')), 'a timeout is not run again')
  for (const code of ['23505', '42601', 'SQLITE_BUSY']) {
    t.notOk(isDatabaseBusy(pgError(code)), code)
    t.equal(toParleyError(pgError(code)), undefined, `${code}: not ours to map (a 500 or the store's own answer)`)
  }
})

t.test('two transactions taking row locks in opposite order: PostgreSQL kills one, it runs again and both commit', { skip }, async (t) => {
  const { app, owner } = await build(t)
  const ids: number[] = []
  for (const name of ['left', 'right']) {
    const res = await app.inject({ method: 'PUT', url: '/api/v1/streams', headers: { authorization: owner.auth }, payload: { name } })
    ids.push(body(res).data.stream_id as number)
  }
  // Each first run takes its first lock, then waits for the other's: a certain deadlock.
  let arrived = 0
  let release = (): void => {}
  const bothLocked = new Promise<void>((resolve) => { release = resolve })
  const runs = { a: 0, b: 0 }
  const transfer = async (who: 'a' | 'b', first: number, second: number): Promise<string> =>
    await app.db.transaction().execute(async (trx) => {
      const run = ++runs[who]
      await trx.updateTable('streams').set({ description: `${who}${run}` }).where('id', '=', first).execute()
      if (run === 1) {
        if (++arrived === 2) release()
        await bothLocked
      }
      await trx.updateTable('streams').set({ description: `${who}${run}` }).where('id', '=', second).execute()
      return `${who}${run}`
    })
  const [a, b] = await Promise.all([transfer('a', ids[0] as number, ids[1] as number), transfer('b', ids[1] as number, ids[0] as number)])
  t.same([runs.a + runs.b, Math.max(runs.a, runs.b)], [3, 2], 'one of them ran twice')
  const loser = runs.a === 2 ? a : b
  t.same([a, b].sort(), (runs.a === 2 ? ['a2', 'b1'] : ['a1', 'b2']).sort(), 'both committed')
  const rows = await app.db.selectFrom('streams').select('description').where('id', 'in', ids).execute()
  t.same(rows.map((r) => r.description), [loser, loser], 'the run again committed last, over the winner')
})

/** A trigger on `table` that counts its firings in the sequence `fired` and then fails with `errcode` (or sleeps, for 'sleep'). */
async function injectFault (db: import('../plugins/app/db/db.js').DB, table: string, errcode: string): Promise<void> {
  await sql`create sequence if not exists fired`.execute(db)
  const body = errcode === 'sleep'
    ? 'begin perform nextval(\'fired\'); perform pg_sleep(5); return new; end'
    : `begin perform nextval('fired'); raise exception 'injected fault' using errcode = '${errcode}'; end`
  await sql.raw(`create or replace function fault() returns trigger language plpgsql as $$ ${body} $$`).execute(db)
  await sql.raw(`create trigger fault before insert on ${table} for each row execute function fault()`).execute(db)
}

async function fired (db: import('../plugins/app/db/db.js').DB): Promise<number> {
  const { rows } = await sql<{ n: number }>`select last_value as n from fired`.execute(db)
  return Number(rows[0]?.n)
}

for (const [code, name] of [['40P01', 'deadlock_detected'], ['40001', 'serialization_failure']] as const) {
  t.test(`a send whose transaction always fails with ${name}: 3 runs, then 503 SERVER_NOT_READY with Retry-After, nothing written`, { skip }, async (t) => {
    const { app, owner, createUser } = await build(t)
    const alice = await createUser('alice@example.com')
    t.equal((await app.inject({ method: 'PUT', url: '/api/v1/streams', headers: { authorization: owner.auth }, payload: { name: 'general', principals: [alice.id] } })).statusCode, 200)
    await injectFault(app.db, 'unread', code)
    const res = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: { authorization: owner.auth }, payload: { type: 'stream', to: 'general', topic: 't', content: 'lost' } })
    t.equal(res.statusCode, 503)
    t.equal(res.headers['retry-after'], '1')
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.same(body(res), { result: 'error', msg: 'The database is busy, try again in a moment', code: 'SERVER_NOT_READY' })
    t.equal(await fired(app.db), 3, 'the transaction ran 3 times')
    const messages = await app.db.selectFrom('messages').select('id').execute()
    t.same(messages, [], 'the message insert (before the failing one) was rolled back')
    t.same(await app.db.selectFrom('unread').select('message_id').execute(), [])
  })
}

t.test('PARLEY_DB_STATEMENT_TIMEOUT_MS: each connection has it; the default is 10 s', { skip }, async (t) => {
  const short = await build(t, { PARLEY_DB_STATEMENT_TIMEOUT_MS: '300' })
  const { rows } = await sql<{ statement_timeout: string }>`show statement_timeout`.execute(short.app.db)
  t.equal(rows[0]?.statement_timeout, '300ms', 'migrations ran under it (they are exempt) and left it set')
  const usual = await build(t)
  t.equal((await sql<{ statement_timeout: string }>`show statement_timeout`.execute(usual.app.db)).rows[0]?.statement_timeout, '10s')
})

t.test('a statement over PARLEY_DB_STATEMENT_TIMEOUT_MS is cancelled (57014): not run again, its transaction rolled back; a send answers 503', { skip }, async (t) => {
  const { app, owner } = await build(t, { PARLEY_DB_STATEMENT_TIMEOUT_MS: '300' })
  t.equal((await app.inject({ method: 'PUT', url: '/api/v1/streams', headers: { authorization: owner.auth }, payload: { name: 'general' } })).statusCode, 200)

  let runs = 0
  await t.rejects(app.db.transaction().execute(async (trx) => {
    runs++
    await trx.updateTable('streams').set({ description: 'half-written' }).where('name', '=', 'general').execute()
    await sql`select pg_sleep(5)`.execute(trx)
  }), { code: '57014' })
  t.equal(runs, 1, 'a timeout is not run again')
  const row = await app.db.selectFrom('streams').select('description').where('name', '=', 'general').executeTakeFirstOrThrow()
  t.equal(row.description, '', 'rolled back')

  await injectFault(app.db, 'messages', 'sleep')
  const res = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: { authorization: owner.auth }, payload: { type: 'stream', to: 'general', topic: 't', content: 'slow' } })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '1')
  t.same(body(res), { result: 'error', msg: 'The database is busy, try again in a moment', code: 'SERVER_NOT_READY' })
  t.equal(await fired(app.db), 1, 'run once')
  t.same(await app.db.selectFrom('messages').select('id').execute(), [], 'nothing written')
})

t.test('migrations, and the wait for another process migrating, are exempt from the statement timeout', { skip }, async (t) => {
  for (const [lock, what] of [[LOCK_CLASS, 'Parley\'s schema lock'], [KYSELY_LOCK_CLASS, 'kysely\'s migration lock']] as const) {
    const env = await testDatabase(t)
    const url = env.DATABASE_URL as string
    // Two connections (migrate holds one for the lock and works on the other), both asked afterwards.
    const db = await openPostgres(url, { statementTimeoutMs: 200, max: 2 })
    t.teardown(async () => { await db.destroy() })
    const other = new pg.Client({ connectionString: url })
    await other.connect()
    t.teardown(async () => { await other.end() })
    // Another process holds the lock well past the timeout, then lets go.
    await other.query(`select pg_advisory_lock(${lock}, hashtext(current_schema()))`)
    const released = (async () => {
      await sleep(800)
      await other.query(`select pg_advisory_unlock(${lock}, hashtext(current_schema()))`)
    })()
    await t.resolves(migrate(db), `${what}: migrated after the wait`)
    await released
    const shown = await db.connection().execute(async (a) => await db.connection().execute(async (b) => await Promise.all([a, b].map(async (c) =>
      (await sql<{ statement_timeout: string, pid: number }>`select current_setting('statement_timeout') as statement_timeout, pg_backend_pid() as pid`.execute(c)).rows[0]))))
    t.equal(new Set(shown.map((r) => r?.pid)).size, 2, 'both connections of the pool asked')
    t.same(shown.map((r) => r?.statement_timeout), ['200ms', '200ms'], `${what}: the timeout is back afterwards on every connection`)
    await t.rejects(sql`select pg_sleep(1)`.execute(db), { code: '57014' }, `${what}: and cancels again`)
  }
})
