// The event bus: domain actions publish here after their transaction commits;
// the event-queue side subscribes. In-process now; a Redis implementation of the
// same interface carries events between processes later (docs/events.md).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Transaction } from 'kysely'
import type { Database } from '../db/db.js'

/** Who may receive an event: everyone in the realm, or a list of user ids. */
export type Audience = { kind: 'all' } | { kind: 'users', userIds: number[] }

/** An event as published, before a queue gives it its own id. Plain JSON so it can cross processes. */
export interface BusEvent {
  type: string
  [field: string]: unknown
}

export interface Published {
  event: BusEvent
  audience: Audience
  /** The event's outbox row (Redis mode, messages only): the append is done once per row. */
  outboxId?: string | undefined
}

/**
 * The transactional outbox (REDIS_URL only; events-outbox.ts): an action whose event must reach
 * the queues even if its process dies right after the commit writes the event in its transaction
 * and passes the row's key to publish().
 */
export interface Outbox {
  add: (trx: Transaction<Database>, event: BusEvent, audience: Audience) => Promise<string>
}

export interface EventBus {
  publish: (event: BusEvent, audience: Audience, outboxId?: string) => void
  /** Set by the Redis event side at start; undefined in-process, where nothing is written. */
  outbox: Outbox | undefined
  subscribe: (listener: (p: Published) => void) => () => void
  close: () => Promise<void>
}

export class LocalBus implements EventBus {
  private readonly listeners = new Set<(p: Published) => void>()
  outbox: Outbox | undefined

  publish (event: BusEvent, audience: Audience, outboxId?: string): void {
    const p = { event, audience, outboxId }
    for (const l of this.listeners) l(p)
  }

  subscribe (listener: (p: Published) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  async close (): Promise<void> { this.listeners.clear() }
}

declare module 'fastify' {
  interface FastifyInstance {
    bus: EventBus
  }
}

export default fp(async function busPlugin (app: FastifyInstance) {
  const bus = new LocalBus()
  app.decorate('bus', bus)
  app.addHook('onClose', async () => { await bus.close() })
}, { name: 'bus' })
