// Configuration (SPEC §1): loadConfig's defaults, and a bad value stops the start naming its variable.
import t from 'tap'
import { resolve } from 'node:path'
import { ConfigError, loadConfig } from '../plugins/app/config.js'

t.test('every variable has its documented default', async (t) => {
  t.same(loadConfig({}), {
    host: '127.0.0.1',
    port: 9991,
    dataDir: './data',
    databaseUrl: undefined,
    statementTimeoutMs: 10000,
    redisUrl: undefined,
    redisPrefix: 'parley:',
    adminEmail: undefined,
    adminPassword: undefined,
    realmName: 'Parley',
    externalUrl: 'http://127.0.0.1:9991',
    rateLimit: true,
    heartbeatSeconds: 50,
    queueTimeoutSeconds: 600,
    logLevel: 'info',
    staticDir: undefined
  })
})

t.test('an empty variable counts as unset', async (t) => {
  t.match(loadConfig({ PORT: '', HOST: '', LOG_LEVEL: '', PARLEY_RATE_LIMIT: '' }), { port: 9991, host: '127.0.0.1', logLevel: 'info', rateLimit: true })
})

t.test('good values are read', async (t) => {
  t.same(loadConfig({
    HOST: '0.0.0.0',
    PORT: '0',
    PARLEY_DATA_DIR: '/var/lib/parley',
    PARLEY_ADMIN_EMAIL: 'boss@example.com',
    PARLEY_ADMIN_PASSWORD: 'long-enough',
    PARLEY_REALM_NAME: 'Acme',
    PARLEY_EXTERNAL_URL: 'https://chat.example.com/',
    PARLEY_RATE_LIMIT: 'OFF',
    PARLEY_HEARTBEAT_SECONDS: '5',
    PARLEY_QUEUE_TIMEOUT_SECONDS: '60',
    LOG_LEVEL: 'DEBUG',
    PARLEY_STATIC_DIR: 'static',
    DATABASE_URL: 'postgres://parley@db.example.com:5432/parley',
    REDIS_URL: 'redis://cache.example.com:6379/2',
    PARLEY_REDIS_PREFIX: 'acme:',
    PARLEY_DB_STATEMENT_TIMEOUT_MS: '30000'
  }), {
    host: '0.0.0.0',
    port: 0,
    dataDir: '/var/lib/parley',
    databaseUrl: 'postgres://parley@db.example.com:5432/parley',
    statementTimeoutMs: 30000,
    redisUrl: 'redis://cache.example.com:6379/2',
    redisPrefix: 'acme:',
    adminEmail: 'boss@example.com',
    adminPassword: 'long-enough',
    realmName: 'Acme',
    externalUrl: 'https://chat.example.com',
    rateLimit: false,
    heartbeatSeconds: 5,
    queueTimeoutSeconds: 60,
    logLevel: 'debug',
    staticDir: resolve('static')
  })
})

t.test('the derived external URL follows HOST and PORT', async (t) => {
  t.equal(loadConfig({ HOST: '0.0.0.0', PORT: '8080' }).externalUrl, 'http://localhost:8080')
  t.equal(loadConfig({ HOST: '::1', PORT: '8080' }).externalUrl, 'http://[::1]:8080')
  t.equal(loadConfig({ HOST: 'chat.internal' }).externalUrl, 'http://chat.internal:9991')
})

t.test('HOST accepts IP addresses and host names', async (t) => {
  for (const host of ['127.0.0.1', '::', '::1', 'localhost', 'chat.example.com', 'my-host']) {
    t.equal(loadConfig({ HOST: host }).host, host, host)
  }
})

/** Asserts that `env` is refused with a ConfigError naming `variable`. */
function refuses (t: Pick<typeof import('tap').default, 'fail' | 'equal' | 'ok'>, env: Record<string, string>, variable: string): void {
  const what = JSON.stringify(env)
  let err: unknown
  try {
    loadConfig(env)
  } catch (e) {
    err = e
  }
  if (!(err instanceof ConfigError)) {
    t.fail(`${what} is refused with a ConfigError`)
    return
  }
  t.equal(err.variable, variable, what)
  t.ok(err.message.startsWith(`${variable}: `), `${what}: message "${err.message}" names ${variable}`)
}

