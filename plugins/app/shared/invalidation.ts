// Change notices between processes (REDIS_URL): each process caches credential look-ups and
// subscriber lists (plugins/app/stores/); after a change to either commits, the process that made
// it publishes a notice, and every other process forgets what the notice names.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { randomUUID } from 'node:crypto'
import type { SharedRedis } from './redis.js'
import type { DB } from '../db/db.js'
import type { UserStore } from '../stores/users.js'
import { forgetSubscribers, subscriberCache } from '../stores/subscriber-cache.js'

export const CHANNEL = 'invalidate'

/**
 * What changed: `users` (any user: credentials, activity, and so who counts as a subscriber),
 * `subscribers` of one stream or of all, or `all` (notices may have been lost).
 */
export type Notice = { kind: 'users' } | { kind: 'subscribers', streamId: number | undefined } | { kind: 'all' }

/** `<origin> <kind>[ <stream id>]`: short, and a process knows its own notices by the origin. */
export function encode (origin: string, notice: Notice): string {
  if (notice.kind === 'subscribers') return notice.streamId === undefined ? `${origin} subscribers` : `${origin} subscribers ${notice.streamId}`
  return `${origin} ${notice.kind}`
}

export function decode (message: string): { origin: string, notice: Notice } | undefined {
  const [origin, kind, id] = message.split(' ')
  if (origin === undefined || origin === '') return undefined
  if (kind === 'users' || kind === 'all') return { origin, notice: { kind } }
  if (kind === 'subscribers') {
    if (id === undefined) return { origin, notice: { kind, streamId: undefined } }
    const streamId = Number(id)
    return Number.isSafeInteger(streamId) ? { origin, notice: { kind, streamId } } : undefined
  }
  return undefined
}

export class Invalidation {
  /** This process (this app instance: tests build two in one process). */
  readonly origin = randomUUID()
  /** A notice could not be published (Redis down): the others are owed an `all` once it is back. */
  private owed = false

  constructor (private readonly redis: SharedRedis, private readonly db: DB, private readonly users: UserStore) {}

  async start (): Promise<void> {
    await this.redis.subscribe(CHANNEL, (message) => { this.receive(message) })
    // Back after a loss: whatever was published meanwhile was missed.
    this.redis.onResume(() => { this.apply({ kind: 'all' }) })
    this.redis.command.on('ready', () => { if (this.owed) this.publish({ kind: 'all' }) })
    this.users.onChange = () => { this.publish({ kind: 'users' }) }
    subscriberCache(this.db).announce = (streamId) => { this.publish({ kind: 'subscribers', streamId }) }
  }

  stop (): void {
    this.users.onChange = undefined
    subscriberCache(this.db).announce = undefined
  }

  /**
   * Sends `notice` to the other processes. Not awaited by the change: ioredis writes the command
   * to the socket at once, so it reaches Redis before the change's answer reaches its client.
   */
  publish (notice: Notice): void {
    if (!this.redis.ready) { this.owed = true; return }
    // A notice lost before this one may have named anything.
    const sent: Notice = this.owed ? { kind: 'all' } : notice
    this.owed = false
    this.redis.publish(CHANNEL, encode(this.origin, sent)).catch(() => { this.owed = true })
  }

  private receive (message: string): void {
    const got = decode(message)
    if (got === undefined || got.origin === this.origin) return
    this.apply(got.notice)
  }

  /** Forgets what `notice` names in this process. */
  apply (notice: Notice): void {
    if (notice.kind !== 'subscribers') {
      this.users.forgetCached()
      // A user's (de)activation changes who counts as a subscriber of every stream.
      forgetSubscribers(this.db)
    } else {
      forgetSubscribers(this.db, notice.streamId)
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Change notices between processes; null in the embedded mode (one process, nothing to tell). */
    invalidation: Invalidation | null
  }
}

export default fp(async function invalidationPlugin (app: FastifyInstance) {
  if (app.redis === null) {
    app.decorate('invalidation', null)
    return
  }
  const invalidation = new Invalidation(app.redis, app.db, app.users)
  await invalidation.start()
  app.decorate('invalidation', invalidation)
  app.addHook('onClose', async () => { invalidation.stop() })
}, { name: 'invalidation', dependencies: ['redis', 'db', 'users', 'streams'] })
