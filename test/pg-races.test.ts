// Duplicate creations racing each other end in one row and the route's usual refusal, never a 500:
// on PostgreSQL (PARLEY_TEST_DATABASE_URL) the requests run on separate connections at once.
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { body, build, type TestUser } from './helper.js'

const N = 10

async function all (app: FastifyInstance, who: TestUser, method: 'PUT' | 'POST', url: string, payload: Record<string, unknown>): Promise<LightMyRequestResponse[]> {
  return await Promise.all(Array.from({ length: N }, async () =>
    await app.inject({ method, url: `/api/v1${url}`, headers: { authorization: who.auth }, payload })))
}

/** Exactly one success; every other answer is the same refusal, with this status and code. */
function oneWins (t: Pick<typeof import('tap').default, 'same' | 'match' | 'equal'>, answers: LightMyRequestResponse[], status: number, code: string): void {
  const statuses = answers.map((r) => r.statusCode).sort()
  t.same(statuses, [200, ...Array<number>(N - 1).fill(status)].sort(), 'one 200, the rest refused')
  for (const r of answers.filter((r) => r.statusCode !== 200)) {
    t.match(body(r), { result: 'error', code })
    t.equal(r.headers['content-type'], 'application/json; charset=utf-8')
  }
}

t.test(`${N} PUT /streams of one name at once: one 200, ${N - 1} 409 ALREADY_EXISTS, one stream`, async (t) => {
  const { app, owner } = await build(t)
  oneWins(t, await all(app, owner, 'PUT', '/streams', { name: 'Race' }), 409, 'ALREADY_EXISTS')
  const streams = body(await app.inject({ method: 'GET', url: '/api/v1/streams', headers: { authorization: owner.auth } })).data.streams
  t.same(streams.map((s: { name: string }) => s.name), ['Race'])
  const subs = body(await app.inject({ method: 'GET', url: '/api/v1/users/me/subscriptions', headers: { authorization: owner.auth } })).data.subscriptions
  t.equal(subs.length, 1)
})

t.test(`${N} PUT /users of one email at once: one 200, ${N - 1} 409 ALREADY_EXISTS, one user`, async (t) => {
  const { app, owner } = await build(t)
  const answers = await all(app, owner, 'PUT', '/users', { email: 'twin@example.com', password: 'password123', full_name: 'Twin' })
  oneWins(t, answers, 409, 'ALREADY_EXISTS')
  const users = body(await app.inject({ method: 'GET', url: '/api/v1/users', headers: { authorization: owner.auth } })).data.members
  t.equal(users.filter((u: { email: string }) => u.email === 'twin@example.com').length, 1)
})

t.test(`${N} PUT /users/me/subscriptions/{id} at once: one 200, ${N - 1} 409 ALREADY_EXISTS, one subscription`, async (t) => {
  const { app, owner, createUser } = await build(t)
  const alice = await createUser('alice@example.com')
  const created = await app.inject({ method: 'PUT', url: '/api/v1/streams', headers: { authorization: owner.auth }, payload: { name: 'Open' } })
  const id = body(created).data.stream_id as number
  oneWins(t, await all(app, alice, 'PUT', `/users/me/subscriptions/${id}`, {}), 409, 'ALREADY_EXISTS')
  t.same(await app.streams.subscriberIds(id), [owner.id, alice.id].sort((a, b) => a - b))
})

t.test(`${N} POST /bots of one short name at once: one 200, ${N - 1} 400 BAD_REQUEST, one bot`, async (t) => {
  const { app, owner } = await build(t)
  oneWins(t, await all(app, owner, 'POST', '/bots', { full_name: 'Echo', short_name: 'echo' }), 400, 'BAD_REQUEST')
  const bots = body(await app.inject({ method: 'GET', url: '/api/v1/bots', headers: { authorization: owner.auth } })).data.bots
  t.equal(bots.length, 1)
})

t.test(`${N} first direct messages between the same two people at once: all sent, one conversation`, async (t) => {
  const { app, owner, createUser } = await build(t)
  const bob = await createUser('bob@example.com')
  const answers = await all(app, owner, 'POST', '/messages', { type: 'direct', to: JSON.stringify([bob.id]), content: 'hi' })
  t.same(answers.map((r) => r.statusCode), Array<number>(N).fill(200))
  const groups = await app.db.selectFrom('dm_groups').select('id').execute()
  t.equal(groups.length, 1)
  const page = await app.inject({ method: 'GET', url: `/api/v1/messages?anchor=newest&num_before=20&num_after=0&narrow=${encodeURIComponent(JSON.stringify([{ operator: 'dm', operand: [owner.id] }]))}`, headers: { authorization: bob.auth } })
  t.equal(body(page).data.messages.length, N)
})
