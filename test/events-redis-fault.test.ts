// Event queues while Redis is down and after it returns, on a private redis-server (the shared
// one is never stopped): 503 SERVER_NOT_READY at once, no hang; queues that missed an event are
// dropped when Redis is back, so their clients register again instead of staying silently behind;
// a message's event (written to the outbox in its transaction) is appended once Redis is back.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { build } from './helper.js'
import { call, noRedis, registerQueue } from './fixtures/events-redis.js'

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => { resolve(port) })
    })
  })
}

/** A redis-server of our own, with an append-only file so its data survives a SIGKILL. */
function redisServer (port: number, dir: string): { stop: () => Promise<void> } {
  const child: ChildProcess = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  return { stop: async () => { child.kill('SIGKILL'); await exited } }
}

async function until (check: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return true
    await sleep(100)
  }
  return false
}

const why = await noRedis()
if (why !== undefined) t.plan(0, why)
else {
  t.test('Redis stopped: 503 SERVER_NOT_READY at once; back: service resumes, queues that missed events are dropped, messages arrive', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-redis-'))
    const port = await freePort()
    let redis = redisServer(port, dir)
    t.teardown(async () => { await redis.stop(); rmSync(dir, { recursive: true, force: true }) })
    const url = `redis://127.0.0.1:${port}`
    let up = false
    for (let i = 0; i < 50 && !up; i++) { await sleep(50); up = await noRedisAt(url) }
    t.ok(up, 'the private redis-server answers')

    const { app, owner, createUser } = await build(t, { REDIS_URL: url, PARLEY_REDIS_PREFIX: 'parley-fault:' })
    const ann = await createUser('ann@example.com')
    const eve = await createUser('eve@example.com')
    const bob = await createUser('bob@example.com')
    const annQueue = await registerQueue(app, ann, { event_types: ['typing'] })
    const bobQueue = await registerQueue(app, bob, { event_types: ['message'] })
    const eveQueue = await registerQueue(app, eve, { event_types: ['message'] })
    const held = call(app, eve, 'GET', `/events?queue_id=${eveQueue}&last_event_id=-1`)
    await sleep(50)

    await redis.stop()
    const started = Date.now()
    const reg = await call(app, ann, 'POST', '/register', {})
    t.same(reg.status, 503)
    t.match(reg.body, { result: 'error', code: 'SERVER_NOT_READY' })
    const poll = await call(app, ann, 'GET', `/events?queue_id=${annQueue}&dont_block=true`)
    t.same(poll.status, 503)
    t.match(poll.body, { result: 'error', code: 'SERVER_NOT_READY' })
    t.ok(Date.now() - started < 3000, `answered in ${Date.now() - started} ms, not held`)
    // Not stored: its event could not be queued.
    t.equal((await call(app, owner, 'POST', '/typing', { op: 'start', type: 'direct', to: JSON.stringify([ann.id]) })).status, 200)
    // Stored in the database, so acknowledged; its event waits in the outbox.
    const sent = await call(app, owner, 'POST', '/messages', { type: 'direct', to: JSON.stringify([bob.id]), content: 'during the outage' })
    t.equal(sent.status, 200)

    redis = redisServer(port, dir)
    t.ok(await until(async () => (await call(app, eve, 'GET', `/events?queue_id=${eveQueue}&dont_block=true`)).status === 200), 'service resumes by itself')
    t.ok(await until(async () => (await call(app, ann, 'GET', `/events?queue_id=${annQueue}&dont_block=true`)).status === 400), 'the queue that missed the typing event is dropped')
    const gone = await call(app, ann, 'GET', `/events?queue_id=${annQueue}&dont_block=true`)
    t.equal(gone.body.code, 'BAD_EVENT_QUEUE_ID', 'so its client registers again and reloads')
    t.equal((await call(app, ann, 'POST', '/register', {})).status, 200, 'registering works again')
    t.ok(await until(async () => (await call(app, bob, 'GET', `/events?queue_id=${bobQueue}&dont_block=true`)).body.data.events.length > 0), 'the message sent during the outage arrives')
    const late = await call(app, bob, 'GET', `/events?queue_id=${bobQueue}&dont_block=true`)
    t.match(late.body.data.events, [{ id: 0, type: 'message', message: { id: sent.body.data.id, content: '<p>during the outage</p>' } }])
    t.equal(late.body.data.events.length, 1, 'once')
    // The first GET of eve's after the return was a newer GET: it answered the poll held across the outage.
    t.same(await held, { status: 200, body: { result: 'success', msg: '', data: { queue_id: eveQueue, events: [] } } }, 'the poll held across the outage ends without an error')
  })
}

async function noRedisAt (url: string): Promise<boolean> {
  const { Redis } = await import('ioredis')
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  r.on('error', () => {})
  try { await r.connect(); await r.ping(); return true } catch { return false } finally { r.disconnect() }
}
