// Event queues in Redis across two app instances on one data dir and one key prefix (two
// processes, in one): any instance serves any queue; wake-ups, deletes, acks and newer GETs cross.
import t from 'tap'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import parley, { serverOptions } from '../app.js'
import { loadConfig } from '../plugins/app/config.js'
import { QUEUES_FILE } from '../plugins/app/events/events-persist.js'
import { buildPair, call, noRedis, registerQueue, settled } from './fixtures/events-redis.js'
import type { RedisEvents } from '../plugins/app/events/events-redis.js'
import { CAPS } from '../plugins/app/events/events-queue.js'

const why = await noRedis()
if (why !== undefined) t.plan(0, why)
else {
  t.test('registered through A, held through B, fed by a message sent through A: B answers it', async (t) => {
    const { app: a, b, owner, createUser } = await buildPair(t)
    const ann = await createUser('ann@example.com')
    const q = await registerQueue(a, ann, { event_types: ['message'] })
    const held = call(b, ann, 'GET', `/events?queue_id=${q}&last_event_id=-1`)
    await sleep(50)
    const sent = await call(a, owner, 'POST', '/messages', { type: 'direct', to: JSON.stringify([ann.id]), content: 'over redis' })
    t.equal(sent.status, 200)
    const res = await held
    t.equal(res.status, 200)
    t.same(res.body.result, 'success')
    t.equal(res.body.data.queue_id, q)
    t.match(res.body.data.events, [{ id: 0, type: 'message', flags: [], message: { id: sent.body.data.id, content: '<p>over redis</p>' } }])
    t.equal(res.body.data.events.length, 1)
  })

  t.test('a poll held through A is answered promptly by an event published through B', async (t) => {
    const { app: a, b, owner } = await buildPair(t)
    const q = await registerQueue(b, owner, { event_types: ['realm_user'] })
    const held = call(a, owner, 'GET', `/events?queue_id=${q}&last_event_id=-1`)
    await sleep(50)
    const started = Date.now()
    b.bus.publish({ type: 'realm_user', op: 'update', person: { user_id: owner.id, full_name: 'Renamed' } }, { kind: 'users', userIds: [owner.id] })
    const res = await held
    const took = Date.now() - started
    t.equal(res.status, 200)
    t.same(res.body, { result: 'success', msg: '', data: { queue_id: q, events: [{ id: 0, type: 'realm_user', op: 'update', person: { user_id: owner.id, full_name: 'Renamed' } }] } })
    t.ok(took < 200, `answered in ${took} ms`)
  })

  t.test('ids continue and acknowledgements hold whichever instance serves the GET', async (t) => {
    const { app: a, b, owner } = await buildPair(t)
    const q = await registerQueue(a, owner, { event_types: ['presence'] })
    for (let i = 0; i < 3; i++) a.bus.publish({ type: 'presence', n: i }, { kind: 'all' })
    await settled(a)
    const first = await call(b, owner, 'GET', `/events?queue_id=${q}&last_event_id=-1&dont_block=true`)
    t.same(first.body.data.events, [{ id: 0, type: 'presence', n: 0 }, { id: 1, type: 'presence', n: 1 }, { id: 2, type: 'presence', n: 2 }])
    const acked = await call(a, owner, 'GET', `/events?queue_id=${q}&last_event_id=1&dont_block=true`)
    t.same(acked.body.data.events, [{ id: 2, type: 'presence', n: 2 }], 'ids 0 and 1 acknowledged through A')
    b.bus.publish({ type: 'presence', n: 3 }, { kind: 'all' })
    await settled(b)
    const rest = await call(b, owner, 'GET', `/events?queue_id=${q}&last_event_id=2&dont_block=true`)
    t.same(rest.body.data.events, [{ id: 3, type: 'presence', n: 3 }], 'the next id after 2, published through B')
  })

  t.test('a GET waiting for its own process\'s fan-outs acknowledges before a wake-up reads: no acknowledged event comes back', async (t) => {
    // The operator's check found it: a wake-up that came while the GET waited for this process's
    // appends (read your writes) read the queue before the POLL had acknowledged anything.
    const { app: a, owner } = await buildPair(t)
    const q = await registerQueue(a, owner, { event_types: ['realm_user'] })
    const rename = (n: number): void => {
      a.bus.publish({ type: 'realm_user', op: 'update', person: { user_id: owner.id, full_name: `Name ${n}` } }, { kind: 'users', userIds: [owner.id] })
    }
    let last = -1
    let n = 0
    for (let round = 0; round < 30; round++) {
      rename(n++)
      await settled(a)
      last++
      // Events published now are still being appended when the GET reaches the queue.
      for (let i = 0; i < 5; i++) rename(n++)
      const res = await call(a, owner, 'GET', `/events?queue_id=${q}&last_event_id=${last}`)
      t.equal(res.status, 200)
      const ids: number[] = res.body.data.events.map((e: { id: number }) => e.id)
      if (ids.some((id) => id <= last)) {
        t.fail(`round ${round}: acknowledged events came back: last_event_id=${last}, got ${JSON.stringify(ids)}`)
        return
      }
      // The rest of this round's events, acknowledged by the next round's GET.
      await settled(a)
      last = Math.max(last, ...ids)
      const rest = await call(a, owner, 'GET', `/events?queue_id=${q}&last_event_id=${last}&dont_block=true`)
      const more: number[] = rest.body.data.events.map((e: { id: number }) => e.id)
      last = Math.max(last, ...more)
    }
    t.pass('30 rounds, no acknowledged event answered again')
  })

  t.test('DELETE through B answers the poll held through A; then A says BAD_EVENT_QUEUE_ID', async (t) => {
    const { app: a, b, owner } = await buildPair(t)
    const q = await registerQueue(a, owner)
    const held = call(a, owner, 'GET', `/events?queue_id=${q}&last_event_id=-1`)
    await sleep(50)
    const del = await call(b, owner, 'DELETE', `/events?queue_id=${q}`)
    t.same(del, { status: 200, body: { result: 'success', msg: '', data: {} } })
    const answered = await held
    t.same(answered, { status: 200, body: { result: 'success', msg: '', data: { queue_id: q, events: [] } } })
    const after = await call(a, owner, 'GET', `/events?queue_id=${q}&dont_block=true`)
    t.same(after, { status: 400, body: { result: 'error', msg: `Bad event queue ID: ${q}`, code: 'BAD_EVENT_QUEUE_ID', queue_id: q } })
    const again = await call(b, owner, 'DELETE', `/events?queue_id=${q}`)
    t.equal(again.status, 400)
    t.equal(again.body.code, 'BAD_EVENT_QUEUE_ID')
  })

  t.test('another user\'s queue is BAD_EVENT_QUEUE_ID on either instance, held or not', async (t) => {
    const { app: a, b, owner, createUser } = await buildPair(t)
    const ann = await createUser('ann@example.com')
    const q = await registerQueue(a, owner)
    for (const app of [a, b]) {
      const res = await call(app, ann, 'GET', `/events?queue_id=${q}`)
      t.same(res, { status: 400, body: { result: 'error', msg: `Bad event queue ID: ${q}`, code: 'BAD_EVENT_QUEUE_ID', queue_id: q } })
    }
    t.equal((await call(b, owner, 'GET', `/events?queue_id=${q}&dont_block=true`)).status, 200, 'the owner\'s is fine')
    const held = call(a, owner, 'GET', `/events?queue_id=${q}&last_event_id=-1`)
    await sleep(50)
    const foreign = await call(a, ann, 'GET', `/events?queue_id=${q}`)
    t.equal(foreign.body.code, 'BAD_EVENT_QUEUE_ID', 'refused where the owner\'s poll is held')
    b.bus.publish({ type: 'presence', n: 1 }, { kind: 'users', userIds: [owner.id] })
    t.same((await held).body.data.events, [{ id: 0, type: 'presence', n: 1 }], 'and the owner\'s held poll still gets its event')
  })

  t.test('a newer GET through B answers the older one held through A with no events', async (t) => {
    const { app: a, b, owner } = await buildPair(t)
    const q = await registerQueue(a, owner, { event_types: ['presence'] })
    const older = call(a, owner, 'GET', `/events?queue_id=${q}&last_event_id=-1`)
    await sleep(50)
    const newer = call(b, owner, 'GET', `/events?queue_id=${q}&last_event_id=-1`)
    t.same(await older, { status: 200, body: { result: 'success', msg: '', data: { queue_id: q, events: [] } } })
    a.bus.publish({ type: 'presence', n: 1 }, { kind: 'all' })
    t.same((await newer).body.data.events, [{ id: 0, type: 'presence', n: 1 }], 'the newer one gets the event')
  })

  t.test('a held poll gets a heartbeat after PARLEY_HEARTBEAT_SECONDS, with the queue\'s next id', async (t) => {
    const { app: a, b, owner } = await buildPair(t, { PARLEY_HEARTBEAT_SECONDS: '1' })
    const q = await registerQueue(a, owner, { event_types: ['presence'] })
    a.bus.publish({ type: 'presence', n: 0 }, { kind: 'all' })
    await settled(a)
    const started = Date.now()
    const res = await call(b, owner, 'GET', `/events?queue_id=${q}&last_event_id=0`)
    t.ok(Date.now() - started >= 900, 'held for about the heartbeat period')
    t.same(res.body.data, { queue_id: q, events: [{ id: 1, type: 'heartbeat' }] })
  })

  t.test('an idle queue is swept by any instance; one with a held poll is kept', async (t) => {
    const { app: a, b, owner } = await buildPair(t, { PARLEY_QUEUE_TIMEOUT_SECONDS: '1', PARLEY_HEARTBEAT_SECONDS: '3' })
    const idle = await registerQueue(a, owner)
    const busy = await registerQueue(a, owner)
    const held = call(b, owner, 'GET', `/events?queue_id=${busy}&last_event_id=-1`)
    await sleep(1800)
    const res = await call(b, owner, 'GET', `/events?queue_id=${idle}&dont_block=true`)
    t.same(res.body, { result: 'error', msg: `Bad event queue ID: ${idle}`, code: 'BAD_EVENT_QUEUE_ID', queue_id: idle })
    a.bus.publish({ type: 'presence', n: 1 }, { kind: 'all' })
    t.same((await held).body.data.events, [{ id: 0, type: 'presence', n: 1 }], 'the held queue outlived the timeout')
  })

  t.test('a narrow and event types filter in the publishing instance as in-process', async (t) => {
    const { app: a, b, owner } = await buildPair(t)
    const lunch = await registerQueue(a, owner, { event_types: ['message'], narrow: [['topic', 'lunch']] })
    const fake = (id: number, topic: string): Record<string, unknown> => ({ id, sender_id: 999, type: 'stream', stream_id: 1, display_recipient: 'general', topic, content: 'x' })
    b.bus.publish({ type: 'message', message: fake(1, 'dinner') }, { kind: 'all' })
    b.bus.publish({ type: 'presence' }, { kind: 'all' })
    b.bus.publish({ type: 'message', message: fake(2, 'Lunch') }, { kind: 'all' })
    await settled(b)
    const res = await call(a, owner, 'GET', `/events?queue_id=${lunch}&dont_block=true`)
    t.same(res.body.data.events, [{ id: 0, type: 'message', message: fake(2, 'Lunch'), flags: [] }])
  })

  t.test('queues registered elsewhere filter as in-process, whether Redis or the publisher applies the filter', async (t) => {
    const { app: a, b, owner } = await buildPair(t)
    // Redis filters the first three alone (no narrow, plain type names); the publisher, the last two.
    const everything = await registerQueue(b, owner, {})
    const messages = await registerQueue(b, owner, { event_types: ['message'] })
    const typing = await registerQueue(b, owner, { event_types: ['typing'] })
    const lunch = await registerQueue(b, owner, { event_types: ['message'], narrow: [['topic', 'lunch']] })
    const odd = await registerQueue(b, owner, { event_types: ['message', 'a,b'] })
    const fake = (id: number, topic: string, sender = 999): Record<string, unknown> => ({ id, sender_id: sender, type: 'stream', stream_id: 1, display_recipient: 'general', topic, content: 'x' })
    a.bus.publish({ type: 'message', message: fake(1, 'dinner') }, { kind: 'users', userIds: [owner.id] })
    a.bus.publish({ type: 'typing', op: 'start' }, { kind: 'all' })
    a.bus.publish({ type: 'message', message: fake(2, 'Lunch', owner.id) }, { kind: 'users', userIds: [owner.id, owner.id] })
    a.bus.publish({ type: 'heartbeat' }, { kind: 'users', userIds: [owner.id] })
    await settled(a)
    const pending = async (q: string): Promise<unknown> => (await call(b, owner, 'GET', `/events?queue_id=${q}&dont_block=true`)).body.data.events
    const unread = (id: number): Record<string, unknown> => ({ type: 'message', message: fake(1, 'dinner'), flags: [], id })
    const own = (id: number): Record<string, unknown> => ({ type: 'message', message: fake(2, 'Lunch', owner.id), flags: ['read'], id })
    t.same(await pending(everything), [unread(0), { id: 1, type: 'typing', op: 'start' }, own(2), { id: 3, type: 'heartbeat' }], 'every type; the sender\'s own message flagged read, once though listed twice')
    t.same(await pending(messages), [unread(0), own(1), { id: 2, type: 'heartbeat' }], 'messages, and the heartbeat every queue takes')
    t.same(await pending(typing), [{ id: 0, type: 'typing', op: 'start' }, { id: 1, type: 'heartbeat' }])
    t.same(await pending(lunch), [own(0), { id: 1, type: 'heartbeat' }], 'the narrow, applied by the publisher')
    t.same(await pending(odd), [unread(0), own(1), { id: 2, type: 'heartbeat' }], 'a type name with a comma, filtered by the publisher')
  })

  t.test('a poll answered while its process fans out is not held back by that fan-out; a POST is', async (t) => {
    const { app: a, b, owner } = await buildPair(t)
    const q = await registerQueue(a, owner, { event_types: ['realm_user'] })
    const held = call(a, owner, 'GET', `/events?queue_id=${q}&last_event_id=-1`)
    await sleep(50)
    // A's own fan-out, stuck: what a write through A would wait for.
    const fanout = (a.events as RedisEvents).fanout
    let finish = (): void => {}
    const stuck = new Promise<void>((resolve) => { finish = resolve })
    const settledBefore = fanout.settled.bind(fanout)
    fanout.settled = async () => { await stuck }
    fanout.inflight++
    t.teardown(() => { fanout.inflight--; fanout.settled = settledBefore })
    b.bus.publish({ type: 'realm_user', op: 'update', person: { user_id: owner.id, full_name: 'Renamed' } }, { kind: 'users', userIds: [owner.id] })
    const res = await Promise.race([held, sleep(3000).then(() => 'held back')])
    t.same(res, { status: 200, body: { result: 'success', msg: '', data: { queue_id: q, events: [{ id: 0, type: 'realm_user', op: 'update', person: { user_id: owner.id, full_name: 'Renamed' } }] } } })
    let answered = false
    const write = call(a, owner, 'POST', '/users/me/presence', { status: 'active' }).then((r) => { answered = true; return r })
    await sleep(200)
    t.notOk(answered, 'a write through A waits for A\'s fan-outs')
    finish()
    t.equal((await write).status, 200)
  })

  t.test('a queue over its pending cap is dropped by the fan-out, whichever step appends; the others keep theirs', async (t) => {
    const { app: a, b, owner } = await buildPair(t)
    const cap = CAPS.pendingPerQueue
    CAPS.pendingPerQueue = 2
    t.teardown(() => { CAPS.pendingPerQueue = cap })
    const full = await registerQueue(b, owner, { event_types: ['presence'] })
    const narrowed = await registerQueue(b, owner, { event_types: ['message'], narrow: [['topic', 'lunch']] })
    const fake = { id: 1, sender_id: 999, type: 'stream', stream_id: 1, display_recipient: 'general', topic: 'lunch', content: 'x' }
    for (let n = 0; n < 3; n++) {
      a.bus.publish({ type: 'presence', n }, { kind: 'users', userIds: [owner.id] })
      a.bus.publish({ type: 'message', message: { ...fake, id: n } }, { kind: 'users', userIds: [owner.id] })
    }
    await settled(a)
    const gone = { status: 400, body: { result: 'error', code: 'BAD_EVENT_QUEUE_ID' } }
    t.match(await call(b, owner, 'GET', `/events?queue_id=${full}&dont_block=true`), gone, 'FANOUT dropped the queue at its third event')
    t.match(await call(b, owner, 'GET', `/events?queue_id=${narrowed}&dont_block=true`), gone, 'APPEND (a narrow) too')
    const fresh = await registerQueue(b, owner, { event_types: ['presence'] })
    a.bus.publish({ type: 'presence', n: 3 }, { kind: 'users', userIds: [owner.id] })
    await settled(a)
    t.same((await call(b, owner, 'GET', `/events?queue_id=${fresh}&dont_block=true`)).body.data.events, [{ id: 0, type: 'presence', n: 3 }], 'a queue registered again gets the next events')
  })

  t.test('a process restart changes nothing for the queues: no file, no restart event, ids continue', async (t) => {
    const { app: a, b, owner, dataDir, prefix } = await buildPair(t)
    const q = await registerQueue(a, owner, { event_types: ['presence'] })
    a.bus.publish({ type: 'presence', n: 0 }, { kind: 'all' })
    await settled(a)
    const held = call(b, owner, 'GET', `/events?queue_id=${q}&last_event_id=0`)
    await sleep(50)
    await a.close()
    t.notOk(existsSync(join(dataDir, QUEUES_FILE)), 'nothing saved in the data dir: the queues are in Redis')
    const again = Fastify(serverOptions(false))
    await again.register(fp(parley), { config: loadConfig({ PARLEY_DATA_DIR: dataDir, ...(a.config.databaseUrl === undefined ? {} : { DATABASE_URL: a.config.databaseUrl }), PARLEY_RATE_LIMIT: 'off', REDIS_URL: process.env.PARLEY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', PARLEY_REDIS_PREFIX: prefix }) })
    await again.ready()
    t.teardown(async () => { await again.close() })
    again.bus.publish({ type: 'presence', n: 1 }, { kind: 'all' })
    t.same((await held).body.data.events, [{ id: 1, type: 'presence', n: 1 }], 'the poll held by the other process gets the next event, no restart event before it')
    const res = await call(again, owner, 'GET', `/events?queue_id=${q}&last_event_id=0&dont_block=true`)
    t.same(res.body.data.events, [{ id: 1, type: 'presence', n: 1 }], 'the restarted process serves the queue: event 1 is pending until acknowledged')
  })
}
