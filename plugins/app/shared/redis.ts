// The Redis connection shared by every process (REDIS_URL, SPEC §11): one command connection,
// one subscriber connection for channels, the key and channel prefix, and the one place where a
// Redis failure becomes 503 SERVER_NOT_READY. `app.redis` is null in the embedded mode.
import fp from 'fastify-plugin'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { Redis, ReplyError, type RedisOptions } from 'ioredis'
import { errors, ParleyError } from '../errors.js'

/** How long one connection attempt may take: an unreachable host must not hold a boot or a reconnect for long. */
const CONNECT_TIMEOUT_MS = 1000
/** A command without an answer by then fails (503): a stopped or unreachable server must not hang requests. */
const COMMAND_TIMEOUT_MS = 2000
/** How long the start waits for Redis before giving up with a message naming REDIS_URL. */
const BOOT_TIMEOUT_MS = 5000

/** Server replies meaning "not now" rather than "wrong": loading, failing over, a script running too long. */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b/

/**
 * True when `err`, from a Redis command, means Redis cannot be reached or cannot serve now. ioredis
 * rejects with plain Errors for the connection (closed, not writable with the offline queue off,
 * timed out, retries flushed) and with ReplyError for the server's own answers, of which only a
 * few mean "later"; any other reply is a bug of ours and stays a 500.
 */
export function isRedisUnavailable (err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof ParleyError) return false
  if (err instanceof (ReplyError as typeof Error)) return UNAVAILABLE_REPLY.test(err.message)
  return true
}

/** The error to throw for a failed Redis call: 503 SERVER_NOT_READY when Redis is unavailable, else `err` itself. */
export function fromRedis (err: unknown): unknown {
  return isRedisUnavailable(err) ? errors.notReady() : err
}

/** Options every connection shares; see the constants above and docs/decisions.md. */
function baseOptions (): RedisOptions {
  return {
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    // While Redis is down a command fails at once (503) instead of waiting in a queue.
    enableOfflineQueue: false,
    // Commands in flight when the connection drops fail at the first reconnect attempt, and
    // are not sent again: a rate-limit INCR resent after a timeout would count twice.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // Keep trying for ever, at most a second apart: service resumes within a second of Redis's return.
    retryStrategy: (times) => Math.min(times * 100, 1000)
  }
}

export type MessageHandler = (message: string) => void

export class SharedRedis {
  /** The command connection: any non-blocking command. Keys must go through `key()`. */
  readonly command: Redis
  private readonly subscriber: Redis
  private readonly handlers = new Map<string, Set<MessageHandler>>()
  private readonly resumeHandlers = new Set<() => void>()
  private readonly others = new Set<Redis>()
  private subscriberLost = false

  constructor (readonly url: string, readonly prefix: string, private readonly log: FastifyBaseLogger) {
    this.command = this.connection()
    // The subscriber queues its SUBSCRIBE commands until connected (they are few and ours)
    // and subscribes again by itself after a reconnect.
    this.subscriber = this.connection({ enableOfflineQueue: true, commandTimeout: undefined })
    this.subscriber.on('message', (channel: string, message: string) => {
      const set = this.handlers.get(channel)
      if (set === undefined) return
      for (const h of set) {
        try { h(message) } catch (err) { this.log.error({ err, channel }, 'redis: a channel handler failed') }
      }
    })
    this.subscriber.on('close', () => { this.subscriberLost = true })
    this.subscriber.on('ready', () => {
      if (!this.subscriberLost) return
      this.subscriberLost = false
      // 'ready' comes before ioredis sends the SUBSCRIBEs again; a PING sent after them answers
      // once they are in force, so no message published from then on is missed.
      process.nextTick(() => {
        this.subscriber.ping().then(() => {
          for (const h of this.resumeHandlers) h()
        }, () => { /* lost again: the next 'ready' resumes */ })
      })
    })
  }

  /** `name` with the prefix (PARLEY_REDIS_PREFIX): every key and channel is named through this. */
  key (name: string): string {
    return this.prefix + name
  }

  /** Whether commands can be sent now; when not, they fail at once with a connection error (503 through `fromRedis`). */
  get ready (): boolean {
    return this.command.status === 'ready'
  }

