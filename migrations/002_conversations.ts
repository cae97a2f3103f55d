// Streams, subscriptions, direct-message groups, messages and presence (SPEC §6).
import type { Kysely } from 'kysely'
import { idColumn, int } from './util.js'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('streams')
    .addColumn('id', int(db), idColumn(db))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('name_key', 'text', (c) => c.unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('invite_only', int(db), (c) => c.notNull().defaultTo(0))
    .addColumn('is_archived', int(db), (c) => c.notNull().defaultTo(0))
    .addColumn('date_created', int(db), (c) => c.notNull())
    .execute()

  await db.schema.createTable('subscriptions')
    .addColumn('user_id', int(db), (c) => c.notNull().references('users.id'))
    .addColumn('stream_id', int(db), (c) => c.notNull().references('streams.id'))
    .addColumn('date_subscribed', int(db), (c) => c.notNull())
    .addPrimaryKeyConstraint('subscriptions_pk', ['user_id', 'stream_id'])
    .execute()
  // Audiences of stream events: the subscribers of one stream.
  await db.schema.createIndex('subscriptions_stream_id').on('subscriptions').column('stream_id').execute()

  await db.schema.createTable('dm_groups')
    .addColumn('id', int(db), idColumn(db))
    .addColumn('member_key', 'text', (c) => c.notNull().unique())
    .execute()
  await db.schema.createTable('dm_group_members')
    .addColumn('group_id', int(db), (c) => c.notNull().references('dm_groups.id'))
    .addColumn('user_id', int(db), (c) => c.notNull().references('users.id'))
    .addPrimaryKeyConstraint('dm_group_members_pk', ['user_id', 'group_id'])
    .execute()
  await db.schema.createIndex('dm_group_members_group_id').on('dm_group_members').column('group_id').execute()

  await db.schema.createTable('messages')
    .addColumn('id', int(db), idColumn(db))
    .addColumn('sender_id', int(db), (c) => c.notNull().references('users.id'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('stream_id', int(db), (c) => c.references('streams.id'))
    .addColumn('dm_group_id', int(db), (c) => c.references('dm_groups.id'))
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('topic_key', 'text', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('content_markdown', 'text', (c) => c.notNull())
    .addColumn('search_text', 'text', (c) => c.notNull())
    .addColumn('timestamp', int(db), (c) => c.notNull())
    .addColumn('last_edit_timestamp', int(db))
    .addColumn('client', 'text', (c) => c.notNull())
    .execute()
  // Pages are read newest-first by id within a narrow: each narrow column leads an index ending in id.
  await db.schema.createIndex('messages_stream_id').on('messages').columns(['stream_id', 'id']).execute()
  await db.schema.createIndex('messages_stream_topic_id').on('messages').columns(['stream_id', 'topic_key', 'id']).execute()
  await db.schema.createIndex('messages_dm_group_id').on('messages').columns(['dm_group_id', 'id']).execute()
  await db.schema.createIndex('messages_sender_id').on('messages').columns(['sender_id', 'id']).execute()

  await db.schema.createTable('presence')
    .addColumn('user_id', int(db), (c) => c.primaryKey().references('users.id'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('timestamp', int(db), (c) => c.notNull())
    .execute()
}

export async function down (db: Kysely<any>): Promise<void> {
  for (const t of ['presence', 'messages', 'dm_group_members', 'dm_groups', 'subscriptions', 'streams']) {
    await db.schema.dropTable(t).execute()
  }
}
