// Issue 3, point 8 (a) and (b): POST /api/v1/messages to a stream and GET /api/v1/messages
// of 50 messages on the compiled Parley (access log at info, rate limits on, keys rotated
// as in users-me), each against bare Fastify + better-sqlite3 doing the same work at least cost.
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { RULES } from '../plugins/app/http/ratelimit.js'
import { countLines, startParley, type Server } from './children.js'
import { printProfiles, profiledRun } from './cpuprofile.js'
import { rotationScript, runWrk, type WrkResult } from './wrk.js'
import { alternate, fmtRatio, median, pairedRatio, summarize, type Benchmark, type BenchOptions, type Measured, type Row } from './harness.js'
import { keyBlocks, sampleContent, seedDatabase, seedPlan, startMessagesBaseline, STREAM, SUBSCRIBERS, type KeyBlocks, type Seeded } from './messages-setup.js'
import { openDatabase, openPostgres } from '../plugins/app/db/db.js'
import { createPostgres, databaseName, dropPostgres, postgresMissing } from './engines.js'

/** A moderate concurrency: the p50 targets are about a server that is busy, not queue-bound. */
const CONNECTIONS = 8
const PER_USER_BUDGET = Math.min(...RULES.user.map((r) => r.limit))
const PER_KEY = Math.floor(PER_USER_BUDGET * 0.9)
/** An upper bound for Parley's req/s on either route here: the key blocks are sized from it. */
const MAX_RPS = 6000
const HISTORY = 5000
const PAGE = 50
const ADMIN_EMAIL = 'owner@example.com'
const ADMIN_PASSWORD = 'bench-owner-password'

interface Phase {
  name: string
  method: 'GET' | 'POST'
  path: string
  body?: string
  /** The p50 target of issue 3, in ms. */
  targetMs: number
}

const NARROW = JSON.stringify([{ operator: 'stream', operand: STREAM }])
const PHASES: Phase[] = [
  {
    name: 'messages POST',
    method: 'POST',
    path: '/api/v1/messages',
    body: new URLSearchParams({ type: 'stream', to: STREAM, topic: 'bench topic', content: sampleContent(0) }).toString(),
    targetMs: 5
  },
  {
    name: 'messages GET 50',
    method: 'GET',
    path: `/api/v1/messages?anchor=newest&num_before=${PAGE}&num_after=0&narrow=${encodeURIComponent(NARROW)}`,
    targetMs: 7
  }
]

interface Answer { status: number, text: string }

