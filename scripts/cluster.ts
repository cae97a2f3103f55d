// `npm run cluster`: N Parley processes on one PostgreSQL and one Redis, behind a private
// nginx running deploy/nginx/parley.conf with an upstream of N (round robin, no stickiness:
// SPEC §11). A process that dies is started again; Ctrl-C stops them all. The same shape
// runs on several machines with the sample nginx file and one `npm start` per process
// (docs/deploy.md).
//
//   DATABASE_URL=postgres://… REDIS_URL=redis://… npm run cluster -- --processes 3
//
// The front listens on HOST:PORT (default 127.0.0.1:9991); process i on 127.0.0.1:PORT+i.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../plugins/app/config.js'
import { NGINX, startNginx, type Nginx } from './nginx.js'

const { values } = parseArgs({ options: { processes: { type: 'string', default: process.env.PARLEY_PROCESSES ?? '2' } } })
const count = Number(values.processes)
if (!Number.isInteger(count) || count < 1 || count > 64) {
  process.stderr.write(`cluster: --processes must be an integer from 1 to 64 (got "${values.processes}")\n`)
  process.exit(2)
}

let config
try {
  config = loadConfig()
} catch (err) {
  process.stderr.write(`cluster: ${err instanceof ConfigError ? err.message : String(err)}\n`)
  process.exit(2)
}
// Processes share nothing but the engines: without them each would have its own data.
if (config.databaseUrl === undefined || config.redisUrl === undefined) {
  process.stderr.write('cluster: set DATABASE_URL (PostgreSQL) and REDIS_URL (Redis): the processes share all state through them\n')
  process.exit(2)
}
if (!existsSync(NGINX)) {
  process.stderr.write(`cluster: ${NGINX} is missing (apt-get install nginx): it is the round-robin front\n`)
  process.exit(2)
}

const here = dirname(fileURLToPath(import.meta.url))
// dist/scripts/cluster.js → dist/server.js and dist/static/.
const dist = join(here, '..')
const server = join(dist, 'server.js')
const front = { host: config.host, port: config.port }
const ports = Array.from({ length: count }, (_, i) => front.port + 1 + i)

interface Member { index: number, port: number, child: ChildProcess | undefined, restarts: number }
const members: Member[] = ports.map((port, index) => ({ index, port, child: undefined, restarts: 0 }))
let stopping = false

function prefixLines (tag: string, stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream): void {
  let rest = ''
  stream?.setEncoding('utf8')
  stream?.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n')
    rest = lines.pop() ?? ''
    for (const line of lines) out.write(`${tag} ${line}\n`)
  })
}

function start (m: Member): void {
  const child = spawn(process.execPath, [server], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(m.port), PARLEY_STATIC_DIR: join(dist, 'static') },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  m.child = child
  const tag = `[p${m.index + 1}:${m.port}]`
  prefixLines(tag, child.stdout, process.stdout)
  prefixLines(tag, child.stderr, process.stderr)
  child.on('exit', (code, signal) => {
    if (stopping) return
    m.restarts++
    // A crash loop backs off (up to 10 s); a single death is replaced within a second.
    const delay = Math.min(10_000, 500 * 2 ** Math.min(m.restarts - 1, 5))
    process.stderr.write(`${tag} exited (${signal ?? `code ${String(code)}`}); starting it again in ${delay} ms\n`)
    setTimeout(() => { if (!stopping) start(m) }, delay)
  })
}

async function listening (port: number, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/server_settings`)
      if (res.status === 200) return true
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return false
}

// The first process applies the migrations (under a lock, so starting all at once is safe
// too); the others follow once it answers, which keeps a first start's log readable.
const first = members[0] as Member
start(first)
if (!await listening(first.port, Date.now() + 60_000)) {
  process.stderr.write('cluster: the first process did not answer within 60 s\n')
  process.exit(1)
}
for (const m of members.slice(1)) start(m)
await Promise.all(members.map(async (m) => await listening(m.port, Date.now() + 60_000)))

const nginxDir = mkdtempSync(join(tmpdir(), 'parley-cluster-nginx-'))
let nginx: Nginx
try {
  nginx = await startNginx({ dir: nginxDir, upstream: ports.map((p) => `127.0.0.1:${p}`), root: dist, port: front.port, host: front.host, accessLog: false })
} catch (err) {
  process.stderr.write(`cluster: nginx did not start: ${String(err)}\n`)
  for (const m of members) m.child?.kill('SIGTERM')
  process.exit(1)
}
process.stdout.write(`cluster: ${count} processes (${ports.join(', ')}) behind nginx on http://${front.host}:${front.port}\n`)

async function stop (): Promise<void> {
  if (stopping) return
  stopping = true
  await nginx.stop()
  await Promise.all(members.map(async (m) => {
    const child = m.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }))
  rmSync(nginxDir, { recursive: true, force: true })
  process.exit(0)
}
process.on('SIGINT', () => { stop().catch((err) => { process.stderr.write(String(err)); process.exit(1) }) })
process.on('SIGTERM', () => { stop().catch((err) => { process.stderr.write(String(err)); process.exit(1) }) })
