// The transactional outbox of the Redis mode (docs/events.md, "The outbox"; decisions 49): a
// message send, edit or delete writes its event here in its own transaction, so an event whose
// publisher died between the commit and the append to Redis is appended later by any process.
import type { Kysely } from 'kysely'
import { idColumn, int } from './util.js'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('outbox')
    .addColumn('id', int(db), idColumn(db))
    // The bus event and its audience, as JSON: what the publisher would have appended.
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('audience', 'text', (c) => c.notNull())
    // Unix ms when written: with the id, the row's key in Redis's append guard.
    .addColumn('created', int(db), (c) => c.notNull())
    // Unix ms after which any process may claim the row (its publisher, or a claimer, is late).
    .addColumn('due', int(db), (c) => c.notNull())
    .execute()
  await db.schema.createIndex('outbox_due').on('outbox').column('due').execute()
}

export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('outbox').execute()
}