t.test('a bad value is a ConfigError whose message names the variable', async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ PORT: '65536' }, 'PORT'],
    [{ PORT: '80.5' }, 'PORT'],
    [{ HOST: 'not a host' }, 'HOST'],
    [{ HOST: 'http://example.com' }, 'HOST'],
    [{ HOST: 'bad_host!' }, 'HOST'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
    [{ PARLEY_RATE_LIMIT: 'yes' }, 'PARLEY_RATE_LIMIT'],
    [{ PARLEY_RATE_LIMIT: '1' }, 'PARLEY_RATE_LIMIT'],
    [{ PARLEY_HEARTBEAT_SECONDS: '0' }, 'PARLEY_HEARTBEAT_SECONDS'],
    [{ PARLEY_HEARTBEAT_SECONDS: 'soon' }, 'PARLEY_HEARTBEAT_SECONDS'],
    [{ PARLEY_HEARTBEAT_SECONDS: '3601' }, 'PARLEY_HEARTBEAT_SECONDS'],
    [{ PARLEY_QUEUE_TIMEOUT_SECONDS: '0' }, 'PARLEY_QUEUE_TIMEOUT_SECONDS'],
    [{ PARLEY_EXTERNAL_URL: 'not a url' }, 'PARLEY_EXTERNAL_URL'],
    [{ PARLEY_EXTERNAL_URL: 'ftp://example.com' }, 'PARLEY_EXTERNAL_URL'],
    [{ PARLEY_ADMIN_EMAIL: 'boss@example.com' }, 'PARLEY_ADMIN_PASSWORD'],
    [{ PARLEY_ADMIN_PASSWORD: 'long-enough' }, 'PARLEY_ADMIN_EMAIL'],
    [{ PARLEY_ADMIN_EMAIL: 'not-an-email', PARLEY_ADMIN_PASSWORD: 'long-enough' }, 'PARLEY_ADMIN_EMAIL'],
    [{ PARLEY_ADMIN_EMAIL: 'boss@example.com', PARLEY_ADMIN_PASSWORD: 'short' }, 'PARLEY_ADMIN_PASSWORD']
  ]
  for (const [env, variable] of cases) refuses(t, env, variable)
})

t.test('DATABASE_URL and REDIS_URL select PostgreSQL and Redis; other schemes and a bad prefix are refused, named', async (t) => {
  t.match(loadConfig({ DATABASE_URL: 'postgres://parley@localhost/parley', REDIS_URL: 'redis://localhost:6379' }),
    { databaseUrl: 'postgres://parley@localhost/parley', redisUrl: 'redis://localhost:6379', redisPrefix: 'parley:' })
  t.match(loadConfig({ DATABASE_URL: 'postgresql://h/db', REDIS_URL: 'rediss://h', PARLEY_REDIS_PREFIX: 'org-2:' }), { redisPrefix: 'org-2:' })
  t.match(loadConfig({}), { databaseUrl: undefined, redisUrl: undefined })
  for (const [env, variable] of [
    [{ DATABASE_URL: 'mysql://localhost/parley' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
    [{ REDIS_URL: 'http://localhost:6379' }, 'REDIS_URL'],
    [{ REDIS_URL: 'redis://local host' }, 'REDIS_URL'],
    [{ PARLEY_REDIS_PREFIX: 'has space' }, 'PARLEY_REDIS_PREFIX']
  ] as Array<[Record<string, string>, string]>) refuses(t, env, variable)
})

t.test('PARLEY_DB_STATEMENT_TIMEOUT_MS: milliseconds from 0 (none set) to a day; anything else is refused, named', async (t) => {
  t.equal(loadConfig({ PARLEY_DB_STATEMENT_TIMEOUT_MS: '0' }).statementTimeoutMs, 0)
  t.equal(loadConfig({ PARLEY_DB_STATEMENT_TIMEOUT_MS: '250' }).statementTimeoutMs, 250)
  t.equal(loadConfig({ PARLEY_DB_STATEMENT_TIMEOUT_MS: '86400000' }).statementTimeoutMs, 86_400_000)
  t.equal(loadConfig({ PARLEY_DB_STATEMENT_TIMEOUT_MS: '' }).statementTimeoutMs, 10_000, 'empty is unset')
  for (const value of ['-1', '1.5', '10s', 'off', '86400001', '1e4']) refuses(t, { PARLEY_DB_STATEMENT_TIMEOUT_MS: value }, 'PARLEY_DB_STATEMENT_TIMEOUT_MS')
  let message = ''
  try { loadConfig({ PARLEY_DB_STATEMENT_TIMEOUT_MS: '10s' }) } catch (err) { message = (err as Error).message }
  t.equal(message, 'PARLEY_DB_STATEMENT_TIMEOUT_MS: must be an integer from 0 to 86400000 (got "10s")')
})
