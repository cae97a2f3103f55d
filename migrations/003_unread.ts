// Unread state per user (SPEC §7, docs/events.md "Unread messages"): one row per recipient of a
// message until they flag it read, and per user and conversation a floor below which nothing is unread.
import { sql, SqliteAdapter, type Kysely } from 'kysely'
import { int } from './util.js'

export async function up (db: Kysely<any>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter
  // Keyed by message first: a message's rows are written side by side, so a fan-out dirties a
  // few pages instead of one per recipient (keyed by user, a send to 100 cost ~20x more in
  // SQLite's page-sized WAL writes; docs/events.md). Deleting a message cascades through the key.
  let unread = db.schema.createTable('unread')
    .addColumn('message_id', int(db), (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('user_id', int(db), (c) => c.notNull().references('users.id'))
    .addPrimaryKeyConstraint('unread_pk', ['message_id', 'user_id'])
  // The primary key is the table: one B-tree to write per row.
  if (sqlite) unread = unread.modifyEnd(sql`without rowid`)
  await unread.execute()

  // What finds a user's unread rows: per conversation (a stream, stream_id; or a direct one,
  // dm_group_id; the other 0), a message id no unread message of theirs there is older than.
  // Written once when a conversation gets its first unread message for the user; a lower bound
  // afterwards, raised when messages are read (plugins/app/stores/unread.ts).
  let floors = db.schema.createTable('unread_floors')
    .addColumn('user_id', int(db), (c) => c.notNull().references('users.id'))
    .addColumn('stream_id', int(db), (c) => c.notNull())
    .addColumn('dm_group_id', int(db), (c) => c.notNull())
    .addColumn('floor', int(db), (c) => c.notNull())
    .addPrimaryKeyConstraint('unread_floors_pk', ['user_id', 'stream_id', 'dm_group_id'])
  if (sqlite) floors = floors.modifyEnd(sql`without rowid`)
  await floors.execute()

  // Whoever removes a subscription, its unread rows go with it: nothing counts forever in a
  // stream the user left (Zulip keeps them but stops counting; decisions 42).
  const forget = sql`
    delete from unread where user_id = old.user_id and message_id in (
      select id from messages where stream_id = old.stream_id and id >= (
        select floor from unread_floors where user_id = old.user_id and stream_id = old.stream_id and dm_group_id = 0));
    delete from unread_floors where user_id = old.user_id and stream_id = old.stream_id and dm_group_id = 0;`
  if (sqlite) {
    await sql`create trigger unread_unsubscribed after delete on subscriptions begin ${forget} end`.execute(db)
  } else {
    await sql`create function unread_unsubscribed() returns trigger language plpgsql as $$ begin ${forget} return old; end $$`.execute(db)
    await sql`create trigger unread_unsubscribed after delete on subscriptions
      for each row execute function unread_unsubscribed()`.execute(db)
  }
}

export async function down (db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) await sql`drop trigger if exists unread_unsubscribed`.execute(db)
  else await sql`drop function if exists unread_unsubscribed cascade`.execute(db)
  await db.schema.dropTable('unread_floors').execute()
  await db.schema.dropTable('unread').execute()
}
