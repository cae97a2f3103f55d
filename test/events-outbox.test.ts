// The transactional outbox of the Redis mode (plugins/app/events/events-outbox.ts): a message
// event whose publisher died after the commit is appended by another process's recovery, once;
// a publish and a recovery racing on one row append once; normal sends leave no rows; the
// in-process bus writes none.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { Audience, BusEvent } from '../plugins/app/events/bus.js'
import { OUTBOX, type RedisOutbox } from '../plugins/app/events/events-outbox.js'
import type { RedisEvents } from '../plugins/app/events/events-redis.js'
import { buildPair, call, noRedis, registerQueue, settled } from './fixtures/events-redis.js'
import { build, type TestUser } from './helper.js'

async function outboxRows (app: FastifyInstance): Promise<number> {
  const r = await app.db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  return Number(r.n)
}

function outboxOf (app: FastifyInstance): RedisOutbox {
  return app.bus.outbox as RedisOutbox
}

async function edit (app: FastifyInstance, who: TestUser, id: number, content: string): Promise<number> {
  const res = await app.inject({ method: 'PATCH', url: `/api/v1/messages/${id}`, headers: { authorization: who.auth }, payload: { content } })
  return res.statusCode
}

/** A claim that takes every row now, however young (the test does not wait out the grace period). */
function later (): number { return Date.now() + OUTBOX.graceMs + 1 }

interface Tap { teardown: (fn: () => unknown) => void }

interface Caught { event: BusEvent, audience: Audience, outboxId: string | undefined }

/** Makes `app`'s bus swallow publishes (its process "dies" between the commit and the append), keeping them. */
function swallow (t: Tap, app: FastifyInstance): Caught[] {
  const caught: Caught[] = []
  const publish = app.bus.publish.bind(app.bus)
  app.bus.publish = (event, audience, outboxId) => { caught.push({ event, audience, outboxId }) }
  t.teardown(() => { app.bus.publish = publish })
  return caught
}

