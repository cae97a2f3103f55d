// Unread state per user (SPEC §7): one row per recipient of a message until they flag it read.
import { sql, SqliteAdapter, type Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter
  // stream_id is the message's (null for a direct message), copied so an unsubscription finds
  // its rows without reading the stream's history; a message never changes stream. No foreign
  // key of its own (the message's is enough): each one is a look-up per row of a fan-out.
  let table = db.schema.createTable('unread')
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('message_id', 'integer', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('stream_id', 'integer')
    .addPrimaryKeyConstraint('unread_pk', ['user_id', 'message_id'])
  // The primary key is the table: one B-tree less to write per recipient of a fan-out.
  if (sqlite) table = table.modifyEnd(sql`without rowid`)
  await table.execute()
  // Deleting a message cascades here: without this index every delete would scan the table.
  await db.schema.createIndex('unread_message_id').on('unread').column('message_id').execute()
  if (sqlite) {
    // Whoever removes a subscription, its unread rows go with it: nothing counts forever in a
    // stream the user left (Zulip keeps them but stops counting; Parley keeps no history there).
    await sql`create trigger unread_unsubscribed after delete on subscriptions begin
      delete from unread where user_id = old.user_id and stream_id = old.stream_id;
    end`.execute(db)
  } else {
    await sql`create function unread_unsubscribed() returns trigger language plpgsql as $$ begin
      delete from unread where user_id = old.user_id and stream_id = old.stream_id; return old;
    end $$`.execute(db)
    await sql`create trigger unread_unsubscribed after delete on subscriptions
      for each row execute function unread_unsubscribed()`.execute(db)
  }
}

export async function down (db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) await sql`drop trigger if exists unread_unsubscribed`.execute(db)
  else await sql`drop function if exists unread_unsubscribed cascade`.execute(db)
  await db.schema.dropTable('unread').execute()
}
