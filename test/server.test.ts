// `npm start` as a user runs it (SPEC §1): the compiled server on a real socket, its log, SIGTERM, bad configuration.
import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { testDatabase } from './helper.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const entry = join(root, 'dist', 'server.js')
const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' }

// `npm start` is `npm run build` (esbuild, about a second) then `node dist/server.js`:
// the build runs here once, as npm would, and the servers start from its output.
t.setTimeout(120_000)
t.before(() => {
  const built = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`npm run build failed: ${built.stderr}`)
})

interface Server { child: ChildProcess, stdout: () => string, stderr: () => string, exited: Promise<number | null> }

interface StartOptions {
  /** A .env file written into the server's working directory. */
  dotEnv?: string
  nodeArgs?: string[]
  /** Send stdout to this file instead of a pipe (a pipe may not receive all of what C's stdio buffered at exit). */
  outFile?: string
  /**
   * Start node through `env -u NODE_OPTIONS`: tap adds its process-info loader (coverage)
   * to every child's NODE_OPTIONS, and that loader then runs before dist/server.js.
   */
  withoutTapLoader?: boolean
}

/** The command and arguments that run `node …args` without tap's loader. */
function withoutLoader (args: string[]): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', process.execPath, ...args]]
}

async function startServer (t: Pick<typeof import('tap').t, 'teardown'>, env: Record<string, string>, { dotEnv, nodeArgs = [], outFile, withoutTapLoader = false }: StartOptions = {}): Promise<Server> {
  // With PARLEY_TEST_DATABASE_URL, a schema of its own (dropped after the teardown below, which stops the server).
  const database = await testDatabase(t)
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-server-'))
  // The server's working directory: where it looks for a .env file.
  if (dotEnv !== undefined) writeFileSync(join(dataDir, '.env'), dotEnv)
  const outFd = outFile === undefined ? undefined : openSync(outFile, 'w')
  // Its own process group, so teardown can stop the server and anything it started.
  const [command, args] = withoutTapLoader ? withoutLoader([...nodeArgs, entry]) : [process.execPath, [...nodeArgs, entry]]
  const child = spawn(command, args, {
    cwd: dataDir,
    detached: true,
    stdio: ['ignore', outFd ?? 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      PARLEY_DATA_DIR: dataDir,
      PARLEY_ADMIN_EMAIL: ADMIN.email,
      PARLEY_ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: 'info',
      ...database,
      ...env
    }
  })
  if (outFd !== undefined) closeSync(outFd)
  let out = ''
  let err = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString('utf8') })
  child.stderr?.on('data', (c: Buffer) => { err += c.toString('utf8') })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try { process.kill(-child.pid, 'SIGKILL') } catch {}
      await exited
    }
    rmSync(dataDir, { recursive: true, force: true })
  })
  return { child, stdout: outFile === undefined ? () => out : () => readFileSync(outFile, 'utf8'), stderr: () => err, exited }
}

/** `p`'s value, or 'timeout' after `ms`. */
async function within<T> (p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return await Promise.race([p, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms))])
}

