// Real Parley processes on one database (SQLite, or a PostgreSQL schema when the run sets
// PARLEY_TEST_DATABASE_URL) and one Redis prefix: a process killed with SIGKILL while holding a
// client's long-poll loses no event and repeats none; two processes starting at once both serve
// one queue. test/cluster.test.ts does the same and more behind nginx, on the engines only.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Server } from '../bench/children.js'
import { cluster, request } from './fixtures/cluster.js'
import { noRedis } from './fixtures/events-redis.js'

const why = await noRedis()
if (why !== undefined) t.plan(0, why)
else {
  t.test('SIGKILL of the process holding a long-poll: the client retries elsewhere with its last_event_id and gets every event once', async (t) => {
    const c = await cluster(t, ['ann@example.com'])
    const owner = c.users['owner@example.com']!
    const ann = c.users['ann@example.com']!
    const [a, b] = await c.startAll(['a', 'b']) as [Server, Server]

    const reg = await request(b.url, 'POST', '/register', ann.auth, { event_types: '["message"]' })
    t.equal(reg.status, 200)
    const q: string = reg.body.data.queue_id

    // The client: long-polls A until A dies, then retries the same last_event_id against B.
    const eventIds: number[] = []
    const received: number[] = []
    let lastEventId = -1
    let server = a.url
    let failovers = 0
    const state = { done: false }
    const client = (async () => {
      while (!state.done) {
        let res
        try {
          res = await request(server, 'GET', `/events?queue_id=${q}&last_event_id=${lastEventId}`, ann.auth)
        } catch {
          failovers++
          server = b.url
          continue
        }
        if (res.status !== 200) throw new Error(`GET /events: ${JSON.stringify(res.body)}`)
        for (const e of res.body.data.events) {
          eventIds.push(e.id)
          if (e.type === 'message') received.push(e.message.id)
          lastEventId = e.id
        }
      }
    })()

    // The sender: 200 direct messages to ann, through A and B in turn until A is killed mid-way.
    const acked: number[] = []
    let aAlive = true
    for (let i = 0; i < 200; i++) {
      if (i === 100) {
        process.kill(a.pid, 'SIGKILL')
        aAlive = false
      }
      const via = aAlive && i % 2 === 0 ? a.url : b.url
      try {
        const res = await request(via, 'POST', '/messages', owner.auth, { type: 'direct', to: `[${ann.id}]`, content: `m${i}` })
        if (res.status === 200) acked.push(res.body.data.id)
      } catch { /* Not acknowledged: the sender would retry; it may or may not have been stored. */ }
    }

    const deadline = Date.now() + 15_000
    while (Date.now() < deadline && !acked.every((id) => received.includes(id))) await sleep(50)
    state.done = true
    // Ends the client's last held poll.
    await request(b.url, 'DELETE', `/events?queue_id=${q}`, ann.auth)
    await client

    t.equal(acked.length, 200, 'every send was acknowledged (all went to live processes)')
    t.equal(failovers, 1, 'the client lost its poll once, when A was killed, and moved to B')
    t.same(acked.filter((id) => !received.includes(id)), [], 'no acknowledged message is missing')
    t.equal(new Set(received).size, received.length, 'no message arrived twice')
    t.same(eventIds, eventIds.map((_, i) => i), 'event ids 0, 1, 2 … each seen once, none skipped')
    t.same(received, [...received].sort((x, y) => x - y), 'messages arrive in the order they were sent')
  })

  t.test('two processes starting at once both come up and serve one queue: registered on one, held on the other', async (t) => {
    const c = await cluster(t, ['ann@example.com'])
    const owner = c.users['owner@example.com']!
    const ann = c.users['ann@example.com']!
    const [a, b] = await c.startAll(['a', 'b']) as [Server, Server]
    const reg = await request(a.url, 'POST', '/register', ann.auth, { event_types: '["message"]' })
    t.equal(reg.status, 200)
    const q: string = reg.body.data.queue_id
    const held = request(b.url, 'GET', `/events?queue_id=${q}&last_event_id=-1`, ann.auth)
    await sleep(100)
    const sent = await request(a.url, 'POST', '/messages', owner.auth, { type: 'direct', to: `[${ann.id}]`, content: 'hello' })
    t.equal(sent.status, 200)
    const res = await held
    t.equal(res.status, 200)
    t.match(res.body, { result: 'success', data: { queue_id: q, events: [{ id: 0, type: 'message', flags: [], message: { id: sent.body.data.id } }] } })
    const other = await request(b.url, 'POST', '/messages', owner.auth, { type: 'direct', to: `[${ann.id}]`, content: 'again' })
    const next = await request(a.url, 'GET', `/events?queue_id=${q}&last_event_id=0`, ann.auth)
    t.match(next.body.data.events, [{ id: 1, type: 'message', message: { id: other.body.data.id } }], 'and the other way round')
  })
}
