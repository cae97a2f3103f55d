// The database: kysely over better-sqlite3 (WAL) in PARLEY_DATA_DIR, migrated at start.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, Migrator, SqliteDialect, type Generated, type Migration, type MigrationProvider } from 'kysely'
import { migrations } from '../../migrations/index.js'

// Booleans are stored as 0/1 integers and times as Unix seconds, so the same
// queries run on SQLite now and PostgreSQL later.
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
}

export interface SessionTable {
  id: string
  user_id: number
  csrf_token: string
  created_at: number
  expires_at: number
}

export interface Database {
  users: UserTable
  sessions: SessionTable
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

export async function migrate (db: Kysely<any>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: new StaticProvider() }).migrateToLatest()
  const failed = results?.find((r) => r.status === 'Error')
  if (error !== undefined) throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String(error)}`, { cause: error })
}

export function openDatabase (dataDir: string): DB {
  mkdirSync(dataDir, { recursive: true })
  const sqlite = new SQLite(join(dataDir, 'parley.sqlite3'))
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('synchronous = NORMAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) })
}

export default fp(async function dbPlugin (app: FastifyInstance) {
  const db = openDatabase(app.config.dataDir)
  await migrate(db)
  app.decorate('db', db)
  // Last to close: other plugins' onClose hooks (saving queues) may still write.
  app.addHook('onClose', async () => { await db.destroy() })
}, { name: 'db', dependencies: ['config'] })
