// Fan-out benchmark (issue 3, 8c): N long-polls held on a stream N users subscribe to, one
// message sent; time until the last poll is answered, and the server's RSS while holding.
// Each run alternates with one of the bare Fastify baseline (fanout-baseline.ts) under the
// same client, warm-up, N and answer bytes, and the ratio of the two is printed.
// Run: `npx tsx bench/fanout.ts [N…]` or `node dist/bench/fanout.js [N…]` (needs `npm run build`).
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { migrate, openDatabase, type DB } from '../plugins/app/db/db.js'
import { generateApiKey } from '../plugins/app/http/credentials.js'
import { startChild } from './children.js'

export interface FanoutResult {
  n: number
  /** From sending POST /messages to the end of the last poll's answer. */
  lastMs: number
  p50Ms: number
  /** The POST /messages round trip (its answer races the polls'). */
  sendMs: number
  /** Server VmRSS with every poll held, before the message (of several runs: the largest). */
  rssMiB: number
  answered: number
  /** From sending POST /messages to the first poll's answer read (the message stored, rendered, dispatched). */
  firstMs: number
  /**
   * Server side, from its access log: the first poll's answer handed to the kernel ('finish')
   * to the last; lastMs - firstMs - serverSpanMs is what the client adds reading answers.
   */
  serverSpanMs: number
  /** CPU ms in the fan-out window: the server child and this (client) process. */
  serverCpuMs: number
  clientCpuMs: number
  /** How many measurements of this N were made; the fields above are the median one's (by lastMs). */
  runs: number
  /** The fastest and slowest lastMs of those runs. */
  lastMinMs: number
  lastMaxMs: number
  /** One poll's answer body, as read (the baseline serves its event). */
  sample: string
  /** The bare Fastify baseline's runs of the same N, alternated with Parley's (absent for a single measurement). */
  baseline?: BaselineResult
}

/** What one fan-out measurement gives, for Parley and for the baseline alike. */
export interface Measured {
  lastMs: number
  p50Ms: number
  firstMs: number
  sendMs: number
  rssMiB: number
  answered: number
  serverCpuMs: number
  clientCpuMs: number
  /** One poll's answer body, as read. */
  sample: string
}

/** The baseline's figures: the median run's, with the range of lastMs and the largest RSS. */
export interface BaselineResult {
  lastMs: number
  p50Ms: number
  firstMs: number
  rssMiB: number
  serverCpuMs: number
  runs: number
  lastMinMs: number
  lastMaxMs: number
}

export interface Seeded { auth: string[], senderAuth: string }

const here = dirname(fileURLToPath(import.meta.url))

/** A compiled script: from dist/bench/fanout.js, or from bench/ under tsx (dist/ then). */
export function compiled (path: string): string {
  const candidates = [join(here, '..', path), join(here, '..', 'dist', path)]
  const found = candidates.find((p) => existsSync(p))
  if (found === undefined) throw new Error(`dist/${path} is missing: run \`npm run build\` first`)
  return found
}

/** N members subscribed to the stream `crowd`, written into `db` (SQLite or PostgreSQL) after migrating it; closes `db`. */
export async function seedFans (db: DB, n: number): Promise<Seeded> {
  try {
    await migrate(db)
    const t = Math.floor(Date.now() / 1000)
    const users = Array.from({ length: n }, (_, i) => {
      const email = `fan${i}@example.com`
      return { email, email_key: email, full_name: `Fan ${i}`, role: 'member' as const, is_bot: 0, bot_type: null, bot_owner_id: null, is_active: 1, date_joined: t, api_key: generateApiKey(), password_hash: null }
    })
    const ids: number[] = []
    // SQLite caps the variables of one statement: insert in slices.
    for (let i = 0; i < users.length; i += 500) {
      const rows = await db.insertInto('users').values(users.slice(i, i + 500)).returning('id').execute()
      ids.push(...rows.map((r) => r.id))
    }
    const stream = await db.insertInto('streams').values({ name: 'crowd', name_key: 'crowd', description: '', invite_only: 0, is_archived: 0, date_created: t })
      .returning('id').executeTakeFirstOrThrow()
    for (let i = 0; i < ids.length; i += 300) {
      await db.insertInto('subscriptions').values(ids.slice(i, i + 300).map((id) => ({ user_id: id, stream_id: stream.id, date_subscribed: t }))).execute()
    }
    const auth = users.map((u) => 'Basic ' + Buffer.from(`${u.email}:${u.api_key}`).toString('base64'))
    return { auth, senderAuth: auth[0] as string }
  } finally {
    await db.destroy()
  }
}

