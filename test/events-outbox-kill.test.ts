// A real process killed with SIGKILL between a send's commit and its append to Redis (a preload,
// test/fixtures/die-before-append.ts): another process's outbox recovery delivers the message to
// the long-poll it holds, once.
import t from 'tap'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { cluster, request } from './fixtures/cluster.js'
import { noRedis } from './fixtures/events-redis.js'

const root = fileURLToPath(new URL('..', import.meta.url))

const why = await noRedis()
if (why !== undefined) t.plan(0, why)
else {
  t.test('killed after the commit, before the append: the message reaches a poll held elsewhere, once', async (t) => {
    const c = await cluster(t, ['ann@example.com'])
    const owner = c.users['owner@example.com']!
    const ann = c.users['ann@example.com']!
    const b = await c.start('b')
    // On the cluster's database (PostgreSQL in the engines run) and Redis prefix, like b.
    const a = await c.start('a', { LOG_LEVEL: 'info' }, [join(root, 'test/fixtures/die-before-append.ts')])

    const reg = await request(b.url, 'POST', '/register', ann.auth, { event_types: '["message"]' })
    t.equal(reg.status, 200)
    const q: string = reg.body.data.queue_id
    const held = request(b.url, 'GET', `/events?queue_id=${q}&last_event_id=-1`, ann.auth)
    await sleep(100)

    await t.rejects(request(a.url, 'POST', '/messages', owner.auth, { type: 'direct', to: `[${ann.id}]`, content: 'the last words' }),
      'A dies before answering')
    const stored = await request(b.url, 'GET', '/messages?anchor=newest&num_before=1&num_after=0', ann.auth)
    t.match(stored.body.data.messages, [{ content: '<p>the last words</p>' }], 'the message was committed')
    const id: number = stored.body.data.messages[0].id

    // Heartbeats may come first; the message comes within B's recovery period after A's grace.
    const events: Array<{ id: number, type: string, message?: { id: number } }> = []
    let last = -1
    let res = await held
    const deadline = Date.now() + 20_000
    for (;;) {
      t.equal(res.status, 200)
      for (const e of res.body.data.events) { events.push(e); last = e.id }
      if (events.some((e) => e.type === 'message') || Date.now() > deadline) break
      res = await request(b.url, 'GET', `/events?queue_id=${q}&last_event_id=${last}`, ann.auth)
    }
    const messages = events.filter((e) => e.type === 'message')
    t.same(messages.map((e) => e.message?.id), [id], 'delivered by B\'s recovery')
    // Another recovery period: nothing more comes.
    await sleep(3000)
    const after = await request(b.url, 'GET', `/events?queue_id=${q}&last_event_id=${last}&dont_block=true`, ann.auth)
    t.same(after.body.data.events.filter((e: { type: string }) => e.type === 'message'), [], 'and only once')
  })
}
