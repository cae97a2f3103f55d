// The presence store: each user's last reported status, and the do_* action that reports it.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { DB } from '../db/db.js'
import type { EventBus } from '../events/bus.js'
import { now, type User } from './users.js'

export type PresenceStatus = 'active' | 'idle'
export interface Presence { status: PresenceStatus, timestamp: number }

/**
 * Clients report presence about once a minute; an unchanged status is re-broadcast
 * only after this long, so every ping does not fan out to every queue.
 */
export const PRESENCE_REBROADCAST_SECONDS = 50

export class PresenceStore {
  constructor (private readonly db: DB, private readonly bus: EventBus) {}

  /** Every active user's last report, keyed by user id as a string (JSON object keys). */
  async all (): Promise<Record<string, Presence>> {
    const rows = await this.db.selectFrom('presence').innerJoin('users', 'users.id', 'presence.user_id')
      .select(['presence.user_id', 'presence.status', 'presence.timestamp'])
      .where('users.is_active', '=', 1).orderBy('presence.user_id').execute()
    const out: Record<string, Presence> = {}
    for (const r of rows) out[String(r.user_id)] = { status: r.status, timestamp: r.timestamp }
    return out
  }

  /** do_update_user_presence: records the report; publishes on a change of status or when the last news is stale. */
  async doUpdatePresence (user: User, status: PresenceStatus): Promise<Presence> {
    const t = now()
    const previous = await this.db.transaction().execute(async (trx) => {
      const previous = await trx.selectFrom('presence').select(['status', 'timestamp']).where('user_id', '=', user.user_id).executeTakeFirst()
      await trx.insertInto('presence').values({ user_id: user.user_id, status, timestamp: t })
        .onConflict((oc) => oc.column('user_id').doUpdateSet({ status, timestamp: t })).execute()
      return previous
    })
    const presence = { status, timestamp: t }
    if (previous === undefined || previous.status !== status || t - previous.timestamp >= PRESENCE_REBROADCAST_SECONDS) {
      this.bus.publish({ type: 'presence', user_id: user.user_id, email: user.email, presence }, { kind: 'all' })
    }
    return presence
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    presence: PresenceStore
  }
}

export default fp(async function presencePlugin (app: FastifyInstance) {
  app.decorate('presence', new PresenceStore(app.db, app.bus))
}, { name: 'presence', dependencies: ['db', 'bus', 'users'] })
