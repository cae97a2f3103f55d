// QueueRegistry.dispatch on its own: who receives an event, how often, with which flags and in which JSON.
import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInThisContext } from 'node:vm'
import { loadQueues, saveQueues } from '../plugins/app/events/events-persist.js'
import { CAPS, QueueRegistry, serializeBatchEnvelope, type EventQueue, type Queued } from '../plugins/app/events/events-queue.js'

function registry (heartbeatMs = 60_000): QueueRegistry {
  const r = new QueueRegistry(heartbeatMs, 600)
  t.teardown(() => { r.answerAll() })
  return r
}

function queue (r: QueueRegistry, userId: number, eventTypes: string[] | null = null, narrow: EventQueue['narrow'] = []): EventQueue {
  return r.create({ userId, eventTypes, narrow, lifespanSecs: 0 })
}

const json = (q: EventQueue): string[] => q.pending.map((e) => e.json)

t.test('new and acknowledged queues hold their events in lists of one hidden class, so the optimized dispatch serves both', async (t) => {
  // The dispatch to 5,000 new queues lost its optimized code at the first of them when a new
  // queue's list ([]: small integers) and an acknowledged one's (a slice: objects) differed
  // (docs/performance.md, session 5). %HaveSameMap is V8's own test of that. First in the file:
  // once lists from one literal have had objects pushed while young, V8 allocates that literal's
  // later arrays for objects, and a `[]` would pass; the server's lists are pushed to when old.
  // Natives syntax applies to code compiled after the flag is set: this test file's process only.
  setFlagsFromString('--allow-natives-syntax')
  const sameMap = runInThisContext('(function sameMap (a, b) { return %HaveSameMap(a, b) })') as (a: unknown, b: unknown) => boolean
  const r = registry()
  const fresh = queue(r, 1)
  const acked = queue(r, 2)
  r.dispatch({ event: { type: 'presence' }, audience: { kind: 'users', userIds: [2] } })
  acked.ack(0)
  t.equal(acked.pending.length, 0)
  t.equal(fresh.pending.length, 0)
  t.ok(sameMap(fresh.pending, acked.pending), 'the same map for a new list and an acknowledged one')
  t.notOk(sameMap([], acked.pending), 'a list literal starts with another map: the test can tell them apart')
  const before = fresh.pending
  r.dispatch({ event: { type: 'presence' }, audience: { kind: 'users', userIds: [1] } })
  t.ok(sameMap(before, acked.pending), 'and it keeps that map when an event is pushed')

  // Queues saved on a stop and restored at the next start, with and without pending events.
  const dir = t.testdir()
  saveQueues(r, dir)
  const restored = registry()
  t.equal(loadQueues(restored, dir), 2)
  const [emptied, holding] = [restored.get(2, acked.id), restored.get(1, fresh.id)]
  t.same([emptied.pending.length, holding.pending.length], [0, 1])
  t.ok(sameMap(emptied.pending, acked.pending), 'a restored empty list has it too')
  t.ok(sameMap(holding.pending, fresh.pending), 'and a restored list with an event')
})

t.test('a user listed twice in the audience receives the event once per queue, in the order of the audience', async (t) => {
  const r = registry()
  const a1 = queue(r, 1)
  const b = queue(r, 2)
  const a2 = queue(r, 1)
  const other = queue(r, 3)
  r.dispatch({ event: { type: 'stream', op: 'create' }, audience: { kind: 'users', userIds: [2, 1, 2, 1, 99] } })
  for (const q of [a1, a2, b]) t.same(json(q), ['{"type":"stream","op":"create"}'])
  t.same(json(other), [], 'not in the audience')
  t.same([a1, a2, b].map((q) => q.pending[0]?.id), [0, 0, 0], 'each queue numbers its own events')
})

t.test('a message event: the sender\'s queues get the read flag, the others none; the type filter and narrow apply', async (t) => {
  const r = registry()
  const sender = queue(r, 1)
  const reader = queue(r, 2)
  const presenceOnly = queue(r, 2, ['presence'])
  const narrowed = queue(r, 2, null, [{ operator: 'stream', operand: 'elsewhere', negated: false }])
  const matching = queue(r, 2, null, [{ operator: 'stream', operand: 'General', negated: false }])
  const message = { id: 5, sender_id: 1, type: 'stream', stream_id: 7, display_recipient: 'general', topic: 'x' }
  r.dispatch({ event: { type: 'message', message }, audience: { kind: 'users', userIds: [1, 2] } })
  t.same(json(sender), [`{"type":"message","message":${JSON.stringify(message)},"flags":["read"]}`])
  t.same(json(reader), [`{"type":"message","message":${JSON.stringify(message)},"flags":[]}`])
  t.same(json(presenceOnly), [])
  t.same(json(narrowed), [])
  t.same(json(matching), json(reader))
})

