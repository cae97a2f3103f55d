// The fan-out of a published event into the Redis queues, done by the publishing process: one
// FANOUT script resolves the audience and appends to the queues without a narrow; the few it
// cannot decide get the same filter as in-process (payloadFor) and one APPEND. Events are
// appended in publish order, so every queue sees them in that order. An event with an outbox
// row (events-outbox.ts) is appended once per row, whoever publishes it.
import type { FastifyBaseLogger } from 'fastify'
import type { Published } from './bus.js'
import { CAPS, EventQueue, dispatching, payloadFor, plainPayloads, type Dispatching } from './events-queue.js'
import { OUTBOX } from './events-outbox.js'
import type { Run } from './events-redis.js'

interface Plan { payloads: string[], targets: Array<string | number> }

export class RedisFanout {
  /**
   * Queue metadata (owner, types, narrow), immutable once registered: read from Redis once per
   * process, dropped when a wake-up says the queue is gone or an append finds it missing.
   */
  readonly cache = new Map<string, EventQueue>()
  /**
   * Users per FANOUT script: a 5,000-user stream is five scripts, and the first holders answer
   * after the first (~10 ms) instead of after all five (docs/performance.md). Tests set it lower.
   */
  slice = 1000
  /** Fan-outs published and not yet appended; a request's answer waits for them to reach 0. */
  inflight = 0
  private tail: Promise<void> = Promise.resolve()
  /** Users (or everyone) whose events could not be appended: their queues are dropped when Redis is back. */
  private lost: Set<number> | 'all' | undefined
  /** Told when an outbox row's event is in Redis (appended now or before): its row can go. */
  appended: (outboxId: string) => void = () => {}

  constructor (private readonly run: Run, private readonly log: FastifyBaseLogger) {}

  remember (id: string, userId: number, types: string, narrow: string): EventQueue {
    const q = new EventQueue(id, { userId, eventTypes: types === '' ? null : JSON.parse(types), narrow: JSON.parse(narrow), lifespanSecs: 0 })
    this.cache.set(id, q)
    return q
  }

  /** Resolves when every fan-out published so far has been appended (or has failed). */
  async settled (): Promise<void> { await this.tail }

  publish (p: Published): void {
    this.inflight++
    // Chained: each event's appends are in Redis before the next event's begin, so every queue
    // sees this process's events in publish order.
    this.tail = this.tail.then(async () => {
      try {
        await this.fanout(p)
        if (p.outboxId !== undefined) this.appended(p.outboxId)
      } catch (err) {
        // An outbox row stays and is published again once Redis answers: its queues miss nothing.
        if (p.outboxId === undefined) this.lose(p, err)
        else this.log.warn({ err, type: p.event.type }, 'redis: an event could not be queued; its outbox row publishes it again later')
      } finally {
        this.inflight--
      }
    })
  }

  /**
   * FANOUT scripts resolve the audience and append to every queue whose filter Redis can apply
   * (no narrow: the usual case), a slice of the audience each, all sent at once: each slice's
   * wake-up goes out as soon as its script ends, so the holders answer while Redis appends the
   * next. The queues they return undecided are filtered here with payloadFor and appended with
   * APPEND. Each script has its own outbox guard (the slices are cut from the audience as the
   * row stores it), so a replayed row appends only what is missing.
   */
  private async fanout ({ event, audience, outboxId }: Published): Promise<void> {
    if (audience.kind === 'users' && audience.userIds.length === 0) return
    const d = dispatching(event)
    const { always, payload, sender } = plainPayloads(d)
    const guard = (step: string): Array<string | number> => outboxId === undefined ? ['', 0] : [outboxId + step, OUTBOX.guardSecs]
    const slices: Array<Array<string | number>> = []
    if (audience.kind === 'all') slices.push(['all'])
    else {
      const users = [...new Set(audience.userIds)]
      for (let at = 0; at < users.length; at += this.slice) slices.push(['users', ...users.slice(at, at + this.slice)])
    }
    const args = [event.type, always ? '1' : '0', sender?.id ?? '', payload, sender?.payload ?? '']
    const answers = await Promise.all(slices.map(async (who, i) =>
      await this.run('parleyFanout', [CAPS.pendingPerQueue, ...guard(i === 0 ? '' : `/${i}`), ...args, ...who]) as [number, string[]]))
    const undecided = answers.flatMap(([, u]) => u)
    if (undecided.length === 0) return
    const { payloads, targets } = await this.plan(d, undecided)
    if (targets.length === 0) return
    // null: this step was appended before (its publisher and a recovery raced).
    const missing = await this.run('parleyAppend', [CAPS.pendingPerQueue, ...guard('/n'), payloads.length, ...payloads, ...targets]) as string[] | null
    for (const id of missing ?? []) this.cache.delete(id)
  }

  /** The payload of each queue FANOUT left undecided, with its metadata read once per process. */
  private async plan (d: Dispatching, ids: string[]): Promise<Plan> {
    const unknown = ids.filter((id) => !this.cache.has(id))
    if (unknown.length > 0) {
      const rows = await this.run('parleyMeta', unknown) as Array<Array<string | null>>
      rows.forEach(([u, t, n], i) => {
        if (u !== null && u !== undefined && n !== null && n !== undefined) this.remember(unknown[i] as string, Number(u), t ?? '', n)
      })
    }
    const payloads: string[] = []
    const targets: Array<string | number> = []
    for (const id of ids) {
      const q = this.cache.get(id)
      if (q === undefined) continue
      const json = payloadFor(d, q)
      if (json === undefined) continue
      let k = payloads.indexOf(json)
      if (k === -1) k = payloads.push(json) - 1
      targets.push(id, k + 1)
    }
    return { payloads, targets }
  }

  /**
   * An event that could not be appended (Redis unreachable) would leave its queues silently
   * behind; instead they are dropped once Redis is back, and their clients register again.
   */
  private lose ({ event, audience }: Published, err: unknown): void {
    this.log.error({ err, type: event.type }, 'redis: an event could not be queued; its queues are dropped when Redis is back')
    if (audience.kind === 'all' || this.lost === 'all') { this.lost = 'all'; return }
    this.lost ??= new Set()
    for (const id of audience.userIds) this.lost.add(id)
  }

  /** Drops the queues whose events were lost (called when the command connection is ready again). */
  recover (): void {
    const lost = this.lost
    if (lost === undefined) return
    this.lost = undefined
    const args = lost === 'all' ? [0, 0, 'all'] : [0, 0, '1', ...lost]
    this.run('parleySweep', args).then((n) => {
      this.log.warn({ queues: n }, 'redis: dropped the event queues that missed events during the outage')
    }, (err: unknown) => {
      this.log.error({ err }, 'redis: dropping the queues that missed events failed; trying again at the next reconnection')
      if (this.lost === undefined) this.lost = lost
    })
  }
}
