// The per-process caches on a connection pool (PostgreSQL): a read on another connection while a
// change is uncommitted must not leave the old value cached, and a change made by another process
// is forgotten through the hooks the cross-process side calls.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import parley, { serverOptions } from '../app.js'
import { loadConfig } from '../plugins/app/config.js'
import { forgetSubscribers, subscribersChanged, subscribersCommitted } from '../plugins/app/stores/subscriber-cache.js'
import { body, build } from './helper.js'

const pg = process.env.PARLEY_TEST_DATABASE_URL !== undefined && process.env.PARLEY_TEST_DATABASE_URL !== ''
// On SQLite kysely runs every query on its one connection: a read during a transaction waits for
// its end, so the interleaving these tests make cannot happen there.
const skip = pg ? false : 'needs PARLEY_TEST_DATABASE_URL: on SQLite no read runs beside an open transaction'

t.test('subscribers read on another connection during an uncommitted change are forgotten once it commits', { skip }, async (t) => {
  const { app, owner, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const ownerUser = await app.users.get(owner.id)
  if (ownerUser === undefined) throw new Error('no owner')
  const { stream_id: id } = await app.streams.doCreateStream(ownerUser, { name: 'cached', description: '', invite_only: false })

  // What doSubscribe does, with a send's read on another connection in the middle.
  await app.db.transaction().execute(async (trx) => {
    await trx.insertInto('subscriptions').values({ user_id: alice.id, stream_id: id, date_subscribed: 0 }).execute()
    subscribersChanged(app.db, trx, id)
    t.same(await app.streams.subscriberIds(id), [owner.id], 'another connection sees the committed rows, and caches them')
  })
  t.same(await app.streams.subscriberIds(id), [owner.id], 'the stale list outlives the commit (why subscribersCommitted forgets again)')
  subscribersCommitted(app.db, id)
  t.same(await app.streams.subscriberIds(id), [owner.id, alice.id].sort((a, b) => a - b), 'forgotten after the commit')

  // The same through the store: a subscription is seen by the very next send.
  const bob = await createUser('bob@example.com')
  const res = await app.inject({ method: 'PUT', url: `/api/v1/users/me/subscriptions/${id}`, headers: { authorization: bob.auth } })
  t.equal(res.statusCode, 200)
  t.same(await app.streams.subscriberIds(id), [owner.id, alice.id, bob.id].sort((a, b) => a - b))
})

t.test('a change made by another process is forgotten through forgetSubscribers and forgetCached', { skip }, async (t) => {
  const { app: a, owner, createUser, env, dataDir } = await build(t)
  const b: FastifyInstance = Fastify(serverOptions(false))
  t.teardown(async () => { await b.close() })
  await b.register(fp(parley), { config: loadConfig({ PARLEY_DATA_DIR: dataDir, PARLEY_RATE_LIMIT: 'off', ...env }) })
  await b.ready()

  const alice = await createUser('alice@example.com')
  const me = async (app: FastifyInstance, auth: string) => await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: auth } })
  t.equal((await me(a, alice.auth)).statusCode, 200, 'process A caches Alice\'s credentials')
  await b.users.doRegenerateApiKey(alice.id)
  t.equal((await me(a, alice.auth)).statusCode, 200, 'A still accepts the old key from its cache')
  a.users.forgetCached()
  const refused = await me(a, alice.auth)
  t.equal(refused.statusCode, 401, 'after the hook, A asks the database')
  t.match(body(refused), { result: 'error', code: 'UNAUTHORIZED' })

  const ownerUser = await a.users.get(owner.id)
  if (ownerUser === undefined) throw new Error('no owner')
  const { stream_id: id } = await a.streams.doCreateStream(ownerUser, { name: 'shared', description: '', invite_only: false })
  t.same(await a.streams.subscriberIds(id), [owner.id], 'A caches the subscribers')
  const aliceNow = await b.users.get(alice.id)
  if (aliceNow === undefined) throw new Error('no alice')
  await b.streams.doSubscribe(aliceNow, id)
  t.same(await a.streams.subscriberIds(id), [owner.id], 'A does not know of B\'s change')
  forgetSubscribers(a.db, id)
  t.same(await a.streams.subscriberIds(id), [owner.id, alice.id].sort((x, y) => x - y), 'after the hook, A reads it')
})
