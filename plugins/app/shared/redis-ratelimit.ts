// Rate-limit counters in Redis (SPEC §5): the RateLimitStore of plugins/app/http/ratelimit.ts
// when REDIS_URL is set, so every process counts against the same windows.
import type { SharedRedis } from './redis.js'
import { fromRedis } from './redis.js'

export interface Window { count: number, reset: number }

/**
 * Adds ARGV[1] (0 to only read) to each key's counter and answers, per key, the count and the
 * window's end in Unix seconds. A key's first hit starts its window: it expires at the whole
 * second ARGV[i + 1] seconds from now (the memory store's `ceil(now + window)`), by Redis's
 * clock, so every process sees the same reset. One script: the increment and the expiry are
 * atomic (no counter left without expiry by a crash between them), and all of a request's
 * windows cost one round trip.
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local by = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local count
  if by > 0 then
    count = redis.call('INCRBY', KEYS[i], by)
  else
    count = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
  local ttl = redis.call('PTTL', KEYS[i])
  local reset
  if ttl >= 0 then
    reset = now + ttl
  else
    reset = math.ceil((now + tonumber(ARGV[i + 1]) * 1000) / 1000) * 1000
    if count > 0 then redis.call('PEXPIREAT', KEYS[i], reset) end
  end
  out[2 * i - 1] = count
  out[2 * i] = math.ceil(reset / 1000)
end
return out
`

interface WithScript { parleyRateLimit: (numKeys: number, ...args: Array<string | number>) => Promise<number[]> }

export class RedisRateLimitStore {
  constructor (private readonly redis: SharedRedis) {
    // EVALSHA, and EVAL once when Redis answers NOSCRIPT (after a restart emptied its script cache).
    redis.command.defineCommand('parleyRateLimit', { lua: SCRIPT })
  }

  async hit (key: string, windowSeconds: number, by: number): Promise<Window> {
    return (await this.hitAll([key], [{ windowSeconds }], by))[0] as Window
  }

  /** `hit` for several keys at once (a user's minute and hour), in one round trip. */
  async hitAll (keys: string[], windows: ReadonlyArray<{ windowSeconds: number }>, by: number): Promise<Window[]> {
    const args: Array<string | number> = keys.map((k) => this.redis.key(`ratelimit:${k}`))
    args.push(by)
    for (const w of windows) args.push(w.windowSeconds)
    let reply: number[]
    try {
      reply = await (this.redis.command as unknown as WithScript).parleyRateLimit(keys.length, ...args)
    } catch (err) {
      throw fromRedis(err)
    }
    const out: Window[] = []
    for (let i = 0; i < keys.length; i++) out.push({ count: reply[2 * i] as number, reset: reply[2 * i + 1] as number })
    return out
  }

  /** The connection belongs to the redis plugin, which closes it. */
  close (): void {}
}
