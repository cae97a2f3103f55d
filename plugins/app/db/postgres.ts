// PostgreSQL under kysely: the pool, the migration lock, and what its errors mean to the API.
import pg from 'pg'
import { Kysely, PostgresAdapter, PostgresDialect, sql, type CompiledQuery, type DatabaseConnection, type DialectAdapter, type Driver, type KyselyConfig, type Transaction, type TransactionBuilder } from 'kysely'
import { setTimeout as sleep } from 'node:timers/promises'
import { isTransientConflict } from './engine-errors.js'

/** How long a request waits for a connection (pool full, or the server gone) before it is a 503, not a hang. */
export const CONNECT_TIMEOUT_MS = 5000

/** The first key of Parley's advisory locks (the second is the schema's hash): "prly". */
export const LOCK_CLASS = 0x70726c79
/** Kysely's own migration lock, keyed by schema rather than by database (see PostgresSchemaAdapter). */
export const KYSELY_LOCK_CLASS = LOCK_CLASS + 1

/**
 * bigint (int8: every integer column of ours there, migrations/util.ts, and count(*)) arrives
 * from pg as a string, which would reach API answers as "3". Every id, time and count here is far
 * below 2^53, so int8 is parsed as a number; the other types keep pg's parsers.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser
}

/**
 * Kysely's PostgreSQL adapter takes one advisory lock per database for its migrations; keyed by
 * the schema instead, the test suite's many schemas in one database (test/helper.ts) migrate side
 * by side, while two processes on one schema still wait for each other.
 */
class PostgresSchemaAdapter extends PostgresAdapter {
  // Kysely runs the migrations on the connection that holds this lock: they, and the wait for the
  // lock, are exempt from the statement timeout (an index built on a big table takes minutes).
  override async acquireMigrationLock (db: Kysely<any>): Promise<void> {
    await sql`set statement_timeout = 0`.execute(db)
    await sql`select pg_advisory_lock(${sql.lit(KYSELY_LOCK_CLASS)}, hashtext(current_schema()))`.execute(db)
  }

  override async releaseMigrationLock (db: Kysely<any>): Promise<void> {
    await sql`select pg_advisory_unlock(${sql.lit(KYSELY_LOCK_CLASS)}, hashtext(current_schema()))`.execute(db)
    await sql`reset statement_timeout`.execute(db)
  }
}

const INT64_MAX = 2 ** 63
const CLAMPED_MAX = '9223372036854775807'
const CLAMPED_MIN = '-9223372036854775808'

/**
 * A number beyond 64 bits (a client may send 1e300 as an id or anchor: JSON allows it) would fail
 * the query on PostgreSQL ("out of range for type bigint"); SQLite compares it as a real and finds
 * nothing, or everything below it. Clamped to bigint's bounds it compares the same way against any
 * id that can exist, so both databases give the same answer. Other values pass untouched.
 */
export function clampParameters (parameters: readonly unknown[]): readonly unknown[] {
  let out: unknown[] | undefined
  for (let i = 0; i < parameters.length; i++) {
    const v = parameters[i]
    if (typeof v !== 'number' || (v < INT64_MAX && v >= -INT64_MAX)) continue
    out ??= parameters.slice()
    out[i] = v > 0 ? CLAMPED_MAX : CLAMPED_MIN
  }
  return out ?? parameters
}

