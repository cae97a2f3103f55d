// The transactional outbox of the Redis mode (docs/events.md, "The outbox"; decisions 49). A
// message send, edit or delete writes its event and audience to the `outbox` table in its own
// transaction; after the commit it publishes as before, with the row's key. The APPEND script
// appends once per key (a guard key in Redis), then the row is deleted. Rows left behind by a
// publisher that died after its commit, or that Redis refused, are claimed by any process and
// published again through the same path: each such event reaches its queues exactly once.
import type { FastifyBaseLogger } from 'fastify'
import { SqliteAdapter, type Transaction } from 'kysely'
import type { Database, DB } from '../db/db.js'
import type { Audience, BusEvent, Outbox, Published } from './bus.js'

export const OUTBOX = {
  /** A row's publisher has this long to append it before others may. */
  graceMs: 5000,
  /** A claimer has this long before another may claim the row again. */
  leaseMs: 30_000,
  /** How long Redis remembers that a row was appended (the guard key's lifetime). */
  guardSecs: 3600,
  /** How often each process looks for rows that are due. */
  everyMs: 2000,
  /**
   * Appended rows are deleted by the process's next action, in its transaction (no commit of
   * their own, and no write racing another process's transaction on a shared SQLite file), or
   * on their own once the process has written none for this long.
   */
  idleMs: 1000,
  batch: 500
}

/** A row's key in the APPEND guard: its id and creation time, so a database reset never reuses one. */
export function outboxKey (id: number, created: number): string { return `${id}.${created}` }

function idOf (key: string): number { return Number(key.slice(0, key.indexOf('.'))) }

export class RedisOutbox implements Outbox {
  /** Rows appended and not yet deleted. */
  private done: number[] = []
  private deleting: Promise<void> | undefined
  private deleteTimer: NodeJS.Timeout | undefined
  private lastAdd = 0
  private recovering: Promise<number> | undefined

  private readonly sqlite: boolean

  constructor (private readonly db: DB, private readonly publish: (p: Published) => void, private readonly log: FastifyBaseLogger) {
    this.sqlite = db.getExecutor().adapter instanceof SqliteAdapter
  }

  /** Inside the action's transaction: returns the key its publish() passes on. */
  async add (trx: Transaction<Database>, event: BusEvent, audience: Audience): Promise<string> {
    const t = Date.now()
    this.lastAdd = t
    const values = { event: JSON.stringify(event), audience: JSON.stringify(audience), created: t, due: t + OUTBOX.graceMs }
    // Rolled back with the action, the rows appended before stay: claimed later, refused by the guard, deleted then.
    const done = this.done.length === 0 ? undefined : this.done.splice(0, OUTBOX.batch)
    let row: { id: number }
    if (done === undefined) {
      row = await trx.insertInto('outbox').values(values).returning('id').executeTakeFirstOrThrow()
    } else if (this.sqlite) {
      await trx.deleteFrom('outbox').where('id', 'in', done).execute()
      row = await trx.insertInto('outbox').values(values).returning('id').executeTakeFirstOrThrow()
    } else {
      // PostgreSQL: one round trip for both (a data-modifying WITH).
      row = await trx.with('gone', (db) => db.deleteFrom('outbox').where('id', 'in', done))
        .insertInto('outbox').values(values).returning('id').executeTakeFirstOrThrow()
    }
    return outboxKey(row.id, t)
  }

  /** The row's event is in Redis (or was already): its row goes with the next action, or when idle. */
  appended (key: string): void {
    this.done.push(idOf(key))
    this.deleteTimer ??= setTimeout(() => { this.idle() }, OUTBOX.idleMs).unref()
  }

  private idle (): void {
    this.deleteTimer = undefined
    if (this.done.length === 0) return
    const quiet = Date.now() - this.lastAdd
    if (quiet >= OUTBOX.idleMs) this.startDeleting()
    else this.deleteTimer = setTimeout(() => { this.idle() }, OUTBOX.idleMs - quiet).unref()
  }

  private startDeleting (): void {
    clearTimeout(this.deleteTimer)
    this.deleteTimer = undefined
    this.deleting ??= this.deleteDone().finally(() => { this.deleting = undefined })
  }

  private async deleteDone (): Promise<void> {
    while (this.done.length > 0) {
      const ids = this.done.splice(0, OUTBOX.batch)
      try {
        await this.db.deleteFrom('outbox').where('id', 'in', ids).execute()
      } catch (err) {
        // The rows stay: claimed later, their append is refused by the guard, and they are deleted then.
        this.log.warn({ err, rows: ids.length }, 'outbox: deleting appended rows failed; they are claimed again later')
      }
    }
  }

  /** Resolves when every row appended so far has been deleted (or its delete has failed). */
  async flush (): Promise<void> {
    if (this.done.length > 0) this.startDeleting()
    while (this.deleting !== undefined) await this.deleting
  }

  /**
   * Claims the rows due by `now` (a lease: another claim waits for `due` to pass again) and
   * publishes them. One claim at a time per process; returns how many rows it claimed.
   */
  async recover (now = Date.now()): Promise<number> {
    if (this.recovering !== undefined) return await this.recovering
    this.recovering = this.claim(now).finally(() => { this.recovering = undefined })
    return await this.recovering
  }

  private async claim (now: number): Promise<number> {
    let total = 0
    for (;;) {
      const due = await this.db.selectFrom('outbox').select('id').where('due', '<=', now).orderBy('id').limit(OUTBOX.batch).execute()
      if (due.length === 0) break
      // The `due` check again in the update: of two processes claiming one row, one updates it.
      const rows = await this.db.updateTable('outbox').set({ due: now + OUTBOX.leaseMs })
        .where('id', 'in', due.map((r) => r.id)).where('due', '<=', now)
        .returning(['id', 'event', 'audience', 'created']).execute()
      rows.sort((a, b) => a.id - b.id)
      for (const r of rows) {
        this.publish({ event: JSON.parse(r.event) as BusEvent, audience: JSON.parse(r.audience) as Audience, outboxId: outboxKey(r.id, r.created) })
      }
      total += rows.length
      if (due.length < OUTBOX.batch) break
    }
    if (total > 0) this.log.warn({ rows: total }, 'outbox: published events whose publisher died or whose append failed')
    return total
  }

  /**
   * Looks for due rows every few seconds while `ready` (Redis connected: a claim it could not
   * publish would wait out its lease); the returned function stops it and waits for a claim under way.
   */
  start (ready: () => boolean): () => Promise<void> {
    const timer = setInterval(() => { if (ready()) this.tryRecover() }, OUTBOX.everyMs)
    timer.unref()
    return async () => {
      clearInterval(timer)
      await this.recovering?.catch(() => {})
    }
  }

  /** A claim whose failure (the database or Redis unreachable) waits for the next turn. */
  tryRecover (): void {
    this.recover().catch((err: unknown) => { this.log.debug({ err }, 'outbox: claiming due rows failed; trying again') })
  }
}
