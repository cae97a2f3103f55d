// The first benchmark (issue 2, point 11): authenticated GET /api/v1/users/me on
// the compiled Parley, access log on at info, against a bare Fastify route that
// answers the very same JSON, in alternating rounds. docs/performance.md explains
// why the keys of many seeded users are rotated instead of switching limits off.
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { cpSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import parley, { serverOptions } from '../app.js'
import { loadConfig } from '../plugins/app/config.js'
import { RULES } from '../plugins/app/http/ratelimit.js'
import { countLines, startBaseline, startParley, type Server } from './children.js'
import { printProfiles, profiledRun } from './cpuprofile.js'
import { alternate, summarize, type Benchmark, type BenchOptions, type Row } from './harness.js'
import { rotationScript } from './wrk.js'

const PATH = '/api/v1/users/me'
const ADMIN_EMAIL = 'owner@example.com'
const ADMIN_PASSWORD = 'bench-owner-password'
/** The strictest per-user limit: no seeded user may get more requests than this in a run. */
const PER_USER_BUDGET = Math.min(...RULES.user.map((r) => r.limit))
/** Requests sent with one key before moving to the next: under the budget, and enough for the auth cache to be warm, as for an active user. */
const PER_KEY = Math.floor(PER_USER_BUDGET * 0.9)
/** An upper bound for Parley's req/s on the machine: the key blocks are sized from it. */
const MAX_RPS = 25_000

interface Key { email: string, apiKey: string, authorization: string }

function basic (email: string, apiKey: string): string {
  return 'Basic ' + Buffer.from(`${email}:${apiKey}`).toString('base64')
}

/**
 * Creates the owner and `count` members in a fresh data dir through the users
 * store itself (in this process, before any server starts): through the API each
 * would cost a password hash and count against the owner's own rate limit.
 */
async function seed (dataDir: string, count: number): Promise<Key[]> {
  const config = loadConfig({ PARLEY_DATA_DIR: dataDir, PARLEY_RATE_LIMIT: 'off' })
  const app = Fastify(serverOptions(false))
  await app.register(fp(parley), { config })
  await app.ready()
  try {
    await app.users.ensureOwner(ADMIN_EMAIL, ADMIN_PASSWORD)
    const keys: Key[] = []
    for (let i = 1; i <= count; i++) {
      // Same-length emails and names, so every user's answer has the size of the baseline's.
      const n = String(i).padStart(5, '0')
      const email = `bench-${n}@example.com`
      await app.users.doCreateUser({ email, full_name: `Bench user ${n}`, role: 'member' })
      const row = await app.users.getRowByEmail(email)
      if (row === undefined) throw new Error(`seeded user ${email} is missing`)
      keys.push({ email, apiKey: row.api_key, authorization: basic(email, row.api_key) })
    }
    return keys
  } finally {
    await app.close()
  }
}

async function get (url: string, authorization?: string): Promise<{ status: number, type: string, text: string }> {
  const res = await fetch(url, authorization === undefined ? {} : { headers: { authorization } })
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() }
}

/** The owner's API key through the public door, as a client would get it. */
async function fetchApiKey (server: Server): Promise<string> {
  const res = await fetch(`${server.url}/api/v1/fetch_api_key`, {
    method: 'POST',
    body: new URLSearchParams({ username: ADMIN_EMAIL, password: ADMIN_PASSWORD })
  })
  const body = await res.json() as { data?: { api_key?: string } }
  const key = body.data?.api_key
  if (res.status !== 200 || key === undefined) throw new Error(`fetch_api_key answered ${res.status}: ${JSON.stringify(body)}`)
  return key
}

/** One more round each for Parley and the baseline under --cpu-prof, each in a fresh process (so with fresh rate-limit counters). */
async function profileRound (opts: BenchOptions, dataDir: string, payloadFile: string, script: string, keyCount: number): Promise<void> {
  const wrk = { path: PATH, seconds: opts.seconds, connections: opts.connections, script, scriptArgs: ['0', String(keyCount)] }
  const parleyRun = await profiledRun('parley', opts.dir, async (nodeArgs) => await startParley({
    name: 'parley-profiled',
    dir: opts.dir,
    dataDir,
    adminEmail: ADMIN_EMAIL,
    adminPassword: ADMIN_PASSWORD,
    rateLimit: true,
    nodeArgs
  }), wrk)
  const bareRun = await profiledRun('bare fastify', opts.dir, async (nodeArgs) => await startBaseline({
    name: 'bare-fastify-profiled', dir: opts.dir, payloadFile, path: PATH, nodeArgs
  }), wrk)
  for (const r of [parleyRun, bareRun]) {
    opts.log(`  profiled ${r.label}: ${Math.round(r.result.rps)} req/s, ${r.result.non2xx} non-2xx`)
  }
  printProfiles(opts.log, [parleyRun, bareRun])
}

