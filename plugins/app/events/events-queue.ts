// Event queues in memory: one per registered client, indexed by owner, with
// acknowledgement, the held long-poll (one waiter per queue) and its heartbeat, caps and the idle sweep.
import { randomBytes } from 'node:crypto'
import type { BusEvent, Published } from './bus.js'
import { errors } from '../errors.js'
import { matchesNarrow, type NarrowTerm } from './events-narrow.js'

/** Limits that keep one client (or many) from exhausting memory; written down in docs/events.md. */
export const CAPS = {
  queuesPerUser: 50,
  queuesTotal: 100_000,
  pendingPerQueue: 1000
}

/** Types delivered to every queue whatever it asked for. */
const ALWAYS = new Set(['heartbeat', 'restart'])

/**
 * A queued event: its per-queue id and its JSON without the id (`{"type":…}`), so one
 * serialization is shared by every queue that receives the same payload.
 */
export interface Queued { id: number, json: string }

export interface Batch { events: Queued[], queue_id: string }

interface Waiter {
  answer: (events: Queued[]) => void
  /** Date.now() when the poll began to be held: its heartbeat is due heartbeatMs later. */
  since: number
}

export interface QueueOptions {
  userId: number
  eventTypes: string[] | null
  narrow: NarrowTerm[]
  /** Seconds without a GET before the queue is dropped; 0 = the server's timeout. */
  lifespanSecs: number
}

/**
 * An empty list of events with the elements kind of a list that holds some (V8's
 * PACKED_ELEMENTS, where `[]` starts as PACKED_SMI_ELEMENTS). Every `pending` list then
 * has the same hidden class, new queue or acknowledged one: code optimized on queues
 * that had been acknowledged (their lists are slices) would otherwise be thrown away at the
 * first new queue, as happened to the dispatch of a message to 5,000 new queues (docs/performance.md).
 */
function noEvents (): Queued[] {
  const list: Array<Queued | null> = [null]
  list.pop()
  return list as Queued[]
}

export class EventQueue {
  readonly id: string
  readonly userId: number
  readonly eventTypes: Set<string> | null
  readonly narrow: NarrowTerm[]
  /** Whether `narrow` has any term: a flag rather than the list's length, as for `pending` below. */
  readonly narrowed: boolean
  readonly lifespanSecs: number
  pending: Queued[] = noEvents()
  nextId = 0
  /** Date.now() of the last register or GET. */
  lastUsed = Date.now()
  waiter: Waiter | undefined

  constructor (id: string, opts: QueueOptions) {
    this.id = id
    this.userId = opts.userId
    this.eventTypes = opts.eventTypes === null ? null : new Set(opts.eventTypes)
    this.narrow = opts.narrow
    this.narrowed = opts.narrow.length > 0
    this.lifespanSecs = opts.lifespanSecs
  }

  wants (type: string): boolean {
    return ALWAYS.has(type) || this.eventTypes === null || this.eventTypes.has(type)
  }

  /** Drops every event the client has seen (`id <= lastEventId`). */
  ack (lastEventId: number): void {
    let n = 0
    while (n < this.pending.length && (this.pending[n] as Queued).id <= lastEventId) n++
    if (n > 0) this.pending = this.pending.slice(n)
  }

  push (json: string): void {
    this.pending.push({ id: this.nextId++, json })
  }
}

/** `{"id":N,…}` from a queued event. */
export function eventJson (e: Queued): string {
  return `{"id":${e.id},${e.json.slice(1)}`
}

/**
 * Reply serializer of GET /events: the envelope with the events spliced in from their
 * shared serializations instead of stringifying each again. The answer as the verb table
 * builds it (nothing in `data` but the batch) is written from a template; anything else
 * (ignored parameters listed) goes through JSON.stringify. Both write the same bytes as
 * JSON.stringify of the whole envelope would (test/events-queue.test.ts).
 */
export function serializeBatchEnvelope (payload: { data: Batch & Record<string, unknown> } & Record<string, unknown>): string {
  const data = payload.data as (Batch & Record<string, unknown>) | undefined
  // An error answered after the serializer was set (a queue found unknown in Redis) is a plain envelope.
  if (data === undefined) return JSON.stringify(payload)
  const list = data.events
  let events = ''
  for (let i = 0; i < list.length; i++) events += (i === 0 ? '' : ',') + eventJson(list[i] as Queued)
  if (payload.result === 'success' && payload.msg === '' && Object.keys(payload).length === 3 && Object.keys(data).length === 2) {
    return `{"result":"success","msg":"","data":{"queue_id":${JSON.stringify(data.queue_id)},"events":[${events}]}}`
  }
  const { events: _spliced, ...rest } = data
  const head = JSON.stringify({ ...payload, data: rest })
  return head.slice(0, -2) + (head.endsWith('{}}') ? '' : ',') + '"events":[' + events + ']}}'
}

export function stringify (event: BusEvent): string {
  // The per-queue id is added when serving; a published event never carries one.
  if (event.id === undefined) return JSON.stringify(event)
  const { id: _ignored, ...rest } = event
  return JSON.stringify(rest)
}

