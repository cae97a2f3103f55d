// Event queues in Redis (REDIS_URL; docs/events.md, "Queues in Redis"): every queue lives in
// Redis, so any process registers, polls, feeds and drops any queue. A process holds only the
// long-polls that reached it and answers them when a wake-up on the channel names their queue.
import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import { errors, ParleyError } from '../errors.js'
import { CAPS, EventQueue, redisFilter, type Batch, type Queued } from './events-queue.js'
import { initialState, type EventsService, type RegisterOptions, type Registered } from './events-state.js'
import { RedisFanout } from './events-redis-fanout.js'
import { RedisOutbox } from './events-outbox.js'
import * as lua from './events-redis-lua.js'
import type { User } from '../stores/users.js'

/**
 * A connection that fails fast: no offline queue (a command while disconnected is an error at
 * once, not a hang), a short command timeout, and reconnection forever in the background.
 * The one place connections are made, so a shared connection plugin can replace it.
 */
export function connectRedis (url: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 100, 1000)
  })
}

const SCRIPTS = { parleyRegister: lua.REGISTER, parleyPoll: lua.POLL, parleyRead: lua.READ, parleyAppend: lua.APPEND, parleyFanout: lua.FANOUT, parleyMeta: lua.META, parleyDelete: lua.DELETE, parleySweep: lua.SWEEP }
export type ScriptName = keyof typeof SCRIPTS
export type Run = (name: ScriptName, args: Array<string | number>) => Promise<unknown>

/** A long-poll this process holds. */
interface Hold {
  id: string
  userId: number
  /** Unique per GET: a wake-up naming a newer GET's token answers every other hold of the queue. */
  token: string
  since: number
  resolve: (b: Batch) => void
  /** Its heartbeat is being appended: not due again. */
  beating: boolean
  /** The id the queue's next event will get, once the POLL found nothing pending: a wake-up with that id answers at once. */
  next: number | undefined
}

/** A queue's pending events as Redis returns them: the first one's id, then the events' JSON. */
type Pending = [number, string[]]

function queued ([first, events]: Pending): Queued[] {
  return events.map((json, i) => ({ id: first + i, json }))
}

export class RedisEvents implements EventsService {
  private readonly p: string
  private readonly holds = new Map<string, Hold>()
  private heart: NodeJS.Timeout | undefined
  private readonly proc = randomBytes(6).toString('base64url')
  private seq = 0
  closing = false
  readonly fanout: RedisFanout
  readonly run: Run

  constructor (private readonly app: FastifyInstance, readonly cmd: Redis, readonly sub: Redis) {
    this.p = app.config.redisPrefix
    for (const [name, script] of Object.entries(SCRIPTS)) cmd.defineCommand(name, { numberOfKeys: 0, lua: script })
    const commands = cmd as unknown as Record<ScriptName, (...args: Array<string | number>) => Promise<unknown>>
    this.run = async (name, args) => await commands[name](this.p, ...args)
    this.fanout = new RedisFanout(this.run, app.log)
  }

  private get heartbeatMs (): number { return this.app.config.heartbeatSeconds * 1000 }

  /** Every Redis failure of a request becomes 503 SERVER_NOT_READY; our own coded errors pass. */
  private failed (err: unknown): ParleyError {
    if (err instanceof ParleyError) return err
    this.app.log.warn({ err }, 'redis: event queue command failed')
    return errors.notReady()
  }

  async register (user: User, opts: RegisterOptions): Promise<Registered> {
    const id = randomBytes(18).toString('base64url')
    const lifeMs = (opts.lifespanSecs > 0 ? opts.lifespanSecs : this.app.config.queueTimeoutSeconds) * 1000
    const types = opts.eventTypes === null ? '' : JSON.stringify(opts.eventTypes)
    let created: unknown
    try {
      created = await this.run('parleyRegister', [id, user.user_id, types, JSON.stringify(opts.narrow), lifeMs, Date.now(), CAPS.queuesPerUser, CAPS.queuesTotal, redisFilter(opts.eventTypes, opts.narrow) ?? ''])
    } catch (err) { throw this.failed(err) }
    if (created !== 1) throw errors.notReady()
    const q = new EventQueue(id, { userId: user.user_id, ...opts })
    this.fanout.cache.set(id, q)
    try {
      const state = await initialState(this.app, user, (type) => q.eventTypes === null || q.eventTypes.has(type))
      return { queue_id: id, last_event_id: -1, ...state }
    } catch (err) {
      await this.run('parleyDelete', [id, user.user_id]).catch(() => {})
      throw err
    }
  }

