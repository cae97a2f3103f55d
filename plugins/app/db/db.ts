// The database: kysely over better-sqlite3 (WAL) in PARLEY_DATA_DIR, or over PostgreSQL (a pg
// pool) when DATABASE_URL is set; migrated at start. The stores see one type, DB, either way.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, Migrator, PostgresAdapter, SqliteDialect, type Generated, type Migration, type MigrationProvider, type SqliteDatabase, type SqliteStatement } from 'kysely'
import { migrations } from '../../../migrations/index.js'
import { objectRows } from './sqlite-rows.js'
import { BoundedMap } from '../bounded-map.js'
import type { PoolOptions } from './postgres.js'

// Booleans are stored as 0/1 integers and times as Unix seconds, so the same
// queries run on SQLite and PostgreSQL.
export interface UserTable {
  id: Generated<number>
  email: string
  email_key: string
  full_name: string
  role: 'owner' | 'admin' | 'member' | 'guest'
  is_bot: number
  bot_type: string | null
  bot_owner_id: number | null
  is_active: number
  date_joined: number
  api_key: string
  password_hash: string | null
  /** An incoming-webhook bot's signing secret (SPEC §10); null for everyone else. */
  webhook_secret: string | null
}

export interface SessionTable {
  id: string
  user_id: number
  csrf_token: string
  created_at: number
  expires_at: number
}

export interface StreamTable {
  id: Generated<number>
  name: string
  /** Lower-cased name for case-insensitive uniqueness; null once archived, which frees the name. */
  name_key: string | null
  description: string
  invite_only: number
  is_archived: number
  date_created: number
}

export interface SubscriptionTable {
  user_id: number
  stream_id: number
  date_subscribed: number
}

/** A direct-message conversation: one row per distinct set of participants (Zulip's huddle). */
export interface DmGroupTable {
  id: Generated<number>
  /** The participants' ids, sorted and joined by commas: finds the conversation of a set of users. */
  member_key: string
}

export interface DmGroupMemberTable {
  group_id: number
  user_id: number
}

export interface MessageTable {
  id: Generated<number>
  sender_id: number
  type: 'stream' | 'direct'
  stream_id: number | null
  dm_group_id: number | null
  topic: string
  topic_key: string
  content: string
  content_markdown: string
  /** Lower-cased topic and source, so `search` is case-insensitive on every database. */
  search_text: string
  timestamp: number
  last_edit_timestamp: number | null
  client: string
}

export interface PresenceTable {
  user_id: number
  status: 'active' | 'idle'
  timestamp: number
}

/** An event of the Redis mode waiting for its append (migrations/006_outbox.ts, plugins/app/events/events-outbox.ts). */
export interface OutboxTable {
  id: Generated<number>
  event: string
  audience: string
  created: number
  due: number
}

export interface Database {
  users: UserTable
  sessions: SessionTable
  streams: StreamTable
  subscriptions: SubscriptionTable
  dm_groups: DmGroupTable
  dm_group_members: DmGroupMemberTable
  messages: MessageTable
  presence: PresenceTable
  outbox: OutboxTable
}

export type DB = Kysely<Database>

declare module 'fastify' {
  interface FastifyInstance {
    db: DB
  }
}

class StaticProvider implements MigrationProvider {
  async getMigrations (): Promise<Record<string, Migration>> { return migrations }
}

/**
 * Applies every pending migration. On PostgreSQL under this schema's advisory lock, so processes
 * starting together take turns (kysely's own lock covers the migrations but not the creation of
 * its bookkeeping tables); its tables are named in this schema because kysely looks for them
 * in every schema of the database otherwise.
 */
export async function migrate (db: Kysely<any>): Promise<void> {
  if (!isPostgres(db)) return await runMigrator(new Migrator({ db, provider: new StaticProvider() }))
  const { currentSchema, withSchemaLock } = await import('./postgres.js')
  const schema = await currentSchema(db)
  await withSchemaLock(db, async () => {
    await runMigrator(new Migrator({ db, provider: new StaticProvider(), migrationTableSchema: schema }))
  })
}

async function runMigrator (migrator: Migrator): Promise<void> {
  const { error, results } = await migrator.migrateToLatest()
  const failed = results?.find((r) => r.status === 'Error')
  if (error !== undefined) throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String(error)}`, { cause: error })
}

/**
 * kysely's SQLite driver prepares every query anew; preparing costs more than running
 * most of ours (docs/performance.md). Statements are kept per SQL text, bounded; safe
 * because kysely runs one query at a time on this connection and never streams here.
 * Readers answer rows built in JavaScript from raw arrays (docs/decisions.md 30).
 */
export function withStatementCache (sqlite: SQLite.Database, max = 500): SqliteDatabase {
  const cache = new BoundedMap<string, SqliteStatement>(max)
  return {
    close: () => { cache.clear(); sqlite.close() },
    prepare: (sql: string) => {
      let statement = cache.get(sql)
      if (statement === undefined) {
        statement = objectRows(sqlite.prepare(sql))
        cache.set(sql, statement)
      }
      return statement
    }
  }
}

export function openDatabase (dataDir: string): DB {
  mkdirSync(dataDir, { recursive: true })
  const sqlite = new SQLite(join(dataDir, 'parley.sqlite3'))
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('synchronous = NORMAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) })
}

export function isPostgres (db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter
}

/**
 * PostgreSQL at `url` (a postgres:// URL, its search_path choosing the schema) through a pool,
 * each statement limited by `options.statementTimeoutMs`, each transaction retried after a lost
 * conflict (postgres.ts). The driver is loaded here, so the embedded mode never loads it.
 */
export async function openPostgres (url: string, options: PoolOptions = {}): Promise<DB> {
  const { postgresDialect, RetryingKysely } = await import('./postgres.js')
  return new RetryingKysely<Database>({ dialect: postgresDialect(url, options).dialect })
}

export default fp(async function dbPlugin (app: FastifyInstance) {
  const url = app.config.databaseUrl
  const db = url === undefined
    ? openDatabase(app.config.dataDir)
    : await openPostgres(url, {
      statementTimeoutMs: app.config.statementTimeoutMs,
      onError: (err) => { app.log.warn({ err }, 'database connection lost') }
    })
  try {
    await migrate(db)
  } catch (err) {
    await db.destroy()
    throw err
  }
  app.decorate('db', db)
  // Last to close: other plugins' onClose hooks (saving queues) may still write.
  app.addHook('onClose', async () => { await db.destroy() })
}, { name: 'db', dependencies: ['config'] })