async function send (server: Server, phase: Phase, authorization: string): Promise<Answer> {
  const res = await fetch(server.url + phase.path, {
    method: phase.method,
    headers: phase.body === undefined ? { authorization } : { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    ...(phase.body === undefined ? {} : { body: phase.body })
  })
  return { status: res.status, text: await res.text() }
}

/** One request to each server before measuring: both must succeed, and GET must answer the same bytes. */
async function check (phase: Phase, parley: Server, bare: Server, key: string, log: (l: string) => void): Promise<void> {
  const p = await send(parley, phase, key)
  const b = await send(bare, phase, key)
  if (p.status !== 200 || b.status !== 200) throw new Error(`${phase.name}: Parley answered ${p.status} ${p.text}, the baseline ${b.status} ${b.text}`)
  if (phase.method === 'GET') {
    const count = (JSON.parse(p.text) as { data: { messages: unknown[] } }).data.messages.length
    if (count !== PAGE) throw new Error(`${phase.name}: Parley answered ${count} messages, not ${PAGE}`)
    if (p.text !== b.text) throw new Error(`${phase.name}: the baseline's answer differs from Parley's:\n${b.text.slice(0, 600)}\n${p.text.slice(0, 600)}`)
    log(`  payload: ${Buffer.byteLength(p.text)} bytes of JSON (${PAGE} messages), identical from Parley and the baseline`)
  } else {
    const shape = (t: string): string => t.replace(/"id":\d+/, '"id":N')
    if (shape(p.text) !== shape(b.text)) throw new Error(`${phase.name}: answers differ in shape: ${p.text} vs ${b.text}`)
    log(`  answer: ${p.text} from Parley, the same shape from the baseline; body ${Buffer.byteLength(phase.body ?? '')} bytes`)
  }
}

function addWarning (row: Row | undefined, warning: string): void {
  if (row !== undefined) row.warning = [row.warning, warning].filter((w) => w !== '').join(', ')
}

function blocks (opts: BenchOptions): KeyBlocks {
  return keyBlocks(opts, MAX_RPS, PER_KEY)
}

function fmt (ms: number): string { return `${ms.toFixed(2)} ms` }

async function runPhase (phase: Phase, opts: BenchOptions, template: string, seeded: Seeded, pgTemplate: string | undefined): Promise<Row[]> {
  const o = { ...opts, connections: CONNECTIONS }
  opts.log(` ${phase.name}: ${phase.method} ${phase.path.length > 70 ? phase.path.slice(0, 70) + '…' : phase.path}`)
  const { blockSizes, blockStart } = blocks(opts)
  const slug = phase.method.toLowerCase()
  const script = rotationScript(join(opts.dir, `${slug}-rotate-keys.lua`), seeded.keys, PER_KEY, phase.method, phase.path, phase.body)
  const dataParley = join(opts.dir, `data-${slug}-parley`)
  const dataBare = join(opts.dir, `data-${slug}-bare`)
  cpSync(template, dataParley, { recursive: true })
  cpSync(template, dataBare, { recursive: true })
  const parleyOptions = { dir: opts.dir, adminEmail: ADMIN_EMAIL, adminPassword: ADMIN_PASSWORD, rateLimit: true }

  const servers: Server[] = []
  // A copy of the seeded PostgreSQL database for this phase (POST adds messages; GET must read the seeded 5,000).
  const pgName = pgTemplate === undefined ? undefined : databaseName(slug)
  let rows: Row[]
  try {
    const parley = await startParley({ ...parleyOptions, name: `parley-${slug}`, dataDir: dataParley })
    servers.push(parley)
    const bare = await startMessagesBaseline({ name: `bare-${slug}`, dir: opts.dir, dataDir: dataBare, senderId: seeded.firstUserId })
    servers.push(bare)
    // The last key is used by no wrk run but the last one: one request more stays under the limit.
    const lastKey = seeded.keys[seeded.keys.length - 1] as string
    await check(phase, parley, bare, lastKey, opts.log)
    const parleys: Server[] = [parley]
    if (pgName !== undefined) {
      // No Redis: one process, its rate-limit counters in memory as on SQLite.
      const url = await createPostgres(pgName, pgTemplate)
      const onPg = await startParley({ ...parleyOptions, name: `parley-pg-${slug}`, dataDir: join(opts.dir, `data-${slug}-pg`), env: { DATABASE_URL: url } })
      servers.push(onPg)
      parleys.push(onPg)
      await check(phase, onPg, bare, lastKey, (line) => { opts.log(line.replace('from Parley', 'from Parley on PostgreSQL')) })
    }

    const rotated = (run: number): string[] => [String(blockStart(run)), String(blockSizes[run])]
    const measured = await alternate([
      { name: 'bare fastify + sqlite', url: bare.url + phase.path, script },
      { name: 'parley', url: parley.url + phase.path, script, scriptArgs: rotated },
      ...parleys.slice(1).map((p) => ({ name: 'parley on postgresql', url: p.url + phase.path, script, scriptArgs: rotated }))
    ], o)
    rows = summarize(phase.name, measured)
    const [bareRun, ...parleyRuns] = measured as [Measured, ...Measured[]]

    // One request at a time: the latency of the path itself, without waiting behind others.
    const runCount = opts.rounds + 1
    const single: WrkResult[] = []
    for (const [i, m] of measured.entries()) {
      const args = m === bareRun ? undefined : rotated(runCount)
      const r = await runWrk({ url: m.contender.url, seconds: opts.seconds, connections: 1, script, ...(args === undefined ? {} : { scriptArgs: args }) })
      single.push(r)
      const bad = r.non2xx + r.socketErrors > 0
      if (bad) addWarning(rows[i], `${r.non2xx} non-2xx, ${r.socketErrors} socket errors at -c1`)
      opts.log(`  -c1      ${m.contender.name.padEnd(21)} ${Math.round(r.rps)} req/s, p50 ${fmt(r.p50Ms)}, p99 ${fmt(r.p99Ms)}${bad ? ` (${r.non2xx} non-2xx, ${r.socketErrors} socket errors)` : ''}`)
    }

    for (const [k, run] of parleyRuns.entries()) {
      const server = parleys[k] as Server
      const row = rows[k + 1]
      const requests = run.totalRequests + (single[k + 1]?.requests ?? 0)
      const perRun = [...[run.warmup, ...run.rounds].map((r) => r?.requests ?? 0), single[k + 1]?.requests ?? 0]
      const perUser = Math.max(...perRun.map((n, i) => PER_KEY * Math.ceil(n / ((blockSizes[i] as number) * PER_KEY))))
      opts.log(`  ${run.contender.name}: ${requests} requests, each run on fresh keys, at most ${perUser} requests per user (limit ${PER_USER_BUDGET}/min)`)
      if (perUser > PER_USER_BUDGET) addWarning(row, `${perUser} requests per user exceeds the limit`)
      await server.stop()
      const logged = await countLines(server.logFile, '"responseTime"')
      opts.log(`  ${run.contender.name}'s access log: ${logged} lines for ${requests + 1} requests`)
      if (logged < requests) addWarning(row, 'access log incomplete')
    }

    const p50s = (m: Measured): number[] => m.rounds.map((r) => r.p50Ms)
    const p50 = (m: Measured): number => median(p50s(m))
    const p99 = (m: Measured): number => median(m.rounds.map((r) => r.p99Ms))
    for (const m of measured) {
      const range = `rounds ${fmt(Math.min(...p50s(m)))}–${fmt(Math.max(...p50s(m)))}`
      opts.log(`  median of ${opts.rounds} rounds at -c${CONNECTIONS}: ${m.contender.name.padEnd(21)} ${Math.round(median(m.rounds.map((r) => r.rps)))} req/s, p50 ${fmt(p50(m))} (${range}), p99 ${fmt(p99(m))}`)
    }
    for (const [k, run] of parleyRuns.entries()) {
      const met = p50(run) < phase.targetMs
      const clean = rows[k + 1]?.warning === ''
      opts.log(`  target p50 < ${phase.targetMs} ms: ${met ? 'MET' : 'NOT MET'} (${run.contender.name} p50 ${fmt(p50(run))}${clean ? '' : ', but the run is INVALID'})`)
    }
    const [sqliteRun, pgRun] = parleyRuns
    if (sqliteRun !== undefined && pgRun !== undefined) {
      const r = pairedRatio(p50s(pgRun), p50s(sqliteRun))
      opts.log(`  p50 PostgreSQL ÷ SQLite: ${fmtRatio(r)}`)
    }
  } finally {
    await Promise.all(servers.map(async (s) => { await s.stop() }))
    if (pgName !== undefined) await dropPostgres(pgName)
  }

  if (opts.profile) {
    // Fresh processes on the same data (so fresh rate-limit counters), one profiled run each.
    const wrk = { path: phase.path, seconds: opts.seconds, connections: CONNECTIONS, script, scriptArgs: ['0', String(blockStart(1) + (blockSizes[1] ?? 0))] }
    const parleyRun = await profiledRun('parley', opts.dir, async (nodeArgs) => await startParley({
      ...parleyOptions, name: `parley-${slug}-profiled`, dataDir: dataParley, nodeArgs
    }), wrk)
    const bareRun = await profiledRun('bare', opts.dir, async (nodeArgs) => await startMessagesBaseline({
      name: `bare-${slug}-profiled`, dir: opts.dir, dataDir: dataBare, senderId: seeded.firstUserId, nodeArgs
    }), wrk)
    for (const r of [parleyRun, bareRun]) {
      opts.log(`  profiled ${r.label}: ${Math.round(r.result.rps)} req/s, p50 ${fmt(r.result.p50Ms)}, ${r.result.non2xx} non-2xx`)
    }
    printProfiles(opts.log, [parleyRun, bareRun])
  }
  return rows
}

const messages: Benchmark = {
  name: 'messages',
  description: `POST /api/v1/messages to a public stream (${SUBSCRIBERS} subscribers) and GET /api/v1/messages of ${PAGE} (of ${HISTORY}) through a stream narrow, -c${CONNECTIONS}; rate limits on, access log at info; Parley on SQLite and on PostgreSQL (a fresh database, no Redis) vs bare Fastify + better-sqlite3, with the p50 PostgreSQL ÷ SQLite`,
  async run (opts) {
    const { blockSizes, blockStart } = blocks(opts)
    const keysNeeded = blockStart(blockSizes.length)
    const started = Date.now()
    const template = join(opts.dir, 'data-template')
    const plan = seedPlan(Math.max(SUBSCRIBERS, keysNeeded), HISTORY)
    const seeded = await seedDatabase(openDatabase(template), plan)
    opts.log(`  seeded ${seeded.keys.length} users and ${HISTORY} messages in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    // The same users, keys and history on PostgreSQL, through the same code; each phase runs on a copy.
    const missing = await postgresMissing()
    const pgTemplate = missing === undefined ? databaseName() : undefined
    if (missing !== undefined) opts.log(`  Parley on PostgreSQL skipped: ${missing}`)
    try {
      if (pgTemplate !== undefined) {
        const pgStarted = Date.now()
        const onPg = await seedDatabase(await openPostgres(await createPostgres(pgTemplate)), plan)
        if (onPg.firstUserId !== seeded.firstUserId || onPg.streamId !== seeded.streamId) throw new Error('PostgreSQL was seeded with other ids than SQLite')
        opts.log(`  seeded the same on PostgreSQL (database ${pgTemplate}) in ${((Date.now() - pgStarted) / 1000).toFixed(1)} s`)
      }
      const rows: Row[] = []
      for (const phase of PHASES) rows.push(...await runPhase(phase, opts, template, seeded, pgTemplate))
      return rows
    } finally {
      if (pgTemplate !== undefined) await dropPostgres(pgTemplate)
    }
  }
}

export default messages