  get (user: User, queueId: string, lastEventId: number | undefined, dontBlock: boolean, res: ServerResponse): Promise<Batch> {
    // A newer GET answers the older one held here; one held by another process hears it from the POLL script.
    const older = this.holds.get(queueId)
    // Another user's queue: refused before its owner's hold is touched.
    if (older !== undefined && older.userId !== user.user_id) return Promise.reject(errors.badQueue(queueId))
    if (older !== undefined) this.answer(older, [])
    const holding = !dontBlock && !this.closing
    const token = `${this.proc}.${++this.seq}`
    const cached = this.fanout.cache.get(queueId)
    return new Promise<Batch>((resolve, reject) => {
      let hold: Hold | undefined
      let left = false
      if (holding) res.once('close', () => { left = true; if (hold !== undefined) this.release(hold) })
      const poll = (): void => {
        if (holding) {
          // The client left while this GET waited: nothing to hold, nobody to answer.
          if (left) { resolve({ events: [], queue_id: queueId }); return }
          // Held from the moment the POLL is sent, not before: a wake-up that comes while it runs
          // reads after it on the same connection, so the READ sees the POLL's acknowledgement.
          // A READ sent earlier (while this GET waited for the fan-outs below) would answer with
          // events the client had already acknowledged.
          hold = { id: queueId, userId: user.user_id, token, since: Date.now(), resolve, beating: false, next: undefined }
          // One GET holds a queue here at a time: one that came while this one waited is answered now.
          const other = this.holds.get(queueId)
          if (other !== undefined) this.answer(other, [])
          this.holds.set(queueId, hold)
          if (cached !== undefined) cached.waiter = { answer: () => {}, since: hold.since }
        }
        this.run('parleyPoll', [queueId, user.user_id, lastEventId ?? '', Date.now(), token, holding ? 1 : 0, 2 * this.heartbeatMs, cached === undefined ? 1 : 0])
          .then((r) => {
            if (r === null) {
              if (hold !== undefined) this.release(hold)
              reject(errors.badQueue(queueId))
              return
            }
            const [first, events, types, narrow] = r as [number, string[], string?, string?]
            if (narrow !== undefined) this.fanout.remember(queueId, user.user_id, types ?? '', narrow)
            if (hold === undefined) { resolve({ events: queued([first, events]), queue_id: queueId }); return }
            if (this.holds.get(queueId) !== hold) return
            if (events.length > 0) { this.answer(hold, queued([first, events])); return }
            hold.next = first
            const q = this.fanout.cache.get(queueId)
            if (q !== undefined) q.waiter = { answer: () => {}, since: hold.since }
            this.heart ??= setInterval(() => { this.beat() }, Math.max(20, Math.min(1000, Math.floor(this.heartbeatMs / 10))))
          }, (err: unknown) => {
            if (hold !== undefined) this.release(hold)
            reject(this.failed(err))
          })
      }
      // Events this process has published are in Redis before its own GETs read (read your writes).
      if (this.fanout.inflight > 0) this.fanout.settled().then(poll, poll)
      else poll()
    })
  }

  async delete (user: User, queueId: string): Promise<void> {
    let deleted: unknown
    try { deleted = await this.run('parleyDelete', [queueId, user.user_id]) } catch (err) { throw this.failed(err) }
    if (deleted !== 1) throw errors.badQueue(queueId)
  }

  queue (queueId: string): EventQueue | undefined {
    return this.fanout.cache.get(queueId)
  }

  async pendingJson (queueId: string): Promise<string[]> {
    // The list of events-redis-lua.ts: each element is an event's JSON without its id.
    return await this.cmd.lrange(`${this.p}ev:l:${queueId}`, 0, -1)
  }

  /** Forgets a hold without answering it (the client left) or after answering it. */
  private release (hold: Hold): void {
    if (this.holds.get(hold.id) !== hold) return
    this.holds.delete(hold.id)
    const q = this.fanout.cache.get(hold.id)
    if (q !== undefined) q.waiter = undefined
    if (this.holds.size === 0 && this.heart !== undefined) {
      clearInterval(this.heart)
      this.heart = undefined
    }
  }

  private answer (hold: Hold, events: Queued[]): void {
    this.release(hold)
    hold.resolve({ events, queue_id: hold.id })
  }

  /** Reads the named holds' queues and answers those with events (or gone); `beat` appends a heartbeat first. */
  private read (holds: Hold[], beat: boolean): void {
    if (holds.length === 0) return
    const args: Array<string | number> = [Date.now(), beat ? '1' : '0', CAPS.pendingPerQueue]
    for (const h of holds) args.push(h.id, h.token)
    this.run('parleyRead', args).then((out) => {
      (out as Array<0 | Pending>).forEach((r, i) => {
        const h = holds[i] as Hold
        if (this.holds.get(h.id) !== h) return
        if (r === 0) this.answer(h, [])
        else if (r[1].length > 0) this.answer(h, queued(r))
      })
    }, (err: unknown) => {
      this.app.log.warn({ err }, 'redis: reading held event queues failed')
      // A heartbeat that cannot be written still answers: the client polls again and learns.
      if (beat) for (const h of holds) if (this.holds.get(h.id) === h) this.answer(h, [])
    })
  }

