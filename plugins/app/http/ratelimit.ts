// Rate limits (SPEC §5): fixed windows per user, per IP for anonymous requests,
// and authentication failures per username. Counters live behind RateLimitStore:
// in memory, or in Redis with REDIS_URL so every process shares them.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { errors } from '../errors.js'
import type { AppliedLimit } from './notes.js'
import { emailKey } from '../stores/users.js'
import { BoundedMap } from '../bounded-map.js'
import { RedisRateLimitStore } from '../shared/redis-ratelimit.js'

export interface RateLimitStore {
  /** Adds `by` (0 to only read) to the counter of `key` in a window of `windowSeconds`; returns the count and reset time (Unix seconds). */
  hit: (key: string, windowSeconds: number, by: number) => { count: number, reset: number } | Promise<{ count: number, reset: number }>
  /** `hit` for several keys in one call, when a store offers it: one round trip instead of one per window. */
  hitAll?: (keys: string[], windows: ReadonlyArray<{ windowSeconds: number }>, by: number) => Promise<Array<{ count: number, reset: number }>>
  close: () => void
}

export class MemoryRateLimitStore implements RateLimitStore {
  private readonly windows = new Map<string, { count: number, reset: number }>()
  private readonly sweeper: NodeJS.Timeout

  constructor () {
    this.sweeper = setInterval(() => {
      const t = Date.now() / 1000
      for (const [k, w] of this.windows) if (w.reset <= t) this.windows.delete(k)
    }, 60_000)
    this.sweeper.unref()
  }

  hit (key: string, windowSeconds: number, by: number): { count: number, reset: number } {
    const t = Date.now() / 1000
    let w = this.windows.get(key)
    if (w === undefined || w.reset <= t) {
      w = { count: 0, reset: Math.ceil(t + windowSeconds) }
      this.windows.set(key, w)
    }
    w.count += by
    return w
  }

  close (): void { clearInterval(this.sweeper) }
}

interface Rule { domain: string, limit: number, windowSeconds: number }

export const RULES = {
  user: [
    { domain: 'api_by_user', limit: 200, windowSeconds: 60 },
    { domain: 'api_by_user_hour', limit: 2000, windowSeconds: 3600 }
  ] satisfies Rule[],
  anonymous: [{ domain: 'api_by_ip', limit: 100, windowSeconds: 60 }] satisfies Rule[],
  authFailures: { domain: 'authenticate_by_username', limit: 5, windowSeconds: 30 * 60 } satisfies Rule
}

export class RateLimiter {
  /** The store keys of each rule set for each id, built once: a fresh key string per request is measurable. */
  private readonly keyCache = new Map<Rule[], BoundedMap<string | number, string[]>>()

  constructor (readonly store: RateLimitStore, readonly enabled: boolean) {}

  /**
   * Counts one request against every rule, records them in the notes, sets the
   * headers of the strictest window, and throws 429 RATE_LIMIT_HIT when over.
   * Synchronous when the store is (memory); a Promise when it is not (Redis).
   */
  check (request: FastifyRequest, reply: FastifyReply, rules: Rule[], id: string | number): void | Promise<void> {
    if (!this.enabled) return
    const keys = this.keysOf(rules, id)
    if (this.store.hitAll !== undefined) return this.store.hitAll(keys, rules, 1).then((ws) => { this.apply(request, reply, rules, ws) })
    const windows: Array<{ count: number, reset: number } | Promise<{ count: number, reset: number }>> = []
    let pending = false
    for (let i = 0; i < rules.length; i++) {
      const w = this.store.hit(keys[i] as string, (rules[i] as Rule).windowSeconds, 1)
      if (w instanceof Promise) pending = true
      windows.push(w)
    }
    if (pending) return Promise.all(windows).then((ws) => { this.apply(request, reply, rules, ws) })
    this.apply(request, reply, rules, windows as Array<{ count: number, reset: number }>)
  }

  private keysOf (rules: Rule[], id: string | number): string[] {
    let byId = this.keyCache.get(rules)
    if (byId === undefined) {
      byId = new BoundedMap(10_000)
      this.keyCache.set(rules, byId)
    }
    let keys = byId.get(id)
    if (keys === undefined) {
      keys = rules.map((rule) => `${rule.domain}:${id}`)
      byId.set(id, keys)
    }
    return keys
  }

  private apply (request: FastifyRequest, reply: FastifyReply, rules: Rule[], windows: Array<{ count: number, reset: number }>): void {
    let strictest: AppliedLimit | undefined
    let over: AppliedLimit | undefined
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i] as Rule
      const w = windows[i] as { count: number, reset: number }
      const applied = { domain: rule.domain, limit: rule.limit, remaining: Math.max(0, rule.limit - w.count), reset: w.reset }
      request.notes.rateLimits.push(applied)
      if (w.count > rule.limit && (over === undefined || applied.reset > over.reset)) over = applied
      if (strictest === undefined || applied.remaining < strictest.remaining) strictest = applied
    }
    const shown = over ?? strictest
    if (shown !== undefined) {
      // Strings, not numbers: Node checks each header value with a regular expression,
      // which takes V8's slow path (a conversion first) for a number (docs/performance.md).
      reply.header('x-ratelimit-limit', String(shown.limit))
      reply.header('x-ratelimit-remaining', String(shown.remaining))
      reply.header('x-ratelimit-reset', String(shown.reset))
    }
    if (over !== undefined) throw errors.rateLimited(Math.max(1, Math.ceil(over.reset - Date.now() / 1000)))
  }

  /**
   * Before checking a password or key: 429 when `username` already failed too often.
   * Counted by the same key the user look-up uses, so spacing or letter case
   * cannot buy a fresh set of attempts.
   */
  async assertAuthAllowed (username: string): Promise<void> {
    if (!this.enabled) return
    const rule = RULES.authFailures
    const w = await this.store.hit(`${rule.domain}:${emailKey(username)}`, rule.windowSeconds, 0)
    if (w.count >= rule.limit) throw errors.rateLimited(Math.max(1, Math.ceil(w.reset - Date.now() / 1000)))
  }

  async recordAuthFailure (username: string): Promise<void> {
    if (!this.enabled) return
    const rule = RULES.authFailures
    await this.store.hit(`${rule.domain}:${emailKey(username)}`, rule.windowSeconds, 1)
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    rateLimiter: RateLimiter
  }
}

export default fp(async function rateLimitPlugin (app: FastifyInstance) {
  // One count for the whole organization when processes share a Redis; this process's own otherwise.
  const store: RateLimitStore = app.redis !== null ? new RedisRateLimitStore(app.redis) : new MemoryRateLimitStore()
  app.decorate('rateLimiter', new RateLimiter(store, app.config.rateLimit))
  app.addHook('onClose', async () => { store.close() })
}, { name: 'ratelimit', dependencies: ['config', 'notes', 'redis'] })
