// An incoming-webhook bot's optional secret (SPEC §10): deliveries signed with it
// (GitHub's X-Hub-Signature-256) are the only ones its webhooks accept.
import type { Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('webhook_secret', 'text').execute()
}

export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('webhook_secret').execute()
}