/** Waits for the pino line that carries the listening URL. */
async function listeningUrl (server: Server, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    for (const line of server.stdout().split('\n')) {
      if (!line.startsWith('{')) continue
      const entry = JSON.parse(line)
      if (typeof entry.url === 'string') return entry.url
    }
    if (server.child.exitCode !== null) throw new Error(`server exited early: ${server.stderr()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`no listening line in: ${server.stdout()}`)
}

t.test('npm start runs the build and then dist/server.js', async (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  t.equal(pkg.scripts.start, 'node dist/server.js')
  t.match(pkg.scripts.prestart, /npm run build/)
  t.ok(existsSync(entry), 'the build produced dist/server.js')
})

t.test('the started server answers over HTTP, creates the owner from the environment, and exits 0 on SIGTERM', async (t) => {
  const server = await startServer(t, {})
  const url = await listeningUrl(server)
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)

  const settings = await fetch(`${url}/api/v1/server_settings`)
  t.equal(settings.status, 200)
  t.equal(settings.headers.get('content-type'), 'application/json; charset=utf-8')
  t.match(await settings.json(), { result: 'success', msg: '', data: { realm_name: 'Parley', version: String } })

  const key = await fetch(`${url}/api/v1/fetch_api_key`, {
    method: 'POST',
    body: new URLSearchParams({ username: ADMIN.email, password: ADMIN.password })
  })
  t.equal(key.status, 200)
  const keyBody = await key.json() as any
  t.match(keyBody, { result: 'success', data: { email: ADMIN.email, api_key: String } })

  const me = await fetch(`${url}/api/v1/users/me`, {
    headers: { authorization: 'Basic ' + Buffer.from(`${ADMIN.email}:${String(keyBody.data.api_key)}`).toString('base64') }
  })
  t.equal(me.status, 200)
  t.match(await me.json(), { result: 'success', data: { user: { email: ADMIN.email, role: 'owner' } } })

  const denied = await fetch(`${url}/api/v1/users/me`)
  t.equal(denied.status, 401)
  t.match(await denied.json(), { result: 'error', code: 'UNAUTHORIZED' })

  t.match(server.stdout(), `Created the organization owner ${ADMIN.email} with the password from PARLEY_ADMIN_PASSWORD`)
  t.notMatch(server.stdout(), ADMIN.password, 'the password is never printed')

  server.child.kill('SIGTERM')
  const code = await within(server.exited, 10_000)
  t.equal(code, 0, 'exits 0 after SIGTERM')
  // Deprecation warnings may appear on stderr; errors may not.
  t.notMatch(server.stderr(), /parley:|Error\b|closing after an error/, 'no error on stderr')
  t.notMatch(server.stdout(), /"level":[56]0/, 'no error logged')
})

t.test('a bad configuration value stops the start with a message naming the variable', async (t) => {
  const server = await startServer(t, { PORT: 'abc' })
  const code = await within(server.exited, 20_000)
  t.not(code, 0)
  t.not(code, 'timeout')
  t.match(server.stderr(), /PORT/)
  t.match(server.stderr(), /abc/)
  t.notMatch(server.stdout(), /listening/i)
})

t.test('SIGTERM still stops the server after its stdout reader went away (EPIPE)', async (t) => {
  const server = await startServer(t, {})
  await listeningUrl(server)
  // Like `npm start | head -1`: the reader closes, later log writes fail with EPIPE.
  server.child.stdout?.destroy()
  await new Promise((resolve) => setTimeout(resolve, 1500))
  server.child.kill('SIGTERM')
  const code = await within(server.exited, 10_000)
  t.equal(code, 0, 'exits 0 instead of retrying the log write forever')
})

// Regression: the owner's first-start message is written to stdout after the listening
// line; a reader gone by then (EPIPE) was an uncaught error, and the server exited 1.
t.test('a stdout reader gone before the owner message is printed: the server keeps serving and exits 0 on SIGTERM', async (t) => {
  const server = await startServer(t, {})
  await new Promise<void>((resolve) => {
    server.child.stdout?.on('data', (c: Buffer) => {
      // At the first log line, before anything after it is read.
      if (c.toString('utf8').includes('listening at')) { server.child.stdout?.destroy(); resolve() }
    })
  })
  await new Promise((resolve) => setTimeout(resolve, 800))
  t.equal(server.child.exitCode, null, 'still running')
  server.child.kill('SIGTERM')
  t.equal(await within(server.exited, 10_000), 0)
})

t.test('a .env file in the working directory configures the server, and its bad values are named too', async (t) => {
  const server = await startServer(t, {}, { dotEnv: 'PARLEY_REALM_NAME=Elsinore\n' })
  const url = await listeningUrl(server)
  const settings = await fetch(`${url}/api/v1/server_settings`)
  t.match(await settings.json(), { result: 'success', data: { realm_name: 'Elsinore' } })
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0)

  const bad = await startServer(t, {}, { dotEnv: 'PARLEY_HEARTBEAT_SECONDS=soon\n' })
  const code = await within(bad.exited, 20_000)
  t.not(code, 0)
  t.not(code, 'timeout')
  t.match(bad.stderr(), 'PARLEY_HEARTBEAT_SECONDS')
})

// plugins/app/tick-shape.ts. A preload (V8 natives syntax, compiled at run time since
// TypeScript cannot spell it) waits for SIGWINCH, then lets the process sit idle
// through full collections, runs nextTicks again, prints nextTick's feedback
// (%DebugPrint) and exits. V8 prints through C's stdio, so the states are read from a
// file once the process has exited.
const TICK_PROBE = `
const { runInThisContext } = require('node:vm')
const debugPrint = runInThisContext('(function (f) { %DebugPrint(f) })')
process.on('SIGWINCH', async () => {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    globalThis.gc()
  }
  for (let i = 0; i < 20; i++) await new Promise((resolve) => process.nextTick(resolve))
  debugPrint(process.nextTick)
  process.exit(0)
})
`

/** The states of nextTick's DefineKeyedOwnPropertyInLiteral caches in a probe's output. */
function tickCaches (out: string): string[] {
  return [...out.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((x) => x[1] as string)
}

t.test('nextTick keeps monomorphic caches in the started server after idle full collections', async (t) => {
  const dir = t.testdir()
  const probe = join(dir, 'tick-probe.cjs')
  writeFileSync(probe, TICK_PROBE)
  const nodeArgs = ['--allow-natives-syntax', '--expose-gc', '--require', probe]

  // The control: a bare Node process that ran some ticks and then waits shows the harm the module prevents.
  const idle = 'for (let i = 0; i < 50; i++) process.nextTick(() => {}); setTimeout(() => {}, 30000)'
  const controlFile = join(dir, 'control.out')
  const controlFd = openSync(controlFile, 'w')
  const control = spawn(...withoutLoader([...nodeArgs, '-e', idle]), {
    stdio: ['ignore', controlFd, 'inherit'],
    env: { PATH: process.env.PATH ?? '' }
  })
  closeSync(controlFd)
  const controlExited = new Promise((resolve) => control.on('exit', resolve))
  t.teardown(() => { control.kill('SIGKILL') })
  await new Promise((resolve) => setTimeout(resolve, 300))
  control.kill('SIGWINCH')
  t.equal(await within(controlExited, 10_000), 0, 'the control exits after its probe')
  const controlStates = tickCaches(readFileSync(controlFile, 'utf8'))
  t.ok(controlStates.includes('MEGAMORPHIC'), `without the module, idle collections leave nextTick megamorphic (Node ${process.version}): ${controlStates.join(' ')}`)

  // The probe exits the server itself, and stdout is a file: what V8 printed through C's stdio is all there.
  // Started as `npm start` starts it: with tap's loader ahead of it, the loader's own start-up
  // can meet a full collection before tick-shape.ts runs (docs/decisions.md 32).
  const server = await startServer(t, {}, { nodeArgs, outFile: join(dir, 'server.out'), withoutTapLoader: true })
  const url = await listeningUrl(server)
  const settings = await fetch(`${url}/api/v1/server_settings`)
  t.equal(settings.status, 200)
  server.child.kill('SIGWINCH')
  t.equal(await within(server.exited, 10_000), 0, 'the server exits after its probe')
  const states = tickCaches(server.stdout())
  t.ok(states.length >= 4, `the probe found nextTick's literal: ${states.join(' ')}`)
  t.same(states.filter((s) => s !== 'MONOMORPHIC'), [], 'every cache of the literal stays monomorphic')
})
