// PostgreSQL checks a foreign key with a query per inserted row, so a message to a stream of
// 5,000 paid 10,000 of them (about 70 ms of the send; docs/decisions.md 50). The rows of
// `unread` are written only by the send, in its transaction, for the message it inserted and
// for users of its audience (users are never deleted), and go with their message when it is
// deleted (plugins/app/stores/messages.ts deletes them first). SQLite's checks are index
// probes, far cheaper, and its constraints cannot be dropped without rebuilding the table: kept.
import { SqliteAdapter, type Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) return
  await db.schema.alterTable('unread').dropConstraint('unread_message_id_fkey').execute()
  await db.schema.alterTable('unread').dropConstraint('unread_user_id_fkey').execute()
}

export async function down (db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) return
  await db.schema.alterTable('unread').addForeignKeyConstraint('unread_message_id_fkey', ['message_id'], 'messages', ['id']).onDelete('cascade').execute()
  await db.schema.alterTable('unread').addForeignKeyConstraint('unread_user_id_fkey', ['user_id'], 'users', ['id']).execute()
}