/** The event with `flags` (already JSON) as its last key, without copying the event. */
function stringifyWithFlags (event: BusEvent, flags: string): string {
  // A flags key of its own keeps its place, as a spread would leave it.
  if (Object.hasOwn(event, 'flags')) return stringify({ ...event, flags: JSON.parse(flags) })
  const json = stringify(event)
  return json === '{}' ? `{"flags":${flags}}` : `${json.slice(0, -1)},"flags":${flags}}`
}

/** A user's queues, and the stamp of the last dispatch that reached them. */
interface Own { queues: Set<EventQueue>, stamp: number }

/** One dispatch: the event and its serializations, each made by the first queue that needs it. */
export interface Dispatching {
  event: BusEvent
  message: { sender_id?: unknown } | undefined
  json?: string
  read?: string
  unread?: string
}

export function dispatching (event: BusEvent): Dispatching {
  return { event, message: event.type === 'message' ? event.message as Dispatching['message'] : undefined }
}

/**
 * What one queue receives of a dispatch, or undefined: the type filter, the narrow, the
 * sender's flags. Each serialization is made once, by the first queue that needs it. Shared
 * by the in-process registry and the Redis fan-out (events-redis.ts).
 */
export function payloadFor (d: Dispatching, q: EventQueue): string | undefined {
  const event = d.event
  if (event.type !== 'message') return q.wants(event.type) ? (d.json ??= stringify(event)) : undefined
  if (!q.wants('message')) return undefined
  if (q.narrowed && !matchesNarrow(q.narrow, d.message, q.userId)) return undefined
  if (q.userId === d.message?.sender_id) return (d.read ??= stringifyWithFlags(event, '["read"]'))
  return (d.unread ??= stringifyWithFlags(event, '[]'))
}

/**
 * A queue's filter in the form Redis's FANOUT script applies alone (events-redis-lua.ts): '*'
 * (every type) or ',a,b,' (these types), for a queue without a narrow whose type names hold no
 * comma; else undefined, and the publisher filters with payloadFor. The same rule as `wants`.
 */
export function redisFilter (eventTypes: string[] | null, narrow: unknown[]): string | undefined {
  if (narrow.length > 0) return undefined
  if (eventTypes === null) return '*'
  if (eventTypes.some((t) => t.includes(','))) return undefined
  return `,${eventTypes.join(',')},`
}

/** What FANOUT appends for a dispatch: whether every queue takes its type, its payload, and the sender's (message events). */
export function plainPayloads (d: Dispatching): { always: boolean, payload: string, sender?: { id: string, payload: string } } {
  const event = d.event
  const always = ALWAYS.has(event.type)
  if (event.type !== 'message') return { always, payload: (d.json ??= stringify(event)) }
  const payload = (d.unread ??= stringifyWithFlags(event, '[]'))
  const sender = d.message?.sender_id
  if (typeof sender !== 'number') return { always, payload }
  return { always, payload, sender: { id: String(sender), payload: (d.read ??= stringifyWithFlags(event, '["read"]')) } }
}

export class QueueRegistry {
  readonly queues = new Map<string, EventQueue>()
  private readonly byUser = new Map<number, Own>()
  /** Numbers the dispatches, so a user listed twice in one audience is recognized by their stamp. */
  private stamp = 0
  /** Set once the server stops: polls are answered at once instead of held. */
  closing = false

  /**
   * Queues with a held poll, in the order their holds began (a new hold goes to the end),
   * so the heartbeat finds every due poll from the front. One interval for all of them
   * instead of a timer per held poll: at 5,000 polls, arming and clearing a timer each
   * was ~15 ms of a fan-out (docs/performance.md).
   */
  private readonly held = new Set<EventQueue>()
  /** Runs `beat` while any poll is held (and keeps the process alive meanwhile, as a held request should). */
  private heart: NodeJS.Timeout | undefined

  constructor (private readonly heartbeatMs: number, private readonly timeoutSecs: number) {}

  /** How often `beat` should run: a heartbeat comes at most a tenth of its period late (at most 1 s). */
  get beatMs (): number { return Math.max(20, Math.min(1000, Math.floor(this.heartbeatMs / 10))) }

  /** Answers, with a heartbeat event, every poll held for heartbeatMs or longer. */
  beat (now = Date.now()): number {
    let beaten = 0
    for (const q of this.held) {
      if (q.waiter === undefined) { this.held.delete(q); continue }
      if (now - q.waiter.since < this.heartbeatMs) break
      q.push('{"type":"heartbeat"}')
      this.answer(q)
      beaten++
    }
    return beaten
  }

  get size (): number { return this.queues.size }

