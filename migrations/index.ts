// Every migration, in order. Explicit imports keep the list the same under tsx, tap and dist/.
import type { Migration } from 'kysely'
import * as m001 from './001_users.js'
import * as m002 from './002_conversations.js'
import * as m003 from './003_unread.js'
import * as m004 from './004_webhook_secret.js'
import * as m005 from './005_search.js'
import * as m006 from './006_outbox.js'
import * as m007 from './007_unread_unchecked.js'

export const migrations: Record<string, Migration> = {
  '001_users': m001,
  '002_conversations': m002,
  '003_unread': m003,
  '004_webhook_secret': m004,
  '005_search': m005,
  '006_outbox': m006,
  '007_unread_unchecked': m007
}