  /**
   * Calls `handler` with each message published on `channel` (prefixed here) by any process,
   * this one included. Resolves once Redis has confirmed the subscription; the returned function
   * unsubscribes.
   */
  async subscribe (channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    const name = this.key(channel)
    let set = this.handlers.get(name)
    if (set === undefined) {
      set = new Set()
      this.handlers.set(name, set)
      try {
        await this.subscriber.subscribe(name)
      } catch (err) {
        this.handlers.delete(name)
        throw fromRedis(err)
      }
    }
    set.add(handler)
    return async () => {
      const s = this.handlers.get(name)
      if (s === undefined || !s.delete(handler) || s.size > 0) return
      this.handlers.delete(name)
      if (this.subscriber.status === 'ready') await this.subscriber.unsubscribe(name).catch(() => {})
    }
  }

  /**
   * Calls `handler` each time the subscriber connection is back after a loss and subscribed
   * again: messages published meanwhile were missed, so whatever they would have told must be
   * assumed. Returns a function that removes the handler.
   */
  onResume (handler: () => void): () => void {
    this.resumeHandlers.add(handler)
    return () => { this.resumeHandlers.delete(handler) }
  }

  /** Publishes `message` on `channel` (prefixed here); rejects with a connection error when Redis is down. */
  async publish (channel: string, message: string): Promise<void> {
    await this.command.publish(this.key(channel), message)
  }

  /**
   * A further connection with the same URL and options (plus `overrides`), for blocking
   * commands that must not hold the command connection; closed with the app.
   */
  connection (overrides: RedisOptions = {}): Redis {
    const conn = new Redis(this.url, { ...baseOptions(), ...overrides })
    // One line when a connection is lost and one when it is back, not one per retry.
    let down = false
    conn.on('error', (err: Error) => {
      if (down) return
      down = true
      this.log.warn({ err: { message: err.message } }, 'redis: connection failed; retrying')
    })
    conn.on('ready', () => {
      if (!down) return
      down = false
      this.log.info('redis: connection is back')
    })
    conn.on('end', () => { this.others.delete(conn) })
    this.others.add(conn)
    return conn
  }

  /** Resolves once the command and subscriber connections are up; rejects after BOOT_TIMEOUT_MS naming the cause. */
  async connected (): Promise<void> {
    await Promise.all([this.command, this.subscriber].map(async (conn) => await new Promise<void>((resolve, reject) => {
      if (conn.status === 'ready') { resolve(); return }
      let last: Error | undefined
      const onError = (err: Error): void => { last = err }
      const timer = setTimeout(() => {
        conn.off('ready', onReady)
        conn.off('error', onError)
        reject(new Error(`REDIS_URL: Redis did not answer within ${BOOT_TIMEOUT_MS / 1000} s${last === undefined ? '' : ` (${last.message})`}`))
      }, BOOT_TIMEOUT_MS)
      const onReady = (): void => { clearTimeout(timer); conn.off('error', onError); resolve() }
      conn.once('ready', onReady)
      conn.on('error', onError)
    })))
  }

  /** Closes every connection: QUIT when connected, at once otherwise. */
  async close (): Promise<void> {
    const all = [...this.others]
    this.others.clear()
    await Promise.all(all.map(async (conn) => {
      if (conn.status === 'ready') await conn.quit().catch(() => { conn.disconnect() })
      else conn.disconnect()
    }))
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The shared Redis (plugins/app/shared/redis.ts) when REDIS_URL is set; null in the embedded mode. */
    redis: SharedRedis | null
  }
}

export default fp(async function redisPlugin (app: FastifyInstance) {
  const { redisUrl, redisPrefix } = app.config
  if (redisUrl === undefined) {
    app.decorate('redis', null)
    return
  }
  const redis = new SharedRedis(redisUrl, redisPrefix, app.log)
  app.decorate('redis', redis)
  // onClose hooks run in reverse order of registration: this one after those of every plugin
  // registered later (the bus, the queues), which may still use Redis in theirs.
  app.addHook('onClose', async () => { await redis.close() })
  try {
    await redis.connected()
  } catch (err) {
    await redis.close()
    throw err
  }
}, { name: 'redis', dependencies: ['config'] })
