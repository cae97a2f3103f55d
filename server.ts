// The entry point: configuration, logger, listen, and a graceful close on SIGINT/SIGTERM.
// Evaluated first, before the other modules' code runs: keeps nextTick's queue-entry shapes alive (tick-shape.ts).
import './plugins/app/tick-shape.js'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import closeWithGrace from 'close-with-grace'
import { existsSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import parley, { serverOptions } from './app.js'
import { LogThread } from './plugins/app/log/log-thread.js'
import { ConfigError, loadConfig, type Config } from './plugins/app/config.js'

function readConfig (): Config {
  try {
    if (existsSync('.env')) process.loadEnvFile('.env')
    return loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`parley: invalid configuration: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
}

/** Starts Parley from the environment; used by `npm start` and by scripts/dev.ts. */
export async function start (): Promise<FastifyInstance> {
  const config = readConfig()
  const pretty = process.env.PARLEY_PRETTY_LOGS === '1'
  // Log lines are written by a worker thread, which also formats the access lines,
  // at least every 50 ms and before exit (plugins/app/log/log-thread.ts; docs/performance.md).
  const destination = pretty ? undefined : new LogThread(1)
  const app = Fastify(serverOptions({
    level: config.logLevel,
    ...(destination !== undefined ? { stream: destination } : {}),
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss', ignore: 'pid,hostname' } } } : {})
  }))
  await app.register(fp(parley), { config })

  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal }, 'closing')
    await app.close()
    if (destination !== undefined) {
      // A stdout nobody drains (a full pipe) must not hold the exit forever.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000)
        destination.end(() => { clearTimeout(timer); resolve() })
      })
    }
  })

  await app.ready()
  const owner = await app.users.ensureOwner(config.adminEmail, config.adminPassword)
  const address = await app.listen({ host: config.host, port: config.port })
  app.log.info({ url: address }, `Parley is listening at ${address}`)
  // The listening line before anything printed directly.
  if (destination !== undefined) await new Promise<void>((resolve) => { destination.flush(resolve) })
  if (owner.created) {
    // The reader may be gone already (`npm start | head -1`): an EPIPE on this write would
    // be an uncaught error, and the process would exit 1 instead of serving; the log
    // thread stops writing on EPIPE the same way (decisions 23).
    process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code !== 'EPIPE') throw err })
    const how = owner.password === config.adminPassword
      ? 'with the password from PARLEY_ADMIN_PASSWORD'
      : `with the generated password ${owner.password ?? ''} (shown only this once)`
    process.stdout.write(
      `\nCreated the organization owner ${owner.email} ${how}.\n` +
      `Get an API key: curl -sS -X POST ${address}/api/v1/fetch_api_key --data-urlencode username=${owner.email} --data-urlencode password=...\n` +
      `Then: curl -sS -u ${owner.email}:API_KEY ${address}/api/v1/users/me\n\n`)
  }
  return app
}

const entry = process.argv[1]
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  start().catch((err: unknown) => {
    process.stderr.write(`parley: failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exit(1)
  })
}
