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
export interface SubscriberCache { gen: number, lists: Map<number, number[]>, dirty: WeakSet<object> }
const subscriberCaches = new WeakMap<DB, SubscriberCache>()

export function subscriberCache (db: DB): SubscriberCache {
  let c = subscriberCaches.get(db)
  if (c === undefined) { c = { gen: 0, lists: new Map(), dirty: new WeakSet() }; subscriberCaches.set(db, c) }
  return c
}

/**
 * Forgets cached subscribers (of one stream, or all): call it INSIDE the transaction that changes
 * who is subscribed or active, and subscribersSettled after it. On SQLite kysely runs every query
 * on the one connection, so no other request can read the old rows between this and the commit;
 * on a pool (PostgreSQL) one can, and may cache them: subscribersSettled forgets again.
 */
export function subscribersChanged (db: DB, trx: Transaction<Database>, streamId?: number): void {
  subscriberCache(db).dirty.add(trx)
  forgetSubscribers(db, streamId)
}

/**
 * After the transaction that called subscribersChanged has committed (or rolled back): forgets
 * again whatever another connection read from the old rows in between. A read that began before
 * the commit and ends after this sees `gen` move and does not store what it read.
 */
export function subscribersSettled (db: DB, streamId?: number): void {
  forgetSubscribers(db, streamId)
}

/**
 * Forgets cached subscribers (of one stream, or all) now. The hook for a change made by ANOTHER
 * process (PostgreSQL): whoever learns of it after its commit (the Redis side) calls this.
 */
export function forgetSubscribers (db: DB, streamId?: number): void {
  const c = subscriberCache(db)
  c.gen++
  if (streamId === undefined) c.lists.clear()
  else c.lists.delete(streamId)
}