export interface Child { pid: number, port: number, stop: () => Promise<void>, logFile: string }

/** Parley (the compiled server.js) on a data dir (and the engines `env` names); its log goes to a file. */
export async function startServer (dir: string, dataDir: string, name = 'fanout-server', env: Record<string, string> = {}): Promise<Child> {
  // The log goes to a file, as a server's log would, and is read after the measurement: read through
  // a pipe by this process it cost the client CPU in the very window measured (docs/performance.md).
  return await startProcess(dir, name, compiled('server.js'), [], {
    HOST: '127.0.0.1',
    PORT: '0',
    PARLEY_DATA_DIR: dataDir,
    PARLEY_RATE_LIMIT: 'off',
    PARLEY_ADMIN_EMAIL: 'owner@example.com',
    PARLEY_ADMIN_PASSWORD: 'owner-password',
    LOG_LEVEL: 'info',
    ...env
  }, /"url":"(http:\/\/[^"]+)"/)
}

/** The bare Fastify baseline (fanout-baseline.js), answering with `eventFile`'s event. */
async function startBaseline (dir: string, eventFile: string): Promise<Child> {
  return await startProcess(dir, 'fanout-baseline', compiled('bench/fanout-baseline.js'), [eventFile], {}, /^listening (\S+)$/m)
}

export async function startProcess (dir: string, name: string, script: string, args: string[], env: Record<string, string>, urlPattern: RegExp): Promise<Child> {
  // FANOUT_NODE_ARGS="--cpu-prof" profiles the servers (the profiles land in the temp dir; see FANOUT_KEEP).
  const nodeArgs = (process.env.FANOUT_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const server = await startChild({ name, script, args, nodeArgs, dir, env, urlPattern })
  // Never leave a server behind when the benchmark itself dies.
  const orphan = (): void => { try { process.kill(server.pid, 'SIGKILL') } catch {} }
  process.once('exit', orphan)
  return {
    pid: server.pid,
    port: Number(new URL(server.url).port),
    logFile: server.logFile,
    stop: async () => {
      await server.stop()
      process.off('exit', orphan)
    }
  }
}

/** The access lines of GET /events and POST /messages written after byte `offset` of the log. */
function accessLines (logFile: string, offset: number): string[] {
  return readFileSync(logFile).subarray(offset).toString('utf8').split('\n')
    .filter((line) => line.includes('"url":"/api/v1/events"') || line.includes('"url":"/api/v1/messages"'))
}

function rssMiB (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1]) / 1024
}