/** kysely's connection, with every query's parameters clamped (its other methods bound to it: it has private fields). */
function clamping (connection: DatabaseConnection): DatabaseConnection {
  return new Proxy(connection, {
    get (target, prop) {
      if (prop === 'executeQuery') {
        return async (q: CompiledQuery) => await target.executeQuery({ ...q, parameters: clampParameters(q.parameters) })
      }
      const value: unknown = Reflect.get(target, prop)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

class ParleyPostgresDialect extends PostgresDialect {
  override createAdapter (): DialectAdapter { return new PostgresSchemaAdapter() }

  override createDriver (): Driver {
    const driver = super.createDriver()
    const acquire = driver.acquireConnection.bind(driver)
    // kysely keeps one connection object per pg client: one wrapper each.
    const wrapped = new WeakMap<DatabaseConnection, DatabaseConnection>()
    driver.acquireConnection = async () => {
      const connection = await acquire()
      let w = wrapped.get(connection)
      if (w === undefined) { w = clamping(connection); wrapped.set(connection, w) }
      return w
    }
    return driver
  }
}

export interface PoolOptions {
  /** Connections at most, per process. */
  max?: number
  /**
   * Each statement's limit in milliseconds (PostgreSQL's statement_timeout): a longer one is cancelled
   * (57014), its request a 503. The app passes PARLEY_DB_STATEMENT_TIMEOUT_MS; unset or 0, none is
   * set (the server's own applies), as for the bench's bulk loads.
   */
  statementTimeoutMs?: number
  /** An idle connection's error (the server restarting): logged, never thrown (an unhandled 'error' would end the process). */
  onError?: (err: Error) => void
}

export function postgresDialect (url: string, options: PoolOptions = {}): { dialect: PostgresDialect, pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 10_000,
    // Sent at connect: the session's default, which `reset statement_timeout` returns to.
    ...(options.statementTimeoutMs !== undefined && options.statementTimeoutMs > 0 ? { statement_timeout: options.statementTimeoutMs } : {}),
    types
  })
  const onError = options.onError ?? (() => {})
  pool.on('error', onError)
  // A connection that breaks while a request holds it (the server stopping mid-query) emits
  // 'error' on its client, which neither the pool (it listens only while idle) nor kysely
  // handles: unheard, it would end the process. The query itself fails (a 503), and the pool
  // drops the broken client when kysely releases it.
  pool.on('connect', (client) => { client.on('error', onError) })
  return { dialect: new ParleyPostgresDialect({ pool }), pool }
}

/**
 * Runs `fn` holding a session-level advisory lock of this schema, on a connection of its own:
 * two processes starting together on an empty database migrate one after the other, the second
 * finding everything done (the pool needs a second connection for `fn`).
 */
export async function withSchemaLock<T> (db: Kysely<any>, fn: () => Promise<T>): Promise<T> {
  return await db.connection().execute(async (conn) => {
    // Waiting while another process migrates may take longer than the statement timeout.
    await sql`set statement_timeout = 0`.execute(conn)
    await sql`select pg_advisory_lock(${sql.lit(LOCK_CLASS)}, hashtext(current_schema()))`.execute(conn)
    try {
      return await fn()
    } finally {
      await sql`select pg_advisory_unlock(${sql.lit(LOCK_CLASS)}, hashtext(current_schema()))`.execute(conn)
      await sql`reset statement_timeout`.execute(conn)
    }
  })
}

/** The schema unqualified names resolve to (the first of search_path that exists). */
export async function currentSchema (db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db)
  const schema = rows[0]?.schema ?? null
  if (schema === null) throw new Error('DATABASE_URL: no schema of its search_path exists')
  return schema
}

/** How a transaction that lost to a concurrent one (deadlock, serialization failure) is run again. */
export interface RetryPolicy {
  /** Runs at most, the first included. */
  attempts: number
  /** The wait before the second run; it grows with each run, and each wait is jittered to half to one and a half of it. */
  delayMs: number
}

export const TRANSACTION_RETRY: RetryPolicy = { attempts: 3, delayMs: 20 }

/**
 * Runs `run` again while it fails with a deadlock or a serialization failure, up to
 * `policy.attempts` runs, with short jittered waits (two losers of one deadlock do not meet
 * again in step); any other error, or the last conflict, is thrown (a 503, plugins/app/errors.ts).
 * `run` must start a new transaction each time: PostgreSQL rolled the lost one back.
 */
export async function retryConflicts<T> (run: (attempt: number) => Promise<T>, policy: RetryPolicy = TRANSACTION_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run(attempt)
    } catch (err) {
      if (attempt >= policy.attempts || !isTransientConflict(err)) throw err
      await sleep(policy.delayMs * attempt * (0.5 + Math.random()))
    }
  }
}

/** A transaction builder whose execute() runs its callback again after a lost conflict (settings keep the wrapper). */
function retrying<D> (builder: TransactionBuilder<D>, policy: RetryPolicy): TransactionBuilder<D> {
  return new Proxy(builder, {
    get (target, prop) {
      if (prop === 'execute') {
        return async <T>(callback: (trx: Transaction<D>) => Promise<T>): Promise<T> =>
          await retryConflicts(async () => await target.execute(callback), policy)
      }
      if (prop === 'setIsolationLevel' || prop === 'setAccessMode') {
        return (value: never) => retrying(target[prop](value), policy)
      }
      const value: unknown = Reflect.get(target, prop)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

/**
 * Kysely on PostgreSQL, where every `db.transaction().execute(fn)` of the stores is retried after
 * a deadlock or serialization failure (retryConflicts): the one place this is done. `fn` may run
 * more than once, so it must do nothing outside the database that a rollback would not undo: the
 * stores publish their events and cache notices after the commit (forgetting cached subscribers
 * inside is harmless). Instances derived with withPlugin, withSchema … are plain Kysely.
 */
export class RetryingKysely<D> extends Kysely<D> {
  constructor (config: KyselyConfig, private readonly retryPolicy: RetryPolicy = TRANSACTION_RETRY) {
    super(config)
  }

  override transaction (): TransactionBuilder<D> {
    return retrying(super.transaction(), this.retryPolicy)
  }
}
