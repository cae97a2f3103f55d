// Users (humans and bots) and server-side browser sessions.
import type { Kysely } from 'kysely'
import { idColumn, int } from './util.js'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('users')
    .addColumn('id', int(db), idColumn(db))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('email_key', 'text', (c) => c.notNull().unique())
    .addColumn('full_name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('is_bot', int(db), (c) => c.notNull().defaultTo(0))
    .addColumn('bot_type', 'text')
    .addColumn('bot_owner_id', int(db), (c) => c.references('users.id'))
    .addColumn('is_active', int(db), (c) => c.notNull().defaultTo(1))
    .addColumn('date_joined', int(db), (c) => c.notNull())
    .addColumn('api_key', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text')
    .execute()
  await db.schema.createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', int(db), (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('csrf_token', 'text', (c) => c.notNull())
    .addColumn('created_at', int(db), (c) => c.notNull())
    .addColumn('expires_at', int(db), (c) => c.notNull())
    .execute()
  await db.schema.createIndex('sessions_user_id').on('sessions').column('user_id').execute()
}

export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sessions').execute()
  await db.schema.dropTable('users').execute()
}