/** utime + stime of a process in clock ticks: stops growing once the server has taken in every poll. */
function cpuTicks (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

export function call (agent: http.Agent, port: number, method: string, path: string, auth: string, body?: string): Promise<{ status: number, text: string, end: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method,
      path,
      agent,
      headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) }) }
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, text, end: performance.now() }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** From the access lines of the fan-out: the first GET /events answer to the last, in ms (pino's `time`). */
function serverSpan (lines: string[]): number {
  let first = Infinity
  let last = -Infinity
  for (const line of lines) {
    const e = JSON.parse(line) as { time: number, method: string }
    if (e.method !== 'GET') continue
    first = Math.min(first, e.time)
    last = Math.max(last, e.time)
  }
  return last - first
}

/**
 * A held poll on its own socket, read by hand: Node's http client costs ~150 µs a response,
 * which on two shared cores would be measured as the server's (docs/performance.md, Fan-out).
 * The client stays as cheap as wrk's: find the head's end and Content-Length, nothing more.
 */
function rawPoll (port: number, path: string, auth: string, sockets: net.Socket[], written?: Array<Promise<void>>): Promise<{ status: number, text: string, end: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    sockets.push(socket)
    socket.setNoDelay(true)
    socket.setEncoding('latin1')
    let got = ''
    let need = -1
    let head = -1
    socket.on('data', (chunk: string) => {
      got += chunk
      if (need === -1) {
        head = got.indexOf('\r\n\r\n')
        if (head === -1) return
        const m = /\r\ncontent-length: *(\d+)/i.exec(got.slice(0, head))
        if (m === null) { reject(new Error(`no content-length: ${got.slice(0, head)}`)); return }
        need = head + 4 + Number(m[1])
      }
      if (got.length >= need) {
        // The server may keep the connection: it is closed with the others at the end.
        resolve({ status: Number(got.slice(9, 12)), text: Buffer.from(got.slice(head + 4, need), 'latin1').toString('utf8'), end: performance.now() })
      }
    })
    socket.on('error', reject)
    const request = `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: ${auth}\r\n\r\n`
    // Resolved once connected and the request is in the kernel: a connection whose SYN was
    // dropped (a burst of connects overflows the listen backlog) connects a second or more later.
    const sent = new Promise<void>((resolve) => socket.write(request, () => { resolve() }))
    written?.push(sent)
  })
}

async function inBatches<T> (count: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(width, count) }, async () => {
    while (next < count) {
      const i = next++
      out[i] = await fn(i)
    }
  }))
  return out
}

interface Request { method: string, path: string, auth: string, body?: string }

/** The bodies of POST /register and of the message sent before any queue exists. */
const REGISTER_BODY = 'event_types=%5B%22message%22%5D'
export const FIRST_MESSAGE_BODY = 'type=stream&to=crowd&topic=warm-up&content=https%3A%2F%2Fexample.com%20**warm**'

/** `count` requests, 64 at a time, each of which must answer 200; their bodies, in order. */
export async function callEach (agent: http.Agent, port: number, count: number, request: (i: number) => Request): Promise<string[]> {
  return await inBatches(count, 64, async (i) => {
    const r = request(i)
    const res = await call(agent, port, r.method, r.path, r.auth, r.body)
    if (res.status !== 200) throw new Error(`${r.method} ${r.path} (${i}): ${res.status} ${res.text}`)
    return res.text
  })
}

/** A message queue for each of `count` seeded users from the `from`-th. */
export async function registerQueues (agent: http.Agent, port: number, seeded: Seeded, count: number, from = 0): Promise<string[]> {
  const answers = await callEach(agent, port, count, (i) => ({ method: 'POST', path: '/api/v1/register', auth: seeded.auth[from + i] as string, body: REGISTER_BODY }))
  return answers.map((text) => (JSON.parse(text) as { data: { queue_id: string } }).data.queue_id)
}

/** Queues and rounds of the small fan-outs that come before the measured one. */
export const WARM_QUEUES = 500
const WARM_ROUNDS = 3

/** A long-poll to send; to `port` when given, else to the server measured (the first). */
export interface Poll { path: string, auth: string, port?: number }

/**
 * A few small fan-outs (500 polls, 3 messages) before the measured one, as a server in
 * service has made: the measured message would otherwise be the first the server ever
 * dispatched to held polls, with V8 running the dispatch and answer paths unoptimized
 * (~100 ms of the 5,000-poll figure). Parley and the baseline get the same rounds.
 */
