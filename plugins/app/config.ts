// Configuration from the environment (SPEC §1), validated once at boot.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { isIP } from 'node:net'
import { existsSync, statSync } from 'node:fs'
import { resolve } from 'node:path'

export interface Config {
  host: string
  port: number
  dataDir: string
  /** DATABASE_URL: PostgreSQL instead of the embedded SQLite database (SPEC §11). */
  databaseUrl: string | undefined
  /** PARLEY_DB_STATEMENT_TIMEOUT_MS: on PostgreSQL, a statement running longer is cancelled (its request a 503); 0 = none set. */
  statementTimeoutMs: number
  /** REDIS_URL: Redis for everything shared between processes (SPEC §11). */
  redisUrl: string | undefined
  /** PARLEY_REDIS_PREFIX: the prefix of every Redis key and channel, so organizations can share a Redis. */
  redisPrefix: string
  adminEmail: string | undefined
  adminPassword: string | undefined
  realmName: string
  externalUrl: string
  rateLimit: boolean
  heartbeatSeconds: number
  queueTimeoutSeconds: number
  logLevel: string
  /** PARLEY_STATIC_DIR: the directory /static/ serves; unset = found beside the code (plugins/app/pages/assets.ts). */
  staticDir: string | undefined
}

/** A bad configuration value; `variable` names the environment variable at fault. */
export class ConfigError extends Error {
  constructor (readonly variable: string, message: string) {
    super(`${variable}: ${message}`)
    this.name = 'ConfigError'
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const EMAIL = /^[^\s@]+@[^\s@]+$/
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

type Env = Record<string, string | undefined>

function str (env: Env, name: string): string | undefined {
  const v = env[name]
  return v === undefined || v === '' ? undefined : v
}

function int (env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name)
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer from ${min} to ${max} (got "${raw}")`)
  const n = Number(raw.trim())
  if (n < min || n > max) throw new ConfigError(name, `must be an integer from ${min} to ${max} (got "${raw}")`)
  return n
}

/** Reads and checks every variable of SPEC §1; throws ConfigError naming the first bad one. */
export function loadConfig (env: Env = process.env): Config {
  const host = str(env, 'HOST') ?? '127.0.0.1'
  // Caught here, a typo names HOST; caught by listen(), it is a bare getaddrinfo error.
  if (isIP(host) === 0 && !HOSTNAME.test(host)) throw new ConfigError('HOST', `must be an IP address or a host name (got "${host}")`)
  const port = int(env, 'PORT', 9991, 0, 65535)

  const databaseUrl = str(env, 'DATABASE_URL')
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) throw new ConfigError('DATABASE_URL', 'must be a postgres:// URL')
  const redisUrl = str(env, 'REDIS_URL')
  if (redisUrl !== undefined) {
    if (!/^rediss?:\/\//.test(redisUrl)) throw new ConfigError('REDIS_URL', 'must be a redis:// or rediss:// URL')
    if (!URL.canParse(redisUrl)) throw new ConfigError('REDIS_URL', `is not a URL (got "${redisUrl}")`)
  }
  const redisPrefix = str(env, 'PARLEY_REDIS_PREFIX') ?? 'parley:'
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(redisPrefix)) throw new ConfigError('PARLEY_REDIS_PREFIX', `must be 1 to 64 letters, digits or _ . : - (got "${redisPrefix}")`)

  const adminEmail = str(env, 'PARLEY_ADMIN_EMAIL')
  const adminPassword = str(env, 'PARLEY_ADMIN_PASSWORD')
  if (adminEmail !== undefined && !EMAIL.test(adminEmail)) throw new ConfigError('PARLEY_ADMIN_EMAIL', `is not an email address (got "${adminEmail}")`)
  if (adminEmail !== undefined && adminPassword === undefined) throw new ConfigError('PARLEY_ADMIN_PASSWORD', 'must be set when PARLEY_ADMIN_EMAIL is')
  if (adminPassword !== undefined && adminEmail === undefined) throw new ConfigError('PARLEY_ADMIN_EMAIL', 'must be set when PARLEY_ADMIN_PASSWORD is')
  if (adminPassword !== undefined && adminPassword.length < 8) throw new ConfigError('PARLEY_ADMIN_PASSWORD', 'must be at least 8 characters')

  const rateLimitRaw = (str(env, 'PARLEY_RATE_LIMIT') ?? 'on').toLowerCase()
  if (rateLimitRaw !== 'on' && rateLimitRaw !== 'off') throw new ConfigError('PARLEY_RATE_LIMIT', `must be "on" or "off" (got "${rateLimitRaw}")`)

  const logLevel = (str(env, 'LOG_LEVEL') ?? 'info').toLowerCase()
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`)

  let externalUrl = str(env, 'PARLEY_EXTERNAL_URL')
  if (externalUrl !== undefined) {
    let url: URL
    try { url = new URL(externalUrl) } catch { throw new ConfigError('PARLEY_EXTERNAL_URL', `is not a URL (got "${externalUrl}")`) }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('PARLEY_EXTERNAL_URL', 'must be an http:// or https:// URL')
    externalUrl = url.origin + url.pathname.replace(/\/+$/, '')
  } else {
    const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host
    externalUrl = `http://${shown}:${port}`
  }

  return {
    host,
    port,
    dataDir: str(env, 'PARLEY_DATA_DIR') ?? './data',
    databaseUrl,
    statementTimeoutMs: int(env, 'PARLEY_DB_STATEMENT_TIMEOUT_MS', 10_000, 0, 86_400_000),
    redisUrl,
    redisPrefix,
    adminEmail,
    adminPassword,
    realmName: str(env, 'PARLEY_REALM_NAME') ?? 'Parley',
    externalUrl,
    rateLimit: rateLimitRaw === 'on',
    heartbeatSeconds: int(env, 'PARLEY_HEARTBEAT_SECONDS', 50, 1, 3600),
    queueTimeoutSeconds: int(env, 'PARLEY_QUEUE_TIMEOUT_SECONDS', 600, 1, 7 * 24 * 3600),
    logLevel,
    staticDir: staticDirOf(env)
  }
}

function staticDirOf (env: Env): string | undefined {
  const raw = str(env, 'PARLEY_STATIC_DIR')
  if (raw === undefined) return undefined
  const dir = resolve(raw)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError('PARLEY_STATIC_DIR', `is not a directory (got "${raw}")`)
  return dir
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export default fp(async function configPlugin (app: FastifyInstance, opts: { config: Config }) {
  app.decorate('config', opts.config)
}, { name: 'config' })
