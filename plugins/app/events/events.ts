// The event-queue side of SPEC §7: a registry of queues fed from app.bus, the idle
// sweep, and the save/restore of queues across a clean restart (docs/events.md); with
// REDIS_URL, the queues in Redis instead (events-redis.ts).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { ServerResponse } from 'node:http'
import { QueueRegistry, type Batch, type EventQueue } from './events-queue.js'
import { loadQueues, saveQueues } from './events-persist.js'
import { initialState, type EventsService, type RegisterOptions, type Registered } from './events-state.js'
import type { User } from '../stores/users.js'

export class Events implements EventsService {
  readonly registry: QueueRegistry

  constructor (private readonly app: FastifyInstance) {
    this.registry = new QueueRegistry(app.config.heartbeatSeconds * 1000, app.config.queueTimeoutSeconds)
  }

  /**
   * POST /register: the queue is created before the state is read, so an event
   * that lands in between is queued rather than lost (at worst seen twice).
   */
  async register (user: User, opts: RegisterOptions): Promise<Registered> {
    const q = this.registry.create({ userId: user.user_id, ...opts })
    try {
      const state = await initialState(this.app, user, (type) => q.eventTypes === null || q.eventTypes.has(type))
      return { queue_id: q.id, last_event_id: -1, ...state }
    } catch (err) {
      this.registry.drop(q)
      throw err
    }
  }

  /**
   * GET /events; a client that closes its connection releases the hold. Throws at once
   * (not in the promise) for a queue that is not the caller's, so the route can tell.
   */
  get (user: User, queueId: string, lastEventId: number | undefined, dontBlock: boolean, res: ServerResponse): Promise<Batch> {
    const q = this.registry.get(user.user_id, queueId)
    // 'close' comes after the answer too, and release() is then a no-op: one listener, no 'finish' one.
    return this.registry.poll(q, lastEventId, dontBlock, (release) => { res.once('close', release) })
  }

  delete (user: User, queueId: string): void {
    this.registry.drop(this.registry.get(user.user_id, queueId))
  }

  /** For tests and diagnostics: the queue, if it exists. */
  async pendingJson (queueId: string): Promise<string[]> {
    return (this.registry.queues.get(queueId)?.pending ?? []).map((e) => e.json)
  }

  queue (queueId: string): EventQueue | undefined {
    return this.registry.queues.get(queueId)
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    events: EventsService
  }
}

export default fp(async function eventsPlugin (app: FastifyInstance) {
  // With REDIS_URL the queues live in Redis and any process serves any of them; without it, nothing below changes.
  // Imported only then, so the embedded mode never loads ioredis.
  if (app.config.redisUrl !== undefined) {
    const { redisEvents } = await import('./events-redis.js')
    await redisEvents(app, app.config.redisUrl)
    return
  }
  const events = new Events(app)
  const registry = events.registry
  app.decorate('events', events)

  try {
    const restored = loadQueues(registry, app.config.dataDir)
    if (restored > 0) {
      // One generation per start, so a client can tell restarts apart.
      registry.broadcast({ type: 'restart', server_generation: Date.now() })
      app.log.info({ queues: restored }, 'event queues restored')
    }
  } catch (err) {
    app.log.warn({ err }, 'saved event queues could not be read; clients will register again')
  }

  const unsubscribe = app.bus.subscribe((p) => { registry.dispatch(p) })

  // Checked often enough that an idle queue goes within about a quarter of the timeout.
  const sweepMs = Math.min(60_000, Math.max(100, app.config.queueTimeoutSeconds * 250))
  const sweeper = setInterval(() => { registry.sweep() }, sweepMs)
  sweeper.unref()

  // Before the server cuts open sockets (forceCloseConnections): answer every held poll.
  app.addHook('preClose', async () => { registry.answerAll() })
  app.addHook('onClose', async () => {
    clearInterval(sweeper)
    unsubscribe()
    // Requests that finished during the close may have queued more events: save after them.
    registry.answerAll()
    const saved = saveQueues(registry, app.config.dataDir)
    if (saved > 0) app.log.info({ queues: saved }, 'event queues saved')
  })
}, { name: 'events', dependencies: ['bus', 'users', 'streams', 'messages', 'presence', 'config'] })
