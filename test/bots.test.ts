// Bots (SPEC §6): creation, their own API keys, listing by owner, validation.
import t from 'tap'
import { basic, body, build } from './helper.js'

const { app, owner, createUser } = await build(t)

t.test('POST /bots answers {user_id, email, api_key} and the bot can call the API with its key', async (t) => {
  const member = await createUser('bot-maker@example.com')
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/bots',
    headers: { authorization: member.auth },
    payload: { full_name: 'Helper Bot', short_name: 'helper' }
  })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  const data = body(res).data
  t.same(Object.keys(data).sort(), ['api_key', 'email', 'user_id'])
  t.type(data.user_id, 'number')
  t.equal(data.email, 'helper-bot@localhost')
  t.match(data.api_key, /^[A-Za-z0-9]{32}$/)

  const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: basic(data.email, data.api_key) } })
  t.equal(me.statusCode, 200)
  t.match(body(me).data.user, {
    user_id: data.user_id,
    email: 'helper-bot@localhost',
    full_name: 'Helper Bot',
    is_bot: true,
    is_active: true,
    role: 'member',
    bot_owner_id: member.id,
    bot_type: 'generic'
  })
})

t.test('POST /bots accepts a form body and the incoming_webhook type', async (t) => {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/bots',
    headers: { authorization: owner.auth, 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'full_name=Hook&short_name=hook_1&bot_type=incoming_webhook'
  })
  t.equal(res.statusCode, 200)
  t.match(await app.users.get(body(res).data.user_id), { is_bot: true, bot_type: 'incoming_webhook', bot_owner_id: owner.id })
})

t.test('GET /bots lists only the caller\'s own active bots, with bot_owner_id and is_bot', async (t) => {
  const alice = await createUser('bots-alice@example.com')
  const bob = await createUser('bots-bob@example.com')
  const make = async (auth: string, short: string): Promise<number> => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: auth }, payload: { full_name: short, short_name: short } })
    t.equal(res.statusCode, 200)
    return body(res).data.user_id
  }
  const a1 = await make(alice.auth, 'alice-one')
  const a2 = await make(alice.auth, 'alice-two')
  await make(bob.auth, 'bob-one')

  const res = await app.inject({ method: 'GET', url: '/api/v1/bots', headers: { authorization: alice.auth } })
  t.equal(res.statusCode, 200)
  const bots = body(res).data.bots
  t.same(bots.map((b: { user_id: number }) => b.user_id), [a1, a2])
  for (const b of bots) t.match(b, { is_bot: true, bot_owner_id: alice.id, is_active: true, email: /-bot@localhost$/ })
  // The owner sees each bot's key (an incoming-webhook bot's URL carries it, docs/webhooks.md), never its secret.
  t.ok(bots.every((b: { api_key?: string }) => /^[A-Za-z0-9]{32}$/.test(b.api_key ?? '')))
  t.notOk(bots.some((b: object) => 'webhook_secret' in b))

  // A deactivated bot leaves the list.
  const del = await app.inject({ method: 'DELETE', url: `/api/v1/users/${a2}`, headers: { authorization: owner.auth } })
  t.equal(del.statusCode, 200)
  const after = await app.inject({ method: 'GET', url: '/api/v1/bots', headers: { authorization: alice.auth } })
  t.same(body(after).data.bots.map((b: { user_id: number }) => b.user_id), [a1])
})

t.test('POST /bots with a bad short_name answers 400 REQUEST_VARIABLE_INVALID', async (t) => {
  for (const short of ['Bad Name', 'UPPER', '-leading', 'has@sign', 'x'.repeat(41), '']) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: owner.auth }, payload: { full_name: 'Bad', short_name: short } })
    t.equal(res.statusCode, 400, short)
    t.match(body(res), { result: 'error', code: 'REQUEST_VARIABLE_INVALID', var_name: 'short_name' }, short)
  }
  const res = await app.inject({ method: 'GET', url: '/api/v1/bots', headers: { authorization: owner.auth } })
  t.notOk(body(res).data.bots.some((b: { full_name: string }) => b.full_name === 'Bad'))
})

t.test('POST /bots with a bad bot_type answers 400 REQUEST_VARIABLE_INVALID', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: owner.auth }, payload: { full_name: 'Typo', short_name: 'typo', bot_type: 'outgoing' } })
  t.equal(res.statusCode, 400)
  t.match(body(res), { result: 'error', code: 'REQUEST_VARIABLE_INVALID', var_name: 'bot_type' })
  t.equal(await app.users.getRowByEmail('typo-bot@localhost'), undefined)
})

t.test('POST /bots without short_name answers 400 REQUEST_VARIABLE_MISSING', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: owner.auth }, payload: { full_name: 'Nameless' } })
  t.equal(res.statusCode, 400)
  t.same(body(res), { result: 'error', msg: "Missing 'short_name' argument", code: 'REQUEST_VARIABLE_MISSING', var_name: 'short_name' })
})

t.test('POST /bots with a short_name already taken answers 400 and creates nothing', async (t) => {
  const first = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: owner.auth }, payload: { full_name: 'Dup', short_name: 'dup' } })
  t.equal(first.statusCode, 200)
  const second = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: owner.auth }, payload: { full_name: 'Dup 2', short_name: 'dup' } })
  t.equal(second.statusCode, 400)
  t.match(body(second), { result: 'error', code: 'BAD_REQUEST' })
  t.equal((await app.users.getRowByEmail('dup-bot@localhost'))?.full_name, 'Dup')
})

t.test('a bot cannot fetch an API key with a password', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: owner.auth }, payload: { full_name: 'Nopw', short_name: 'nopw' } })
  t.equal(res.statusCode, 200)
  const fetch = await app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', payload: { username: 'nopw-bot@localhost', password: '' } })
  t.equal(fetch.statusCode, 401)
  t.match(body(fetch), { code: 'UNAUTHORIZED', msg: 'Your username or password is incorrect' })
})

t.test('a bot or a guest creating a bot gets 403 UNAUTHORIZED_PRINCIPAL and nothing is made', async (t) => {
  const made = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: owner.auth }, payload: { full_name: 'Parent', short_name: 'parent' } })
  const parent = body(made).data
  const byBot = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: basic(parent.email, parent.api_key) }, payload: { full_name: 'Child', short_name: 'child' } })
  t.equal(byBot.statusCode, 403)
  t.same(body(byBot), { result: 'error', msg: 'Bots cannot create bots', code: 'UNAUTHORIZED_PRINCIPAL' })
  t.equal(await app.users.getRowByEmail('child-bot@localhost'), undefined)

  const guest = await createUser('bots-guest@example.com', 'guest')
  const byGuest = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: guest.auth }, payload: { full_name: 'Guest Bot', short_name: 'guestbot' } })
  t.equal(byGuest.statusCode, 403)
  t.same(body(byGuest), { result: 'error', msg: 'Must be an organization member', code: 'UNAUTHORIZED_PRINCIPAL' })
  t.equal(await app.users.getRowByEmail('guestbot-bot@localhost'), undefined)
})
