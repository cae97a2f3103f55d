// Issue 16 point 6 with real processes: three Parley processes on one PostgreSQL schema and one
// Redis prefix, behind a private nginx running deploy/nginx/parley.conf (round robin, no
// stickiness). Clients talk to the front, and to one process where the check needs it: a
// message sent through A reaches a poll held by B; a session made through A works through B; a
// rate limit reached through A holds through B; SIGKILL during sustained sends loses no event and
// repeats none; two processes starting at once on an empty database both come up.
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Server } from '../bench/children.js'
import { NGINX, type Nginx } from '../scripts/nginx.js'
import { cluster, cookies, request, send, type Answer, type Cluster } from './fixtures/cluster.js'
import type { TestUser } from './helper.js'

const set = (name: string): boolean => (process.env[name] ?? '') !== ''

/** `count` senders for one run of the SIGKILL test, e.g. k1-s0@example.com … */
const senders = (run: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${run}-s${i}@example.com`)
const SENDERS = 3

if (!set('PARLEY_TEST_DATABASE_URL') || !set('PARLEY_TEST_REDIS_URL')) {
  t.plan(0, 'needs PARLEY_TEST_DATABASE_URL and PARLEY_TEST_REDIS_URL (the PostgreSQL + Redis run of .ci/run): processes share state only through the engines')
} else if (!existsSync(NGINX)) {
  t.plan(0, `${NGINX} is not installed (Debian's nginx package; .ci/run installs it): the round-robin front is the real server`)
} else {
  // Rate limits on (SPEC §5), as in production: the limit test needs them, and the others stay
  // under them (each sustained-send run has its own senders and receiver).
  const c: Cluster = await cluster(t, [
    'ann@example.com', 'session@example.com', 'locked@example.com', 'limited@example.com',
    'k1-r@example.com', ...senders('k1', SENDERS), 'k2-r@example.com', ...senders('k2', SENDERS)
  ], { env: { PARLEY_RATE_LIMIT: 'on' } })
  const u = (email: string): TestUser => c.users[email] as TestUser
  const owner = u('owner@example.com')
  const ann = u('ann@example.com')
  const procs: Server[] = await c.startAll(['a', 'b', 'c'])
  const front: Nginx = await c.front(procs)
  t.comment(`3 processes on ${c.database} + Redis behind nginx at ${front.url}`)

  const register = async (url: string, who: TestUser): Promise<string> => {
    const res = await request(url, 'POST', '/register', who.auth, { event_types: '["message"]' })
    if (res.status !== 200) throw new Error(`register: ${JSON.stringify(res.body)}`)
    return res.body.data.queue_id
  }
  const dm = async (url: string, from: TestUser, to: TestUser, content: string): Promise<Answer> =>
    await request(url, 'POST', '/messages', from.auth, { type: 'direct', to: `[${to.id}]`, content })

  t.test('a message sent through A reaches a poll held by B; one sent through the front reaches polls held on each process', async (t) => {
    const [a, b] = procs as [Server, Server, Server]
    const q = await register(front.url, ann)
    let answered = false
    const held = request(b.url, 'GET', `/events?queue_id=${q}&last_event_id=-1`, ann.auth).then((r) => { answered = true; return r })
    await sleep(300)
    t.notOk(answered, 'B holds the poll')
    const sent = await dm(a.url, owner, ann, 'from A')
    t.equal(sent.status, 200)
    const res = await held
    t.equal(res.status, 200)
    t.match(res.body, { result: 'success', data: { queue_id: q, events: [{ id: 0, type: 'message', message: { id: sent.body.data.id, sender_id: owner.id, content: '<p>from A</p>' } }] } })

    // One queue per process, each poll held there; one message through the front.
    const queues = await Promise.all(procs.map(async () => await register(front.url, ann)))
    const polls = procs.map(async (p, i) => await request(p.url, 'GET', `/events?queue_id=${queues[i] ?? ''}&last_event_id=-1`, ann.auth))
    await sleep(300)
    const again = await dm(front.url, owner, ann, 'through the front')
    t.equal(again.status, 200)
    const answers = await Promise.all(polls)
    for (const [i, r] of answers.entries()) {
      t.equal(r.status, 200)
      t.match(r.body.data.events, [{ id: 0, type: 'message', message: { id: again.body.data.id } }], `the poll held by process ${i + 1} has it`)
    }
  })

  t.test('a session made through A (the login form) works through B, and logout through B ends it on A', async (t) => {
    const [a, b, third] = procs as [Server, Server, Server]
    const who = u('session@example.com')
    const form = await send(a.url, '/login')
    t.equal(form.status, 200)
    const csrf = cookies(form).parley_csrf ?? ''
    t.match(form.text, `name="csrf_token" value="${csrf}"`)
    const login = await send(a.url, '/login', { method: 'POST', headers: { cookie: `parley_csrf=${csrf}` }, form: { username: who.email, password: 'password123', csrf_token: csrf } })
    t.equal(login.status, 302)
    t.equal(login.headers.location, '/')
    const token = cookies(login).parley_session ?? ''
    t.match(token, /^[\w-]{20,}$/, 'A set the session cookie')
    const cookie = `parley_session=${token}`

    const me = await send(b.url, '/json/users/me', { headers: { cookie } })
    t.equal(me.status, 200)
    t.equal(JSON.parse(me.text).data.user.email, who.email, 'B knows the session')
    const home = await send(b.url, '/', { headers: { cookie } })
    t.equal(home.status, 200)
    t.match(home.text, '<div id="app">', 'B serves the signed-in app')
    const sessionCsrf = /<meta name="csrf-token" content="([^"]+)">/.exec(home.text)?.[1] ?? ''
    t.not(sessionCsrf, '')
    const viaFront = await send(front.url, '/json/users/me', { headers: { cookie } })
    t.equal(viaFront.status, 200, 'and so does whichever process the front picks')

    const logout = await send(b.url, '/logout', { method: 'POST', headers: { cookie }, form: { csrf_token: sessionCsrf } })
    t.equal(logout.status, 302)
    t.equal(logout.headers.location, '/login')
    for (const [name, p] of [['A', a], ['C', third]] as const) {
      const after = await send(p.url, '/json/users/me', { headers: { cookie } })
      t.equal(after.status, 401, `${name} refuses the ended session`)
      t.match(JSON.parse(after.text), { result: 'error', code: 'UNAUTHORIZED' })
    }
  })

  t.test('a rate limit reached through A holds through B: failed logins and a user\'s requests', async (t) => {
    const [a, b, third] = procs as [Server, Server, Server]
    const locked = u('locked@example.com')
    const form = await send(a.url, '/login')
    const csrf = cookies(form).parley_csrf ?? ''
    for (let i = 0; i < 5; i++) {
      const res = await send(a.url, '/login', { method: 'POST', headers: { cookie: `parley_csrf=${csrf}` }, form: { username: locked.email, password: 'wrong-password', csrf_token: csrf } })
      t.equal(res.status, 401, `failed login ${i + 1} through A`)
    }
    const refused = await send(b.url, '/api/v1/fetch_api_key', { method: 'POST', form: { username: locked.email, password: 'password123' } })
    t.equal(refused.status, 429, 'B refuses even the right password')
    const retry = Number(refused.headers['retry-after'])
    t.ok(Number.isInteger(retry) && retry >= 1 && retry <= 1801, `Retry-After within the 30-minute window and its starting second (got ${String(refused.headers['retry-after'])})`)
    t.same(JSON.parse(refused.text), { result: 'error', msg: 'API usage exceeded rate limit', code: 'RATE_LIMIT_HIT', 'retry-after': retry })
    const page = await send(third.url, '/login', { method: 'POST', headers: { cookie: `parley_csrf=${csrf}` }, form: { username: locked.email, password: 'password123', csrf_token: csrf } })
    t.equal(page.status, 429, 'and so does C\'s login form')
    t.ok(Number(page.headers['retry-after']) >= 1)

    // 200 requests a minute per user (§5): all through A, the 201st through B.
    const limited = u('limited@example.com')
    for (let i = 0; i < 200; i++) {
      const res = await send(a.url, '/api/v1/users/me', { headers: { authorization: limited.auth } })
      if (res.status !== 200) { t.fail(`request ${i + 1} through A answered ${res.status}`); return }
      if (i === 199) t.equal(res.headers['x-ratelimit-remaining'], '0', 'the 200th through A used the minute up')
    }
    const over = await send(b.url, '/api/v1/users/me', { headers: { authorization: limited.auth } })
    t.equal(over.status, 429)
    t.equal(over.headers['x-ratelimit-limit'], '200')
    t.equal(over.headers['x-ratelimit-remaining'], '0')
    const wait = Number(over.headers['retry-after'])
    t.ok(Number.isInteger(wait) && wait >= 1 && wait <= 61, `Retry-After within the minute (got ${String(over.headers['retry-after'])})`)
    t.same(JSON.parse(over.text), { result: 'error', msg: 'API usage exceeded rate limit', code: 'RATE_LIMIT_HIT', 'retry-after': wait })
  })

  /**
   * Senders post direct messages through the front for `seconds`; a client holds long-polls
   * (first on `pollAt`, through the front after any failure); `victim()` is SIGKILLed mid-way.
   */
  async function sustained (t: Test, run: string, pollAt: string, victim: () => Server): Promise<void> {
    const receiver = u(`${run}-r@example.com`)
    const from = senders(run, SENDERS).map(u)
    const q = await register(front.url, receiver)
    const started = Date.now()

    const eventIds: number[] = []
    const received: number[] = []
    let lastEventId = -1
    let server = pollAt
    let failures = 0
    /** Each poll: where it went, the last_event_id it sent, the event ids it got (or the failure). */
    const trace: string[] = []
    const state = { done: false }
    const client = (async () => {
      while (!state.done) {
        let res: Answer | undefined
        try {
          res = await request(server, 'GET', `/events?queue_id=${q}&last_event_id=${lastEventId}`, receiver.auth)
        } catch (err) {
          // The process died under the poll (or nginx said 502): again through the front, same last_event_id.
          trace.push(`${Date.now() - started} ${server === front.url ? 'front' : 'process'} last=${lastEventId} failed: ${String(err).slice(0, 80)}`)
          failures++
          server = front.url
          await sleep(20)
          continue
        }
        if (state.done) break
        if (res.status !== 200) throw new Error(`GET /events: ${res.status} ${JSON.stringify(res.body)}`)
        trace.push(`${Date.now() - started} ${server === front.url ? 'front' : 'process'} last=${lastEventId} got ${res.body.data.events.map((e: { id: number }) => e.id).join(',')}`)
        for (const e of res.body.data.events) {
          eventIds.push(e.id)
          if (e.type === 'message') received.push(e.message.id)
          lastEventId = e.id
        }
        // A client takes a moment before its next poll (events batch up meanwhile).
        await sleep(50)
      }
    })()

    const acked: number[] = []
    let ackedAfterKill = 0
    let unacked = 0
    const killAt = started + 1500
    const endAt = started + 4000
    let killed: Server | undefined
    const killer = (async () => {
      await sleep(killAt - Date.now())
      killed = victim()
      await c.kill(killed)
    })()
    await Promise.all(from.map(async (sender, s) => {
      for (let i = 0; i < 150 && Date.now() < endAt; i++) {
        try {
          const res = await dm(front.url, sender, receiver, `${run} s${s} m${i}`)
          if (res.status === 200) {
            acked.push(res.body.data.id)
            if (killed !== undefined) ackedAfterKill++
          } else unacked++
        } catch {
          // No answer (the process died mid-request): the message may or may not be stored.
          unacked++
        }
      }
    }))
    await killer

    const readStored = async (): Promise<Array<{ id: number, content: string }>> => {
      const res = await request(front.url, 'GET', '/messages?anchor=newest&num_before=5000&num_after=0&apply_markdown=false', receiver.auth)
      if (res.status !== 200) throw new Error(`GET /messages: ${JSON.stringify(res.body)}`)
      return res.body.data.messages
    }
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline && !acked.every((id) => received.includes(id))) await sleep(50)
    // A stored message whose sender got no answer (its process died between the commit and the
    // append): another process's outbox recovery appends its event, rows older than 5 s every 2 s.
    let stored = await readStored()
    const grace = Date.now() + 10_000
    while (Date.now() < grace && !stored.every((m) => received.includes(m.id))) await sleep(50)
    state.done = true
    // Ends the client's last held poll.
    await request(front.url, 'DELETE', `/events?queue_id=${q}`, receiver.auth)
    await client
    stored = await readStored()

    const storedIds = stored.map((m) => m.id)
    const count = (list: number[], id: number): number => list.filter((x) => x === id).length
    t.comment(`${run}: killed ${killed?.name ?? '?'}; ${acked.length} sends acknowledged, ${unacked} not (${ackedAfterKill} acknowledged after the kill); ${stored.length} stored; ${received.length} message events in ${eventIds.length} events; ${failures} failed polls`)
    t.ok(acked.length - ackedAfterKill > 0 && ackedAfterKill > 0, 'sends were acknowledged before and after the kill')
    t.same(acked.filter((id) => count(storedIds, id) !== 1), [], 'every acknowledged message is stored exactly once')
    t.equal(new Set(stored.map((m) => m.content)).size, stored.length, 'no message stored twice (each content once)')
    t.equal(new Set(storedIds).size, storedIds.length, 'no message id listed twice')
    t.same(acked.filter((id) => count(received, id) !== 1), [], 'every acknowledged message\'s event arrived exactly once')
    t.equal(new Set(received).size, received.length, 'no message event arrived twice')
    t.same(received.filter((id) => !storedIds.includes(id)), [], 'every message event is of a stored message')
    t.ok(eventIds.every((id, i) => i === 0 || id > (eventIds[i - 1] as number)), 'event ids strictly increasing')
    t.same(eventIds, eventIds.map((_, i) => i), 'event ids 0, 1, 2 … none skipped')
    const repeated = eventIds.findIndex((id, i) => i > 0 && id <= (eventIds[i - 1] as number))
    if (repeated !== -1) t.comment(`polls (ms since the first send, via, sent, got):\n${trace.join('\n')}`)
    // A message stored whose sender got no answer (its process died after the commit) reaches
    // the client too: the outbox (plugins/app/events/events-outbox.ts).
    t.same(storedIds.filter((id) => !received.includes(id)), [], 'every stored message\'s event arrived, acknowledged or not')
  }

  t.test('SIGKILL of a random process during sustained sends, polls through the front: every event once', async (t) => {
    const pick = Math.floor(Math.random() * procs.length)
    await sustained(t, 'k1', front.url, () => procs.splice(pick, 1)[0] as Server)
  })

  t.test('SIGKILL of the process holding the poll during sustained sends through the front: every event once', async (t) => {
    // The client polls one of the survivors directly until it dies, then the front.
    const holder = procs[0] as Server
    await sustained(t, 'k2', holder.url, () => procs.splice(0, 1)[0] as Server)
  })

  t.test('two processes starting at once on an empty PostgreSQL database both come up and serve', async (t) => {
    const admin = { PARLEY_ADMIN_EMAIL: 'admin@example.com', PARLEY_ADMIN_PASSWORD: 'admin-password' }
    const empty = await cluster(t, [], { empty: true, env: admin })
    const [x, y] = await empty.startAll(['x', 'y']) as [Server, Server]
    const keys: string[] = []
    for (const p of [x, y]) {
      const res = await request(p.url, 'POST', '/fetch_api_key', '', { username: admin.PARLEY_ADMIN_EMAIL, password: admin.PARLEY_ADMIN_PASSWORD })
      t.equal(res.status, 200, `${p.name} serves`)
      keys.push(res.body.data.api_key)
    }
    t.equal(keys[0], keys[1], 'one owner, made once')
    const auth = 'Basic ' + Buffer.from(`${admin.PARLEY_ADMIN_EMAIL}:${keys[0] ?? ''}`).toString('base64')
    const users = await request(y.url, 'GET', '/users', auth)
    t.equal(users.status, 200)
    t.equal(users.body.data.members.filter((m: { email: string }) => m.email === admin.PARLEY_ADMIN_EMAIL).length, 1)
    const created = await request(x.url, 'PUT', '/streams', auth, { name: 'Shared' })
    t.equal(created.status, 200)
    const listed = await request(y.url, 'GET', '/streams', auth)
    t.same(listed.body.data.streams.map((s: { name: string }) => s.name), ['Shared'], 'what one writes, the other reads')
  })
}