export async function warmRounds (agent: http.Agent, port: number, pids: number[], pollsOf: (round: number) => Poll[], senderAuth: string, expect: (round: number) => string): Promise<void> {
  const mine: net.Socket[] = []
  for (let round = 0; round < WARM_ROUNDS; round++) {
    const written: Array<Promise<void>> = []
    const polls = pollsOf(round).map(async (p) => await rawPoll(p.port ?? port, p.path, p.auth, mine, written))
    // Every request in the kernel, then until the servers have taken them in: the baseline holds
    // a poll that comes after the message for ever (it has no queue), and on a busy machine
    // 300 ms were not always enough.
    await Promise.all(written)
    await untilIdle(pids)
    const sent = await call(agent, port, 'POST', '/api/v1/messages', senderAuth, `type=stream&to=crowd&topic=warm-up&content=round%20${round}`)
    if (sent.status !== 200) throw new Error(`POST /messages (warm-up): ${sent.status} ${sent.text}`)
    const answers = await Promise.all(polls)
    if (!answers.every((a) => a.status === 200 && a.text.includes(expect(round)))) throw new Error(`warm-up round ${round}: a poll missed the message`)
    for (const socket of mine.splice(0)) socket.destroy()
  }
}

/** Parley's warm-up: queues of their own, deleted afterwards, so the measured dispatch reaches exactly N queues. */
async function warmFanouts (agent: http.Agent, { port, pid }: Child, seeded: Seeded, count: number): Promise<void> {
  const queues = await registerQueues(agent, port, seeded, count)
  await warmRounds(agent, port, [pid], (round) => queues.map((q, i) => ({ path: `/api/v1/events?queue_id=${q}&last_event_id=${round - 1}`, auth: seeded.auth[i] as string })), seeded.senderAuth, (round) => `round ${round}`)
  await callEach(agent, port, count, (i) => ({ method: 'DELETE', path: `/api/v1/events?queue_id=${queues[i] as string}`, auth: seeded.auth[i] as string }))
}

/**
 * Held polls answer nothing: waits until the servers have been idle a moment, having taken them all in
 * (idle: at most 2 ticks of 10 ms in 200 ms a process, as a --cpu-prof sampler keeps using a few per cent).
 */
async function untilIdle (pids: number[]): Promise<void> {
  const ticksAll = (): number => pids.reduce((sum, pid) => sum + cpuTicks(pid), 0)
  let before = ticksAll()
  for (let idle = 0; idle < 3;) {
    await sleep(200)
    const ticks = ticksAll()
    idle = ticks - before <= 2 * pids.length ? idle + 1 : 0
    before = ticks
  }
}

/**
 * Holds one poll per entry on its own socket, waits until the servers have taken them all in and
 * gone idle, sends the message (to the first server), and times every answer from the send.
 * With several servers, the RSS is the largest process's and the server CPU their sum.
 */