  create (opts: QueueOptions): EventQueue {
    const own = this.byUser.get(opts.userId)?.queues
    if (own !== undefined && own.size >= CAPS.queuesPerUser) {
      // A client that registers again without deleting its old queue (a closed tab) loses the oldest.
      let oldest: EventQueue | undefined
      for (const q of own) if (q.waiter === undefined && (oldest === undefined || q.lastUsed < oldest.lastUsed)) oldest = q
      this.drop(oldest ?? own.values().next().value as EventQueue)
    }
    if (this.queues.size >= CAPS.queuesTotal) throw errors.notReady()
    const q = new EventQueue(randomBytes(18).toString('base64url'), opts)
    this.add(q)
    return q
  }

  add (q: EventQueue): void {
    this.queues.set(q.id, q)
    let own = this.byUser.get(q.userId)
    if (own === undefined) { own = { queues: new Set(), stamp: 0 }; this.byUser.set(q.userId, own) }
    own.queues.add(q)
  }

  /** The caller's queue; unknown, expired and other users' queues are all the same error. */
  get (userId: number, queueId: string): EventQueue {
    const q = this.queues.get(queueId)
    if (q === undefined || q.userId !== userId) throw errors.badQueue(queueId)
    return q
  }

  drop (q: EventQueue): void {
    this.answer(q)
    this.queues.delete(q.id)
    const own = this.byUser.get(q.userId)
    if (own !== undefined) {
      own.queues.delete(q)
      if (own.queues.size === 0) this.byUser.delete(q.userId)
    }
  }

  /** Answers the held poll of a queue, if any, with what is pending. */
  answer (q: EventQueue): void {
    const w = q.waiter
    if (w === undefined) return
    q.waiter = undefined
    this.held.delete(q)
    if (this.held.size === 0 && this.heart !== undefined) {
      clearInterval(this.heart)
      this.heart = undefined
    }
    q.lastUsed = Date.now()
    w.answer(q.pending)
  }

  /**
   * GET /events: acknowledge, then answer with what is pending, or hold until an
   * event, a heartbeat, a newer GET, the client going away, or the server stopping.
   * `onGone` registers the callback that runs when the client disconnects.
   */
  // Not async, and nothing awaited on the way: 5,000 answered polls are 5,000 microtasks per
  // promise layer between this and the reply, all run before the first answer is written.
  poll (q: EventQueue, lastEventId: number | undefined, dontBlock: boolean, onGone: (release: () => void) => void): Promise<Batch> {
    // A newer GET answers the older one: the client has moved on.
    this.answer(q)
    if (lastEventId !== undefined) q.ack(lastEventId)
    q.lastUsed = Date.now()
    if (q.pending.length > 0 || dontBlock || this.closing) return Promise.resolve({ events: q.pending, queue_id: q.id })
    return new Promise<Batch>((resolve) => {
      const waiter: Waiter = { answer: (events) => { resolve({ events, queue_id: q.id }) }, since: Date.now() }
      q.waiter = waiter
      this.held.add(q)
      this.heart ??= setInterval(() => { this.beat() }, this.beatMs)
      onGone(() => {
        // The client left: release the hold (the answer goes nowhere) and keep the queue.
        if (q.waiter === waiter) this.answer(q)
      })
    })
  }

  /**
   * Delivers one published event to the queues of its audience that asked for its type: each
   * user's queues once however often the user is listed, users in the audience's order.
   */
  dispatch ({ event, audience }: Published): void {
    const d = dispatching(event)
    if (audience.kind === 'all') {
      for (const q of this.queues.values()) this.offer(d, q)
    } else {
      // A stamp per dispatch instead of a Set of the ids: the fan-out of a message allocates nothing per user.
      const stamp = ++this.stamp
      for (const id of audience.userIds) {
        const own = this.byUser.get(id)
        if (own === undefined || own.stamp === stamp) continue
        own.stamp = stamp
        for (const q of own.queues) this.offer(d, q)
      }
    }
  }

  /** One queue's share of a dispatch. */
  private offer (d: Dispatching, q: EventQueue): void {
    const json = payloadFor(d, q)
    if (json !== undefined) this.deliver(q, json)
  }

  /** Appends an event to every queue (heartbeat, restart). */
  broadcast (event: BusEvent): void {
    const json = stringify(event)
    for (const q of this.queues.values()) this.deliver(q, json)
  }

  private deliver (q: EventQueue, json: string): void {
    if (q.pending.length >= CAPS.pendingPerQueue) {
      // Dropping silently would lose events; dropping the queue makes the client re-register.
      this.drop(q)
      return
    }
    q.push(json)
    this.answer(q)
  }

  /** Drops the queues idle for longer than their lifespan; a held poll keeps its queue alive. */
  sweep (now = Date.now()): number {
    let dropped = 0
    for (const q of this.queues.values()) {
      if (q.waiter !== undefined) continue
      const lifespan = q.lifespanSecs > 0 ? q.lifespanSecs : this.timeoutSecs
      if (now - q.lastUsed > lifespan * 1000) { this.drop(q); dropped++ }
    }
    return dropped
  }

  /** Answers every held poll (server stopping). */
  answerAll (): void {
    this.closing = true
    for (const q of this.queues.values()) this.answer(q)
  }
}