t.test('in-process (no REDIS_URL): sends, edits and deletes write no outbox rows and publish no key', async (t) => {
  const { app, owner } = await build(t, { REDIS_URL: '' })
  t.equal(app.bus.outbox, undefined)
  const keys: Array<string | undefined> = []
  const publish = app.bus.publish.bind(app.bus)
  app.bus.publish = (event, audience, outboxId) => { keys.push(outboxId); publish(event, audience, outboxId) }
  const sent = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: { authorization: owner.auth }, payload: { type: 'direct', to: JSON.stringify([owner.id]), content: 'hello' } })
  t.equal(sent.statusCode, 200)
  const id = JSON.parse(sent.payload).data.id as number
  t.equal(await edit(app, owner, id, 'edited'), 200)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/messages/${id}`, headers: { authorization: owner.auth } })).statusCode, 200)
  t.same(keys, [undefined, undefined, undefined])
  t.equal(await outboxRows(app), 0)
})

const why = await noRedis()
if (why !== undefined) t.test('outbox with Redis', { skip: why }, () => {})
else {
  t.test('a send whose process died before its append reaches a poll held elsewhere, through that process\'s recovery, once', async (t) => {
    const { app: a, b, owner, createUser } = await buildPair(t)
    const ann = await createUser('ann@example.com')
    const q = await registerQueue(b, ann, { event_types: ['message'] })
    const held = call(b, ann, 'GET', `/events?queue_id=${q}&last_event_id=-1`)
    await sleep(50)
    const caught = swallow(t, a)
    const sent = await call(a, owner, 'POST', '/messages', { type: 'direct', to: JSON.stringify([ann.id]), content: 'after the crash' })
    t.equal(sent.status, 200)
    t.equal(caught.length, 1, 'A committed and would have published once')
    t.match(caught[0]?.outboxId, /^\d+\.\d+$/, 'with its outbox key')
    t.equal(await outboxRows(a), 1, 'the row is committed with the message')
    t.equal(await outboxOf(b).recover(Date.now()), 0, 'not claimed within its publisher\'s grace period')
    t.equal(await outboxOf(b).recover(later()), 1, 'B claims it once due')
    const res = await held
    t.equal(res.status, 200)
    t.match(res.body.data.events, [{ id: 0, type: 'message', message: { id: sent.body.data.id, content: '<p>after the crash</p>' } }])
    t.equal(res.body.data.events.length, 1)
    await settled(b)
    await outboxOf(b).flush()
    t.equal(await outboxRows(a), 0, 'and deleted after the append')
    t.equal(await outboxOf(b).recover(later()), 0)
    const after = await call(b, ann, 'GET', `/events?queue_id=${q}&last_event_id=0&dont_block=true`)
    t.same(after, { status: 200, body: { result: 'success', msg: '', data: { queue_id: q, events: [] } } }, 'nothing twice')
  })

  t.test('the publisher and a recovery racing on one row append its event once', async (t) => {
    const { app: a, b, owner, createUser } = await buildPair(t)
    const ann = await createUser('ann@example.com')
    const bob = await createUser('bob@example.com')
    // One user per FANOUT script, so the three participants are three slices, each with its guard.
    for (const app of [a, b]) (app.events as RedisEvents).fanout.slice = 1
    const q = await registerQueue(a, ann, { event_types: ['message', 'update_message', 'delete_message'] })
    const bobs = await registerQueue(b, bob, { event_types: ['message', 'update_message'] })
    // Filtered by the publisher, not by Redis: appended by the second step, under its own guard.
    const narrowed = await registerQueue(b, ann, { event_types: ['message', 'update_message'], narrow: [['dm', [owner.email, bob.email]]] })
    const caught = swallow(t, a)
    const sent = await call(a, owner, 'POST', '/messages', { type: 'direct', to: JSON.stringify([ann.id, bob.id]), content: 'raced' })
    t.equal(await edit(a, owner, sent.body.data.id, 'raced again'), 200)
    t.equal(caught.length, 2)
    t.equal(await outboxRows(a), 2)
    // The late publisher, and two recoveries (one per process) at once.
    const fanout = (a.events as RedisEvents).fanout
    for (const c of caught) fanout.publish(c)
    const claimed = await Promise.all([outboxOf(b).recover(later()), outboxOf(a).recover(later())])
    t.equal(claimed[0] + claimed[1], 2, 'each row claimed by one recovery')
    // A late publish after everything (a delete that failed): refused too.
    for (const c of caught) fanout.publish(c)
    await Promise.all([settled(a), settled(b)])
    await Promise.all([outboxOf(a).flush(), outboxOf(b).flush()])
    const res = await call(b, ann, 'GET', `/events?queue_id=${q}&last_event_id=-1&dont_block=true`)
    t.equal(res.status, 200)
    t.match(res.body.data.events, [{ id: 0, type: 'message', message: { content: '<p>raced</p>' } }, { id: 1, type: 'update_message', content: 'raced again' }])
    t.equal(res.body.data.events.length, 2, 'each event once')
    const other = await call(a, ann, 'GET', `/events?queue_id=${narrowed}&last_event_id=-1&dont_block=true`)
    t.match(other.body.data.events, [{ id: 0, type: 'message', message: { content: '<p>raced</p>' } }, { id: 1, type: 'update_message', content: 'raced again' }])
    t.equal(other.body.data.events.length, 2, 'each event once in a narrowed queue too')
    const third = await call(b, bob, 'GET', `/events?queue_id=${bobs}&last_event_id=-1&dont_block=true`)
    t.match(third.body.data.events, [{ id: 0, type: 'message', message: { content: '<p>raced</p>' } }, { id: 1, type: 'update_message', content: 'raced again' }])
    t.equal(third.body.data.events.length, 2, 'each event once in another slice\'s queue')
    t.equal(await outboxRows(a), 0)
  })

  t.test('normal sends, edits and deletes go through the outbox and leave it empty', async (t) => {
    const { app: a, b, owner, createUser } = await buildPair(t)
    const ann = await createUser('ann@example.com')
    const q = await registerQueue(b, ann, { event_types: ['message', 'update_message', 'delete_message'] })
    const keys: Array<string | undefined> = []
    const publish = a.bus.publish.bind(a.bus)
    a.bus.publish = (event, audience, outboxId) => { keys.push(outboxId); publish(event, audience, outboxId) }
    t.teardown(() => { a.bus.publish = publish })
    const ids: number[] = []
    for (let i = 0; i < 5; i++) {
      const sent = await call(a, owner, 'POST', '/messages', { type: 'direct', to: JSON.stringify([ann.id]), content: `m${i}` })
      t.equal(sent.status, 200)
      ids.push(sent.body.data.id)
    }
    t.equal(await edit(a, owner, ids[0] as number, 'edited'), 200)
    t.equal((await call(a, owner, 'DELETE', `/messages/${ids[1] as number}`)).status, 200)
    t.equal(keys.length, 7)
    t.ok(keys.every((k) => k !== undefined && /^\d+\.\d+$/.test(k)), 'every one with its outbox key')
    await settled(a)
    await outboxOf(a).flush()
    t.equal(await outboxRows(a), 0)
    const res = await call(b, ann, 'GET', `/events?queue_id=${q}&last_event_id=-1&dont_block=true`)
    t.same(res.body.data.events.map((e: { id: number, type: string }) => [e.id, e.type]),
      [[0, 'message'], [1, 'message'], [2, 'message'], [3, 'message'], [4, 'message'], [5, 'update_message'], [6, 'delete_message']])
  })
}