export async function measure (servers: Child[], agent: http.Agent, polls: Poll[], senderAuth: string, sockets: net.Socket[], log: (line: string) => void, label: string): Promise<Measured> {
  const { port } = servers[0] as Child
  const pids = servers.map((s) => s.pid)
  const cpuTicksAll = (): number => pids.reduce((sum, pid) => sum + cpuTicks(pid), 0)
  // FANOUT_CLIENT=http polls with Node's http client instead (the first figures were taken so).
  const viaHttp = process.env.FANOUT_CLIENT === 'http'
  const written: Array<Promise<void>> = []
  const answered = polls.map(async (p) => viaHttp ? await call(agent, p.port ?? port, 'GET', p.path, p.auth) : await rawPoll(p.port ?? port, p.path, p.auth, sockets, written))
  // Every request sent first: otherwise polls still connecting would arrive after the
  // message (answered at once from their queue) and be timed with the fan-out.
  await Promise.all(written)
  await untilIdle(pids)
  const rss = Math.max(...pids.map(rssMiB))
  log(`${label}: ${polls.length} polls held by pid ${pids.join(' and ')}, server RSS ${rss.toFixed(1)} MiB${pids.length > 1 ? ' (the largest)' : ''}; sending one message`)

  const ticks0 = cpuTicksAll()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const sent = call(agent, port, 'POST', '/api/v1/messages', senderAuth, 'type=stream&to=crowd&topic=fanout&content=hello%20everyone')
  const answers = await Promise.all(answered)
  const send = await sent
  const clientCpu = process.cpuUsage(cpu0)
  const serverTicks = cpuTicksAll() - ticks0
  if (send.status !== 200) throw new Error(`POST /messages: ${send.status} ${send.text}`)
  const times = answers.map((a) => a.end - t0).sort((a, b) => a - b)
  return {
    lastMs: times[times.length - 1] ?? NaN,
    p50Ms: times[Math.floor(times.length / 2)] ?? NaN,
    firstMs: times[0] ?? NaN,
    sendMs: send.end - t0,
    rssMiB: rss,
    answered: answers.filter((a) => a.status === 200 && a.text.includes('"type":"message"')).length,
    serverCpuMs: serverTicks * 10,
    clientCpuMs: (clientCpu.user + clientCpu.system) / 1000,
    sample: answers[0]?.text ?? ''
  }
}

/** What one measurement owns: a temporary dir, an agent, the polls' sockets, and its servers once started. */
export interface RunScope { dir: string, agent: http.Agent, sockets: net.Socket[], started: (server: Child) => Child }

