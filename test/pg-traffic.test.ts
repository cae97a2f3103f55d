// Concurrent API traffic on one stream: sends, read flags and subscription changes at once never
// answer a 5xx. On PostgreSQL (PARLEY_TEST_DATABASE_URL) the requests run on separate connections,
// taking row locks of unread, unread_floors and subscriptions in interleaved orders.
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { body, build, type TestUser } from './helper.js'

const USERS = 8
const ROUNDS = 6

t.test(`${USERS} users sending, marking read and unsubscribing at once: no 5xx, every send stored`, async (t) => {
  const { app, owner, createUser } = await build(t)
  const call = async (who: TestUser, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: Record<string, unknown>): Promise<LightMyRequestResponse> =>
    await app.inject({ method, url: `/api/v1${url}`, headers: { authorization: who.auth }, ...(payload === undefined ? {} : { payload }) })
  const users = [owner]
  for (let i = 0; i < USERS - 1; i++) users.push(await createUser(`u${i}@example.com`))
  const principals = users.map((u) => u.id)
  const ids: number[] = []
  for (const name of ['busy', 'side']) {
    const res = await call(owner, 'PUT', '/streams', { name, principals })
    t.equal(res.statusCode, 200)
    ids.push(body(res).data.stream_id as number)
  }
  const side = ids[1] as number

  const statuses = new Map<string, number[]>()
  const note = (what: string, res: LightMyRequestResponse): void => {
    const list = statuses.get(what) ?? []
    list.push(res.statusCode)
    statuses.set(what, list)
    if (res.statusCode >= 500) t.fail(`${what}: ${res.statusCode} ${res.body}`)
  }
  let sent = 0
  for (let round = 0; round < ROUNDS; round++) {
    // The newest messages each user may flag: the whole recent page, in both directions of id order.
    const recent = body(await call(owner, 'GET', '/messages?anchor=newest&num_before=40&num_after=0')).data.messages.map((m: { id: number }) => m.id) as number[]
    // The owner's two tabs, marking read and unread the same messages in opposite orders.
    const tabs = [
      (async () => { note('flags', await call(owner, 'POST', '/messages/flags', { messages: recent.slice().reverse(), op: 'add', flag: 'read' })) })(),
      (async () => { note('flags remove', await call(owner, 'POST', '/messages/flags', { messages: recent, op: 'remove', flag: 'read' })) })()
    ]
    await Promise.all([...tabs, ...users.flatMap((u, i) => [
      (async () => { note('send busy', await call(u, 'POST', '/messages', { type: 'stream', to: 'busy', topic: `t${i % 3}`, content: `r${round} from ${i}` })); sent++ })(),
      (async () => { note('send side', await call(u, 'POST', '/messages', { type: 'stream', to: 'side', topic: 'x', content: `r${round} side ${i}` })); sent++ })(),
      (async () => {
        note('flags', await call(u, 'POST', '/messages/flags', { messages: i % 2 === 0 ? recent : recent.slice().reverse(), op: 'add', flag: 'read' }))
      })(),
      (async () => {
        note('flags remove', await call(u, 'POST', '/messages/flags', { messages: recent.slice(0, 10), op: 'remove', flag: 'read' }))
      })(),
      (async () => {
        if (u === owner) return
        const res = round % 2 === 0 ? await call(u, 'DELETE', `/users/me/subscriptions/${side}`) : await call(u, 'PUT', `/users/me/subscriptions/${side}`)
        note('subscription', res)
      })()
    ])])
  }
  const statusesSeen = Object.fromEntries([...statuses].map(([k, v]) => [k, [...new Set(v)].sort()]))
  t.same(statusesSeen, {
    'send busy': [200],
    'send side': [200],
    flags: [200],
    'flags remove': [200],
    subscription: [200]
  }, 'every request answered 200')
  const all = body(await call(owner, 'GET', '/messages?anchor=newest&num_before=1000&num_after=0')).data.messages
  t.equal(all.length, sent, 'every acknowledged send is stored')
})
