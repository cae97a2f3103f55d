// PostgreSQL stopped and started again under a running app: requests in between answer 503
// SERVER_NOT_READY at once, nothing is half-written, and service resumes without a restart.
// A private server in a temporary directory, so the shared one is never touched.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { body, build } from './helper.js'

const BIN = '/usr/lib/postgresql/15/bin'
const pgRun = process.env.PARLEY_TEST_DATABASE_URL !== undefined && process.env.PARLEY_TEST_DATABASE_URL !== ''

/** PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user. */
function pgCommand (tool: string, args: string[]): void {
  const root = process.getuid?.() === 0
  execFileSync(root ? 'runuser' : join(BIN, tool), root ? ['-u', 'postgres', '--', join(BIN, tool), ...args] : args, { stdio: 'pipe' })
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => { resolve(port) })
    }).on('error', reject)
  })
}

async function until (what: () => Promise<boolean>, ms: number): Promise<number> {
  const start = Date.now()
  while (!await what()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return Date.now() - start
}

// Run in the PostgreSQL pass of .ci/run, where the binaries are known to be there; the embedded pass has nothing to stop.
const skip = !pgRun ? 'needs PARLEY_TEST_DATABASE_URL (the PostgreSQL run of .ci/run)' : !existsSync(join(BIN, 'initdb')) ? `no PostgreSQL binaries in ${BIN}` : false

t.test('PostgreSQL stopped: 503 SERVER_NOT_READY at once, nothing half-written; started again: service resumes by itself', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-pg-fault-'))
  const data = join(dir, 'data')
  if (process.getuid?.() === 0) {
    chmodSync(dir, 0o755)
    chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()))
  }
  const port = await freePort()
  pgCommand('initdb', ['-D', data, '-U', 'parley', '-A', 'trust', '--no-sync'])
  const startPg = (): void => { pgCommand('pg_ctl', ['-D', data, '-w', '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']) }
  const stopPg = (): void => { pgCommand('pg_ctl', ['-D', data, '-w', '-m', 'fast', 'stop']) }
  startPg()
  t.teardown(() => {
    try { stopPg() } catch {}
    rmSync(dir, { recursive: true, force: true })
  })

  const { app, owner } = await build(t, { DATABASE_URL: `postgres://parley@127.0.0.1:${port}/postgres` })
  const call = async (method: 'GET' | 'POST', url: string, payload?: Record<string, string>) =>
    await app.inject({ method, url: `/api/v1${url}`, headers: { authorization: owner.auth }, ...(payload === undefined ? {} : { payload }) })
  const created = await call('POST', '/messages', { type: 'stream', to: 'general', topic: 't', content: 'before' })
  t.equal(created.statusCode, 404, 'no stream yet (the app works)')
  t.equal((await app.inject({ method: 'PUT', url: '/api/v1/streams', headers: { authorization: owner.auth }, payload: { name: 'general' } })).statusCode, 200)
  t.equal((await call('POST', '/messages', { type: 'stream', to: 'general', topic: 't', content: 'before' })).statusCode, 200)

  stopPg()
  for (const [method, url, payload] of [
    ['GET', '/streams', undefined],
    ['POST', '/messages', { type: 'stream', to: 'general', topic: 't', content: 'during' }],
    ['GET', '/messages?anchor=newest&num_before=10&num_after=0', undefined]
  ] as const) {
    const started = Date.now()
    const res = await call(method, url, payload)
    t.equal(res.statusCode, 503, `${method} ${url}`)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.match(body(res), { result: 'error', code: 'SERVER_NOT_READY', msg: String })
    t.ok(Date.now() - started < 6000, 'answered within the connection timeout, not hung')
  }

  startPg()
  const waited = await until(async () => (await call('GET', '/streams')).statusCode === 200, 10_000)
  t.ok(waited < 10_000, 'service resumed by itself')
  const page = await call('GET', '/messages?anchor=newest&num_before=10&num_after=0')
  t.equal(page.statusCode, 200)
  t.same(body(page).data.messages.map((m: { content_markdown: string }) => m.content_markdown), ['before'], 'the send during the outage left nothing')
  t.equal((await call('POST', '/messages', { type: 'stream', to: 'general', topic: 't', content: 'after' })).statusCode, 200)
})
