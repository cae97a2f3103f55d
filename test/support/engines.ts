// Private PostgreSQL and Redis servers for fault tests: Debian's own binaries, each in a
// temp dir on a free port, so a test can stop and restart its engine without touching the
// machine's shared services that other test files use at the same time.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from '../../scripts/nginx.js'

export interface PrivateEngine {
  url: string
  port: number
  /** Stops the server (fast shutdown: clients are cut off). */
  stop: () => Promise<void>
  /** Starts it again on the same port and data. */
  start: () => Promise<void>
  /** Stops it and removes its files. */
  dispose: () => Promise<void>
}

const PG_BIN = existsSync('/usr/lib/postgresql')
  ? join('/usr/lib/postgresql', readdirSync('/usr/lib/postgresql').sort().at(-1) ?? '15', 'bin')
  : '/usr/lib/postgresql/15/bin'
export const HAVE_POSTGRES = existsSync(join(PG_BIN, 'initdb'))
export const HAVE_REDIS = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error === undefined

async function connects (port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => { resolve(false) })
    })
    if (ok) return
    await sleep(50)
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`)
}

/** PostgreSQL refuses to run as root: as root, its files and processes belong to `postgres`. */
function asPostgres (cmd: string, args: string[]): [string, string[]] {
  return userInfo().uid === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]
}

/** initdb + pg_ctl in a temp dir: trust auth, user `root`, database `postgres`, fsync off. */
export async function startPrivatePostgres (): Promise<PrivateEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-pg-'))
  chmodSync(dir, 0o755)
  if (userInfo().uid === 0) {
    const pw = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()
    chownSync(dir, Number(pw), -1)
  }
  const data = join(dir, 'data')
  const port = await freePort()
  const run = (cmd: string, args: string[]): void => {
    const [c, a] = asPostgres(join(PG_BIN, cmd), args)
    const r = spawnSync(c, a, { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}${r.stdout}`)
  }
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'root', '--no-sync'])
  const start = async (): Promise<void> => {
    run('pg_ctl', ['-D', data, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, '-l', join(dir, 'log'), '-w', 'start'])
    await connects(port, Date.now() + 10_000)
  }
  const stop = async (): Promise<void> => {
    const [c, a] = asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'])
    spawnSync(c, a, { encoding: 'utf8' })
  }
  await start()
  return {
    url: `postgres://root@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    dispose: async () => { await stop(); rmSync(dir, { recursive: true, force: true }) }
  }
}

/** redis-server in the foreground, nothing saved to disk. */
export async function startPrivateRedis (): Promise<PrivateEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-redis-'))
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' })
    await connects(port, Date.now() + 10_000)
  }
  const stop = async (): Promise<void> => {
    const c = child
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise((resolve) => c.once('exit', resolve))
    c.kill('SIGKILL')
    await exited
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop,
    dispose: async () => { await stop(); rmSync(dir, { recursive: true, force: true }) }
  }
}