t.test('an event\'s own id is never serialized; a flags key already there keeps its place and takes the queue\'s flags', async (t) => {
  const r = registry()
  const q = queue(r, 1)
  const p = queue(r, 2)
  r.dispatch({ event: { type: 'custom', id: 77, n: 1 }, audience: { kind: 'all' } })
  r.dispatch({ event: { type: 'message', flags: ['x'], message: { sender_id: 2 }, id: 3 }, audience: { kind: 'users', userIds: [1, 2] } })
  t.same(json(q), ['{"type":"custom","n":1}', '{"type":"message","flags":[],"message":{"sender_id":2}}'])
  t.same(json(p), ['{"type":"custom","n":1}', '{"type":"message","flags":["read"],"message":{"sender_id":2}}'])
})

t.test('a queue over its cap is dropped during a dispatch and the others still receive the event', async (t) => {
  const r = registry()
  const full = queue(r, 1)
  const next = queue(r, 1)
  const last = queue(r, 2)
  for (let i = 0; i < CAPS.pendingPerQueue; i++) full.push('{"type":"filler"}')
  r.dispatch({ event: { type: 'stream' }, audience: { kind: 'users', userIds: [1, 2] } })
  t.equal(r.queues.has(full.id), false)
  t.same(json(next), ['{"type":"stream"}'])
  t.same(json(last), ['{"type":"stream"}'])
  r.dispatch({ event: { type: 'more' }, audience: { kind: 'all' } })
  t.same(json(next), ['{"type":"stream"}', '{"type":"more"}'])
  t.equal(r.size, 2)
})

t.test('beat answers with a heartbeat exactly the polls held for the heartbeat period, oldest first; a new hold waits its own period', async (t) => {
  const r = registry(1000)
  t.equal(r.beatMs, 100, 'a tenth of the period')
  t.equal(new QueueRegistry(90_000, 600).beatMs, 1000, 'at most a second')
  const [a, b, c] = [queue(r, 1), queue(r, 2), queue(r, 3)]
  const start = Date.now()
  const polls = [a, b].map(async (q) => await r.poll(q, undefined, false, () => {}))
  t.equal(r.beat(start + 999), 0, 'not yet due')
  t.equal(r.beat(start + 1000 + 50), 2, 'both due')
  const answered = await Promise.all(polls)
  t.same(answered.map((x) => x.events.map((e) => e.json)), [['{"type":"heartbeat"}'], ['{"type":"heartbeat"}']])

  // c is held later than a's new hold: only a is due at a's deadline.
  const late = Date.now()
  const aAgain = r.poll(a, 0, false, () => {})
  const cHeld = r.poll(c, undefined, false, () => {})
  t.equal(r.beat(late + 5000), 2)
  t.same((await aAgain).events.map((e) => e.id), [1], 'the acknowledged heartbeat is gone, the new one numbered after it')
  t.same((await cHeld).events.map((e) => e.json), ['{"type":"heartbeat"}'])
  t.equal(r.beat(late + 10_000), 0, 'nothing held any more')
})

t.test('a poll answered by an event, a newer GET or a disconnect is no longer due for a heartbeat', async (t) => {
  const r = registry(1000)
  const [a, b] = [queue(r, 1, ['stream']), queue(r, 2)]
  let release = (): void => {}
  const pa = r.poll(a, undefined, false, () => {})
  const pb = r.poll(b, undefined, false, (fn) => { release = fn })
  r.dispatch({ event: { type: 'stream', op: 'create' }, audience: { kind: 'users', userIds: [1] } })
  release()
  t.same((await pa).events.map((e) => e.json), ['{"type":"stream","op":"create"}'])
  t.same((await pb).events, [], 'released: answered with nothing')
  t.equal(r.beat(Date.now() + 60_000), 0)
  t.same(b.pending, [], 'no heartbeat was queued for the released poll')
})

t.test('serializeBatchEnvelope writes exactly what JSON.stringify of the whole envelope writes', async (t) => {
  const events: Queued[] = [
    { id: 7, json: '{"type":"message","message":{"id":3,"content":"<p>a \\"quoted\\" ☃</p>"},"flags":[]}' },
    { id: 8, json: '{"type":"heartbeat"}' }
  ]
  const reference = (data: Record<string, unknown>): string => JSON.stringify({
    result: 'success',
    msg: '',
    data: { ...data, events: events.map((e) => ({ id: e.id, ...JSON.parse(e.json) })) }
  })
  const queueId = 'q-"odd"\\id'
  // The verb table's usual answer: the template.
  t.equal(serializeBatchEnvelope({ result: 'success', msg: '', data: { events, queue_id: queueId } }), reference({ queue_id: queueId }))
  t.equal(serializeBatchEnvelope({ result: 'success', msg: '', data: { events: [], queue_id: 'q' } }),
    '{"result":"success","msg":"","data":{"queue_id":"q","events":[]}}')
  // Ignored parameters listed: the general path, same bytes.
  const ignored = ['zz']
  t.equal(serializeBatchEnvelope({ result: 'success', msg: '', data: { events, queue_id: queueId, ignored_parameters_unsupported: ignored } }),
    reference({ queue_id: queueId, ignored_parameters_unsupported: ignored }))
})
