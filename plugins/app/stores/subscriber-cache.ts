// Who is subscribed to each stream, cached per database: a module of its own so that the
// users store (deactivation changes who counts) and the streams store both reach it
// without importing each other.
import type { Transaction } from 'kysely'
import type { Database, DB } from '../db/db.js'

/**
 * Who is subscribed to each stream, cached per database (one app per database): the send path
 * asks on every stream message. `gen` is bumped on every change, so a read that raced one does
 * not store what it read; `dirty` holds the transactions that changed subscribers, whose own reads
 * see uncommitted rows and are not stored either.
 */
export interface SubscriberCache {
  gen: number
  lists: Map<number, number[]>
  dirty: WeakSet<object>
  /** Shared mode (REDIS_URL): set by plugins/app/shared/invalidation.ts to tell the other processes of a committed change. */
  announce?: ((streamId: number | undefined) => void) | undefined
}
const subscriberCaches = new WeakMap<DB, SubscriberCache>()

export function subscriberCache (db: DB): SubscriberCache {
  let c = subscriberCaches.get(db)
  if (c === undefined) { c = { gen: 0, lists: new Map(), dirty: new WeakSet() }; subscriberCaches.set(db, c) }
  return c
}

/**
 * Forgets cached subscribers (of one stream, or all): call it INSIDE the transaction that changes
 * who is subscribed or active, and subscribersCommitted after it. On SQLite kysely runs every query
 * on the one connection, so no other request can read the old rows between this and the commit;
 * on a pool (PostgreSQL) one can, and may cache them: subscribersCommitted forgets again.
 */
export function subscribersChanged (db: DB, trx: Transaction<Database>, streamId?: number): void {
  subscriberCache(db).dirty.add(trx)
  forgetSubscribers(db, streamId)
}

// Between processes (REDIS_URL; plugins/app/shared/invalidation.ts). The change is announced only
// AFTER its commit: a process told earlier could read the old rows again and keep them.

/**
 * Call AFTER the transaction that changed who is subscribed to `streamId` (or to anything)
 * commits. Forgets again here too: with a pool of connections (PostgreSQL) another request
 * may have read the old rows between subscribersChanged and the commit.
 */
export function subscribersCommitted (db: DB, streamId?: number): void {
  forgetSubscribers(db, streamId)
  subscriberCache(db).announce?.(streamId)
}

/** Another process changed who is subscribed to `streamId` (or to anything): forget what is cached. */
export function forgetSubscribers (db: DB, streamId?: number): void {
  const c = subscriberCache(db)
  c.gen++
  if (streamId === undefined) c.lists.clear()
  else c.lists.delete(streamId)
}