/** Runs `body` in a fresh scope and releases everything afterwards (the dir is kept with FANOUT_KEEP=1). */
export async function inScope<T> (prefix: string, label: string, n: number, log: (line: string) => void, body: (scope: RunScope) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const agent = new http.Agent({ keepAlive: true, maxSockets: n + 16 })
  const sockets: net.Socket[] = []
  const servers: Child[] = []
  try {
    return await body({ dir, agent, sockets, started: (s) => { servers.push(s); return s } })
  } finally {
    agent.destroy()
    for (const s of sockets) s.destroy()
    await Promise.all(servers.map(async (s) => { await s.stop() }))
    if (process.env.FANOUT_KEEP === '1') log(`${label}: kept ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

/** One measurement: a fresh data dir and server, N users and queues, one message. */
export async function fanout (n: number, log: (line: string) => void = () => {}): Promise<FanoutResult> {
  return await inScope('parley-fanout-', `fanout N=${n}`, n, log, async ({ dir, agent, sockets, started }) => {
    const dataDir = join(dir, 'data')
    const seeded = await seedFans(openDatabase(dataDir), n)
    const server = started(await startServer(dir, dataDir))
    const { port, pid } = server
    // A first message warms what runs once per process (markdown-it compiles its linkify patterns on
    // first use); it goes before any queue exists, so no poll sees it.
    await callEach(agent, port, 1, () => ({ method: 'POST', path: '/api/v1/messages', auth: seeded.senderAuth, body: FIRST_MESSAGE_BODY }))
    await warmFanouts(agent, server, seeded, Math.min(n, WARM_QUEUES))
    log(`fanout N=${n}: server pid ${pid} on port ${port}; registering ${n} queues`)
    const queues = await registerQueues(agent, port, seeded, n)
    const logOffset = statSync(server.logFile).size
    const m = await measure([server], agent, queues.map((q, i) => ({ path: `/api/v1/events?queue_id=${q}&last_event_id=-1`, auth: seeded.auth[i] as string })), seeded.senderAuth, sockets, log, `fanout N=${n}`)
    // The access lines are written in batches: stop the server to have them all.
    await server.stop()
    return { ...m, n, serverSpanMs: serverSpan(accessLines(server.logFile, logOffset)), runs: 1, lastMinMs: NaN, lastMaxMs: NaN }
  })
}

/** A queue id and an Authorization header of the lengths Parley's have, for the baseline's polls. */
function baselinePoll (i: number): Poll {
  const auth = 'Basic ' + Buffer.from(`fan${i}@example.com:${generateApiKey()}`).toString('base64')
  return { path: `/api/v1/events?queue_id=${String(i).padStart(24, '0')}&last_event_id=-1`, auth }
}

/**
 * One measurement of the baseline (bare Fastify, fanout-baseline.ts) with the same client,
 * requests before the fan-out, warm-up and N, answering every poll with `event` (the JSON of
 * one event as Parley served it).
 */
export async function baselineFanout (n: number, event: string, log: (line: string) => void = () => {}): Promise<Measured> {
  return await inScope('parley-fanout-baseline-', `fanout N=${n}, baseline`, n, log, async ({ dir, agent, sockets, started }) => {
    const eventFile = join(dir, 'event.json')
    writeFileSync(eventFile, event)
    const server = started(await startBaseline(dir, eventFile))
    const port = server.port
    log(`fanout N=${n}, baseline: server pid ${server.pid} on port ${port}`)
    const sender = baselinePoll(0).auth
    // The requests Parley gets before its measured fan-out, in the same order and batches:
    // a message, the warm-up's registrations, rounds and deletions, then N registrations.
    const each = async (count: number, method: string, path: string, body?: string): Promise<void> => {
      await callEach(agent, port, count, (i) => ({ method, path, auth: baselinePoll(i).auth, ...(body === undefined ? {} : { body }) }))
    }
    const warm = Math.min(n, WARM_QUEUES)
    await each(1, 'POST', '/api/v1/messages', FIRST_MESSAGE_BODY)
    await each(warm, 'POST', '/api/v1/register', REGISTER_BODY)
    await warmRounds(agent, port, [server.pid], () => Array.from({ length: warm }, (_, i) => baselinePoll(i)), sender, () => '"type":"message"')
    await each(warm, 'DELETE', `/api/v1/events?queue_id=${'0'.repeat(24)}`)
    await each(n, 'POST', '/api/v1/register', REGISTER_BODY)
    return await measure([server], agent, Array.from({ length: n }, (_, i) => baselinePoll(i)), sender, sockets, log, `fanout N=${n}, baseline`)
  })
}

/** The first event of an answer of GET /events, re-serialized as Parley wrote it (same key order). */
function firstEvent (answer: string): string {
  const events = (JSON.parse(answer) as { data: { events: unknown[] } }).data.events
  if (events.length === 0) throw new Error(`no event in Parley's answer: ${answer.slice(0, 300)}`)
  return JSON.stringify(events[0])
}

export function medianBy<T extends { lastMs: number }> (runs: T[]): { median: T, min: number, max: number } {
  const sorted = [...runs].sort((a, b) => a.lastMs - b.lastMs)
  return { median: sorted[Math.floor(sorted.length / 2)] as T, min: (sorted[0] as T).lastMs, max: (sorted[sorted.length - 1] as T).lastMs }
}

/**
 * Every size in turn (1,000 and 5,000 by default), each measured `runs` times (FANOUT_RUNS, 5) on a fresh
 * server, alternating with as many runs of the bare Fastify baseline (FANOUT_BASELINE=off skips it), so
 * a slow moment of this shared two-core VM (one measurement of the same build varies by ±20 %
 * from the next) falls on both. The median run (by time to the last poll) is reported with the
 * range. Callable from bench/run.ts.
 */
export async function run (sizes: number[] = [1000, 5000], log: (line: string) => void = (l) => { process.stderr.write(l + '\n') }, runs = Number(process.env.FANOUT_RUNS ?? 5)): Promise<FanoutResult[]> {
  const withBaseline = process.env.FANOUT_BASELINE !== 'off'
  const results: FanoutResult[] = []
  for (const n of sizes) {
    const all: FanoutResult[] = []
    const base: Measured[] = []
    for (let i = 0; i < runs; i++) {
      const r = await fanout(n, log)
      log(`fanout N=${n}: run ${i + 1}/${runs}: last poll ${r.lastMs.toFixed(1)} ms`)
      all.push(r)
      if (!withBaseline) continue
      const b = await baselineFanout(n, firstEvent(r.sample), log)
      if (b.answered !== n) throw new Error(`fanout N=${n}, baseline: ${b.answered} of ${n} polls answered`)
      if (Buffer.byteLength(b.sample) !== Buffer.byteLength(r.sample)) throw new Error(`fanout N=${n}: the baseline's answer is not the size of Parley's:\n${b.sample}\n${r.sample}`)
      log(`fanout N=${n}, baseline: run ${i + 1}/${runs}: last poll ${b.lastMs.toFixed(1)} ms`)
      base.push(b)
    }
    const p = medianBy(all)
    const result: FanoutResult = { ...p.median, rssMiB: Math.max(...all.map((r) => r.rssMiB)), runs: all.length, lastMinMs: p.min, lastMaxMs: p.max }
    if (base.length > 0) {
      const b = medianBy(base)
      result.baseline = { lastMs: b.median.lastMs, p50Ms: b.median.p50Ms, firstMs: b.median.firstMs, rssMiB: Math.max(...base.map((r) => r.rssMiB)), serverCpuMs: b.median.serverCpuMs, runs: base.length, lastMinMs: b.min, lastMaxMs: b.max }
    }
    results.push(result)
  }
  return results
}

export function report (results: FanoutResult[]): string {
  const lines = ['N       last poll (median; min–max of runs)   p50 poll  first poll  POST /messages  RSS held (max)  answered  server span first→last   CPU server / client   (targets: 5,000 → last < 300 ms, RSS < 200 MiB)']
  for (const r of results) {
    const range = `${r.lastMinMs.toFixed(0)}–${r.lastMaxMs.toFixed(0)} ms of ${r.runs}`
    lines.push(`${String(r.n).padEnd(8)}${r.lastMs.toFixed(1).padStart(7)} ms (${range.padEnd(18)}) ${r.p50Ms.toFixed(1).padStart(9)} ms ${r.firstMs.toFixed(1).padStart(7)} ms ${r.sendMs.toFixed(1).padStart(10)} ms ${r.rssMiB.toFixed(1).padStart(9)} MiB ${String(r.answered).padStart(7)}/${r.n} ${r.serverSpanMs.toFixed(0).padStart(11)} ms ${r.serverCpuMs.toFixed(0).padStart(10)} / ${r.clientCpuMs.toFixed(0)} ms`)
  }
  const compared = results.filter((r) => r.baseline !== undefined)
  if (compared.length > 0) {
    lines.push('', 'bare Fastify baseline (same client, warm-up, N and answer bytes; runs alternated with Parley\'s):')
    lines.push('N       last poll (median; min–max of runs)   p50 poll  first poll  RSS held (max)  CPU server   Parley ÷ baseline (last poll)')
    for (const r of compared) {
      const b = r.baseline as BaselineResult
      const range = `${b.lastMinMs.toFixed(0)}–${b.lastMaxMs.toFixed(0)} ms of ${b.runs}`
      lines.push(`${String(r.n).padEnd(8)}${b.lastMs.toFixed(1).padStart(7)} ms (${range.padEnd(18)}) ${b.p50Ms.toFixed(1).padStart(9)} ms ${b.firstMs.toFixed(1).padStart(7)} ms ${b.rssMiB.toFixed(1).padStart(9)} MiB ${b.serverCpuMs.toFixed(0).padStart(9)} ms ${(r.lastMs / b.lastMs).toFixed(2).padStart(12)}×`)
    }
  }
  return lines.join('\n')
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sizes = process.argv.slice(2).map(Number).filter((x) => Number.isInteger(x) && x > 0)
  const results = await run(sizes.length > 0 ? sizes : undefined)
  process.stdout.write(report(results) + '\n')
}