  /** Heartbeats for the holds that are due, in the order they began. */
  private beat (now = Date.now()): void {
    const due: Hold[] = []
    for (const h of this.holds.values()) {
      if (now - h.since < this.heartbeatMs) break
      if (!h.beating) { h.beating = true; due.push(h) }
    }
    this.read(due, true)
  }

  /** A message on the wake-up channel (events-redis-lua.ts lists the kinds). */
  wake (message: string): void {
    const kind = message[0]
    if (kind === 'e') {
      // [payloads, [queue, id, payload number, …]]: answered from the message when the id is the one expected, else read.
      const [payloads, woken] = JSON.parse(message.slice(1)) as [string[], Array<string | number>]
      const unsure: Hold[] = []
      for (let i = 0; i < woken.length; i += 3) {
        const h = this.holds.get(woken[i] as string)
        if (h === undefined) continue
        const id = woken[i + 1] as number
        if (h.next === id) this.answer(h, [{ id, json: payloads[(woken[i + 2] as number) - 1] as string }])
        else unsure.push(h)
      }
      this.read(unsure, false)
      return
    }
    const ids = message.slice(1).split(' ')
    if (kind === 'g') {
      for (const id of ids) {
        this.fanout.cache.delete(id)
        const h = this.holds.get(id)
        if (h !== undefined) this.answer(h, [])
      }
    } else if (kind === 's') {
      const h = this.holds.get(ids[0] as string)
      if (h !== undefined && h.token !== ids[1]) this.answer(h, [])
    }
  }

  /** After the subscriber reconnects: wake-ups published meanwhile were lost, so read every hold. */
  rereadAll (): void { this.read([...this.holds.values()], false) }

  sweep (): void {
    this.run('parleySweep', [Date.now(), 1000, '0'])
      .catch((err: unknown) => { this.app.log.debug({ err }, 'redis: event queue sweep failed') })
  }

  /** Server stopping: every held poll is answered now, and later GETs are not held. */
  answerAll (): void {
    this.closing = true
    for (const h of [...this.holds.values()]) this.answer(h, [])
  }
}

/** The plugin's Redis side: connections, subscription, fan-out, sweep, and the drain before each answer. */
export async function redisEvents (app: FastifyInstance, url: string): Promise<void> {
  const cmd = connectRedis(url)
  const sub = connectRedis(url)
  for (const [name, c] of [['command', cmd], ['subscriber', sub]] as const) {
    // ioredis reports every failed reconnection; one line per state change is enough.
    c.on('error', (err: Error) => { app.log.debug({ err, connection: name }, 'redis: connection error') })
  }
  try {
    await Promise.all([cmd.connect(), sub.connect()])
  } catch (err) {
    cmd.disconnect()
    sub.disconnect()
    throw new Error(`REDIS_URL: cannot connect to Redis (${(err as Error).message})`)
  }
  const events = new RedisEvents(app, cmd, sub)
  app.decorate('events', events)

  const channel = `${app.config.redisPrefix}ev:wake`
  sub.on('message', (ch: string, message: string) => { if (ch === channel) events.wake(message) })
  await sub.subscribe(channel)
  // Connected already: a later 'ready' is a reconnection.
  sub.on('ready', () => { events.rereadAll() })
  // The outbox (events-outbox.ts): message events written in their transaction, appended once.
  const outbox = new RedisOutbox(app.db, (p) => { events.fanout.publish(p) }, app.log)
  events.fanout.appended = (key) => { outbox.appended(key) }
  app.bus.outbox = outbox
  const stopOutbox = outbox.start(() => cmd.status === 'ready')
  cmd.on('ready', () => { events.fanout.recover(); outbox.tryRecover() })

  const unsubscribe = app.bus.subscribe((p) => { events.fanout.publish(p) })
  // An answer waits for the fan-out of what its request published: an acknowledged action's events
  // are in Redis. GET and HEAD publish nothing, so they never wait: a poll answered while this
  // process fans out a message to thousands goes out at once, not after the whole fan-out.
  app.addHook('onSend', (req: FastifyRequest, _reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void) => {
    if (events.fanout.inflight === 0 || req.method === 'GET' || req.method === 'HEAD') { done(null, payload); return }
    const send = (): void => { done(null, payload) }
    events.fanout.settled().then(send, send)
  })

  const sweepMs = Math.min(60_000, Math.max(100, app.config.queueTimeoutSeconds * 250))
  const sweeper = setInterval(() => { events.sweep() }, sweepMs)
  sweeper.unref()

  app.addHook('preClose', async () => { events.answerAll() })
  app.addHook('onClose', async () => {
    clearInterval(sweeper)
    unsubscribe()
    app.bus.outbox = undefined
    await stopOutbox()
    await events.fanout.settled()
    await outbox.flush()
    events.answerAll()
    sub.disconnect()
    await cmd.quit().catch(() => { cmd.disconnect() })
  })
}