const usersMe: Benchmark = {
  name: 'users-me',
  description: 'GET /api/v1/users/me (Basic auth, rate limits on, access log at info) vs bare Fastify answering the same JSON; also Fastify with @fastify/basic-auth and a Map, the premise of the target',
  async run (opts) {
    // Each wrk run against Parley (limits on) gets its own block of keys, big enough
    // for MAX_RPS: counters live in the server process, so no key is ever reused.
    const blockSizes = [opts.warmupSeconds, ...Array<number>(opts.rounds).fill(opts.seconds)]
      .map((s) => Math.ceil(MAX_RPS * s / PER_KEY))
    const blockStart = (run: number): number => blockSizes.slice(0, run).reduce((a, b) => a + b, 0)
    const userCount = blockStart(blockSizes.length)
    const started = Date.now()
    const dataOn = join(opts.dir, 'data-limits-on')
    const keys = await seed(dataOn, userCount)
    const dataOff = join(opts.dir, 'data-limits-off')
    cpSync(dataOn, dataOff, { recursive: true })
    if (opts.profile) cpSync(dataOn, join(opts.dir, 'data-profiled'), { recursive: true })
    opts.log(`  seeded ${keys.length} users in ${((Date.now() - started) / 1000).toFixed(1)} s`)

    const servers: Server[] = []
    try {
      const common = { dir: opts.dir, adminEmail: ADMIN_EMAIL, adminPassword: ADMIN_PASSWORD }
      const on = await startParley({ ...common, name: 'parley', dataDir: dataOn, rateLimit: true })
      servers.push(on)
      const off = await startParley({ ...common, name: 'parley-limits-off', dataDir: dataOff, rateLimit: false })
      servers.push(off)

      const ownerKey = await fetchApiKey(on)
      const ownerMe = await get(on.url + PATH, basic(ADMIN_EMAIL, ownerKey))
      if (ownerMe.status !== 200) throw new Error(`users/me with the fetched key answered ${ownerMe.status}: ${ownerMe.text}`)

      const sample = keys[keys.length - 1] as Key
      const answer = await get(on.url + PATH, sample.authorization)
      if (answer.status !== 200 || !answer.type.startsWith('application/json')) {
        throw new Error(`users/me answered ${answer.status} ${answer.type}: ${answer.text}`)
      }
      const payloadFile = join(opts.dir, 'users-me.json')
      writeFileSync(payloadFile, answer.text)
      const bare = await startBaseline({ name: 'bare-fastify', dir: opts.dir, payloadFile, path: PATH })
      servers.push(bare)
      const bareAnswer = await get(bare.url + PATH)
      if (bareAnswer.text !== answer.text) throw new Error(`the baseline's answer differs from Parley's:\n${bareAnswer.text}\n${answer.text}`)
      const offAnswer = await get(off.url + PATH, sample.authorization)
      if (offAnswer.text !== answer.text) throw new Error(`Parley with limits off answers differently: ${offAnswer.status} ${offAnswer.text}`)
      opts.log(`  payload: ${Buffer.byteLength(answer.text)} bytes of JSON, identical from Parley and the baseline`)
      const usersFile = join(opts.dir, 'users.json')
      writeFileSync(usersFile, JSON.stringify(Object.fromEntries(keys.map((k) => [k.email, k.apiKey]))))
      const reference = await startBaseline({ name: 'fastify-basic-auth', dir: opts.dir, payloadFile, usersFile, path: PATH })
      servers.push(reference)
      const refAnswer = await get(reference.url + PATH, sample.authorization)
      const refRefused = await get(reference.url + PATH, basic(sample.email, 'x'.repeat(32)))
      if (refAnswer.text !== answer.text || refRefused.status !== 401) throw new Error(`the basic-auth reference answered ${refAnswer.status} and, with a wrong key, ${refRefused.status}`)

      const script = rotationScript(join(opts.dir, 'rotate-keys.lua'), keys.map((k) => k.authorization), PER_KEY, 'GET', PATH)
      const measured = await alternate([
        { name: 'bare fastify', url: bare.url + PATH, script },
        { name: 'parley', url: on.url + PATH, script, scriptArgs: (run) => [String(blockStart(run)), String(blockSizes[run])] },
        { name: 'parley, limits off', url: off.url + PATH, script },
        // Issue 2's premise for the 0.75 budget: this measured 0.94× bare Fastify.
        { name: 'fastify + basic-auth + Map', url: reference.url + PATH, script }
      ], opts)
      const rows: Row[] = summarize(usersMe.name, measured)

      const parleyRun = measured[1]
      const parleyRow = rows[1]
      if (parleyRun !== undefined && parleyRow !== undefined) {
        const runs = [parleyRun.warmup, ...parleyRun.rounds]
        const perUser = Math.max(...runs.map((r, i) => PER_KEY * Math.ceil((r?.requests ?? 0) / ((blockSizes[i] as number) * PER_KEY))))
        opts.log(`  parley (limits on): ${parleyRun.totalRequests} requests, each run on fresh keys, at most ${perUser} requests per user (limit ${PER_USER_BUDGET}/min)`)
        if (perUser > PER_USER_BUDGET) {
          parleyRow.warning = [parleyRow.warning, `${perUser} requests per user exceeds the limit`].filter((w) => w !== '').join(', ')
        }
        const logged = await countLines(on.logFile, '"responseTime"')
        opts.log(`  parley's access log: ${logged} lines for ${parleyRun.totalRequests + 3} requests`)
        if (logged < parleyRun.totalRequests) {
          parleyRow.warning = [parleyRow.warning, 'access log incomplete'].filter((w) => w !== '').join(', ')
        }
      }
      if (opts.profile) await profileRound(opts, join(opts.dir, 'data-profiled'), payloadFile, script, blockStart(1) + (blockSizes[1] ?? 0))
      return rows
    } finally {
      await Promise.all(servers.map(async (s) => { await s.stop() }))
    }
  }
}

export default usersMe
