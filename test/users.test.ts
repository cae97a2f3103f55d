// Users (SPEC §6, §4): listing, creation, edits, deactivation, API keys, passwords, fetch_api_key.
import t from 'tap'
import { UserStore } from '../plugins/app/stores/users.js'
import { basic, body, build } from './helper.js'

// One app for the whole file; each test makes the users it changes.
const { app, owner, createUser } = await build(t)

async function countUsers (): Promise<number> {
  const res = await app.inject({ method: 'GET', url: '/api/v1/users?include_deactivated=true', headers: { authorization: owner.auth } })
  return body(res).data.members.length
}

function multipart (fields: Record<string, string>): { payload: string, headers: Record<string, string> } {
  const boundary = '----parley-test-boundary'
  const payload = Object.entries(fields)
    .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') + `--${boundary}--\r\n`
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

t.test('GET /users lists active users, and deactivated ones with include_deactivated', async (t) => {
  const active = await createUser('list-active@example.com')
  const gone = await createUser('list-gone@example.com')
  await app.users.doDeactivateUser((await app.users.get(owner.id))!, gone.id)

  const res = await app.inject({ method: 'GET', url: '/api/v1/users', headers: { authorization: active.auth } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  const ids = body(res).data.members.map((u: { user_id: number }) => u.user_id)
  t.ok(ids.includes(active.id))
  t.notOk(ids.includes(gone.id))
  t.match(body(res).data.members.find((u: { user_id: number }) => u.user_id === active.id), {
    user_id: active.id,
    email: 'list-active@example.com',
    full_name: 'list-active',
    role: 'member',
    is_admin: false,
    is_bot: false,
    is_active: true,
    date_joined: Number,
    avatar_url: String
  })

  const all = await app.inject({ method: 'GET', url: '/api/v1/users?include_deactivated=true', headers: { authorization: active.auth } })
  t.equal(all.statusCode, 200)
  t.match(body(all).data.members.find((u: { user_id: number }) => u.user_id === gone.id), { is_active: false })
})

t.test('PUT /users creates a user and answers {user_id}', async (t) => {
  const res = await app.inject({
    method: 'PUT',
    url: '/api/v1/users',
    headers: { authorization: owner.auth },
    payload: { email: 'put-json@example.com', password: 'password123', full_name: 'Put Json', role: 'admin' }
  })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  const { user_id: id } = body(res).data
  t.same(body(res), { result: 'success', msg: '', data: { user_id: id } })
  const got = await app.inject({ method: 'GET', url: `/api/v1/users/${String(id)}`, headers: { authorization: owner.auth } })
  t.match(body(got).data.user, { user_id: id, email: 'put-json@example.com', full_name: 'Put Json', role: 'admin', is_admin: true })
})

t.test('PUT /users twice, or with the email in other letter case, answers 409 ALREADY_EXISTS and changes nothing', async (t) => {
  const payload = { email: 'twice@example.com', password: 'password123', full_name: 'Twice' }
  const first = await app.inject({ method: 'PUT', url: '/api/v1/users', headers: { authorization: owner.auth }, payload })
  t.equal(first.statusCode, 200)
  const before = await countUsers()
  for (const email of ['twice@example.com', 'TWICE@Example.com']) {
    const res = await app.inject({ method: 'PUT', url: '/api/v1/users', headers: { authorization: owner.auth }, payload: { ...payload, email, full_name: 'Changed' } })
    t.equal(res.statusCode, 409, email)
    t.match(body(res), { result: 'error', code: 'ALREADY_EXISTS', msg: String }, email)
  }
  t.equal(await countUsers(), before)
  const row = await app.users.getRowByEmail('twice@example.com')
  t.equal(row?.full_name, 'Twice')
  t.equal(row?.email, 'twice@example.com')
})

t.test('PUT /users accepts a form-encoded body', async (t) => {
  const res = await app.inject({
    method: 'PUT',
    url: '/api/v1/users',
    headers: { authorization: owner.auth, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ email: 'put-form@example.com', password: 'password123', full_name: 'Put Form' }).toString()
  })
  t.equal(res.statusCode, 200)
  t.type(body(res).data.user_id, 'number')
  t.equal((await app.users.getRowByEmail('put-form@example.com'))?.full_name, 'Put Form')
})

t.test('PUT /users accepts a multipart body', async (t) => {
  const { payload, headers } = multipart({ email: 'put-multi@example.com', password: 'password123', full_name: 'Put Multi', role: 'guest' })
  const res = await app.inject({ method: 'PUT', url: '/api/v1/users', headers: { authorization: owner.auth, ...headers }, payload })
  t.equal(res.statusCode, 200)
  t.type(body(res).data.user_id, 'number')
  t.match(await app.users.getRowByEmail('put-multi@example.com'), { full_name: 'Put Multi', role: 'guest' })
})

t.test('PUT /users refuses a bad email and a short password by name', async (t) => {
  const bad = await app.inject({ method: 'PUT', url: '/api/v1/users', headers: { authorization: owner.auth }, payload: { email: 'not-an-email', password: 'password123', full_name: 'X' } })
  t.equal(bad.statusCode, 400)
  t.match(body(bad), { code: 'REQUEST_VARIABLE_INVALID', var_name: 'email' })
  const short = await app.inject({ method: 'PUT', url: '/api/v1/users', headers: { authorization: owner.auth }, payload: { email: 'short-pw@example.com', password: 'x', full_name: 'X' } })
  t.equal(short.statusCode, 400)
  t.match(body(short), { code: 'REQUEST_VARIABLE_INVALID', var_name: 'password' })
  const missing = await app.inject({ method: 'PUT', url: '/api/v1/users', headers: { authorization: owner.auth }, payload: { email: 'missing@example.com', password: 'password123' } })
  t.equal(missing.statusCode, 400)
  t.same(body(missing), { result: 'error', msg: "Missing 'full_name' argument", code: 'REQUEST_VARIABLE_MISSING', var_name: 'full_name' })
})

t.test('GET /users/me answers the caller', async (t) => {
  const me = await createUser('me@example.com', 'guest')
  const res = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: me.auth } })
  t.equal(res.statusCode, 200)
  t.match(body(res), { result: 'success', msg: '', data: { user: { user_id: me.id, email: 'me@example.com', role: 'guest', is_admin: false, is_bot: false } } })
  t.notOk('password_hash' in body(res).data.user)
  t.notOk('api_key' in body(res).data.user)
})

t.test('GET /users/{id} answers the user, and 404 for an unknown id', async (t) => {
  const u = await createUser('byid@example.com')
  const res = await app.inject({ method: 'GET', url: `/api/v1/users/${u.id}`, headers: { authorization: owner.auth } })
  t.equal(res.statusCode, 200)
  t.match(body(res).data.user, { user_id: u.id, email: 'byid@example.com' })
  const missing = await app.inject({ method: 'GET', url: '/api/v1/users/999999', headers: { authorization: owner.auth } })
  t.equal(missing.statusCode, 404)
  t.equal(missing.headers['content-type'], 'application/json; charset=utf-8')
  t.match(body(missing), { result: 'error', code: 'NOT_FOUND' })
  const notInt = await app.inject({ method: 'GET', url: '/api/v1/users/abc', headers: { authorization: owner.auth } })
  t.equal(notInt.statusCode, 400)
  t.match(body(notInt), { code: 'REQUEST_VARIABLE_INVALID', var_name: 'user_id' })
})

t.test('PATCH /users/{id} is idempotent: the same edit twice answers 200 twice', async (t) => {
  const u = await createUser('patch-twice@example.com')
  for (let i = 0; i < 2; i++) {
    const res = await app.inject({ method: 'PATCH', url: `/api/v1/users/${u.id}`, headers: { authorization: owner.auth }, payload: { full_name: 'Same Name', role: 'admin' } })
    t.equal(res.statusCode, 200)
    t.same(body(res), { result: 'success', msg: '', data: {} })
  }
  t.match(await app.users.get(u.id), { full_name: 'Same Name', role: 'admin' })
  const missing = await app.inject({ method: 'PATCH', url: '/api/v1/users/999999', headers: { authorization: owner.auth }, payload: { full_name: 'X' } })
  t.equal(missing.statusCode, 404)
  t.match(body(missing), { code: 'NOT_FOUND' })
})

t.test('DELETE /users/{id} answers 200, then 409 NO_CHANGE; an unknown id is 404', async (t) => {
  const u = await createUser('delete-twice@example.com')
  const first = await app.inject({ method: 'DELETE', url: `/api/v1/users/${u.id}`, headers: { authorization: owner.auth } })
  t.equal(first.statusCode, 200)
  t.same(body(first), { result: 'success', msg: '', data: {} })
  t.equal((await app.users.get(u.id))?.is_active, false)
  const second = await app.inject({ method: 'DELETE', url: `/api/v1/users/${u.id}`, headers: { authorization: owner.auth } })
  t.equal(second.statusCode, 409)
  t.match(body(second), { result: 'error', code: 'NO_CHANGE' })
  const missing = await app.inject({ method: 'DELETE', url: '/api/v1/users/999999', headers: { authorization: owner.auth } })
  t.equal(missing.statusCode, 404)
  t.match(body(missing), { code: 'NOT_FOUND' })
})

t.test('the last owner can be neither deactivated nor demoted', async (t) => {
  const del = await app.inject({ method: 'DELETE', url: `/api/v1/users/${owner.id}`, headers: { authorization: owner.auth } })
  t.equal(del.statusCode, 400)
  t.match(body(del), { result: 'error', code: 'BAD_REQUEST', msg: /only organization owner/ })
  const demote = await app.inject({ method: 'PATCH', url: `/api/v1/users/${owner.id}`, headers: { authorization: owner.auth }, payload: { role: 'admin' } })
  t.equal(demote.statusCode, 400)
  t.match(body(demote), { result: 'error', code: 'BAD_REQUEST', msg: /only organization owner/ })
  t.match(await app.users.get(owner.id), { role: 'owner', is_active: true })
  const still = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: owner.auth } })
  t.equal(still.statusCode, 200)
})

t.test("deactivating a user deactivates the user's bots", async (t) => {
  const u = await createUser('bot-owner-gone@example.com')
  const made = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: u.auth }, payload: { full_name: 'Doomed', short_name: 'doomed' } })
  t.equal(made.statusCode, 200)
  const bot = body(made).data
  const before = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: basic(bot.email, bot.api_key) } })
  t.equal(before.statusCode, 200)

  const del = await app.inject({ method: 'DELETE', url: `/api/v1/users/${u.id}`, headers: { authorization: owner.auth } })
  t.equal(del.statusCode, 200)
  t.match(await app.users.get(bot.user_id), { is_active: false, is_bot: true })
  const after = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: basic(bot.email, bot.api_key) } })
  t.equal(after.statusCode, 401)
  t.match(body(after), { code: 'USER_DEACTIVATED' })
})

t.test('POST /users/me/api_key/regenerate: the new key works at once, the old one fails at once', async (t) => {
  const u = await createUser('regen@example.com')
  // Warm the credential cache and the remembered Basic decode of the old header first.
  const warm = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: u.auth } })
  t.equal(warm.statusCode, 200)
  const res = await app.inject({ method: 'POST', url: '/api/v1/users/me/api_key/regenerate', headers: { authorization: u.auth } })
  t.equal(res.statusCode, 200)
  const key = body(res).data.api_key
  t.match(key, /^[A-Za-z0-9]{32}$/)
  t.not(key, u.apiKey)
  const fresh = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: basic(u.email, key) } })
  t.equal(fresh.statusCode, 200)
  t.equal(body(fresh).data.user.user_id, u.id)
  const old = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: u.auth } })
  t.equal(old.statusCode, 401)
  t.equal(old.headers['www-authenticate'], 'Basic realm="parley"')
  t.match(body(old), { code: 'UNAUTHORIZED' })
})

t.test('a matched credential skips the comparison only while its look-up is unchanged', async (t) => {
  const u = await createUser('memo@example.com')
  await app.users.authenticate(u.email, u.apiKey)
  const memo: { verified?: object } = {}
  t.match(app.users.authenticateCached(u.email, u.apiKey, 'Basic', undefined, memo), { user: { user_id: u.id } })
  t.type(memo.verified, 'object', 'remembered after the key matched')
  // Another credential (a wrong key) has its own memo and is compared.
  const wrong: { verified?: object } = {}
  t.throws(() => app.users.authenticateCached(u.email, 'x'.repeat(32), 'Basic', undefined, wrong), { code: 'UNAUTHORIZED' })
  t.equal(wrong.verified, undefined)
  // A deactivation clears the look-ups: the matched credential is checked again, and refused.
  const actor = await app.users.get(owner.id)
  if (actor === undefined) throw new Error('the owner is missing')
  await app.users.doDeactivateUser(actor, u.id)
  await t.rejects(app.users.authenticate(u.email, u.apiKey), { code: 'USER_DEACTIVATED' })
  t.throws(() => app.users.authenticateCached(u.email, u.apiKey, 'Basic', undefined, memo), { code: 'USER_DEACTIVATED' })
})

t.test('a key read before a regeneration committed is not cached past it', async (t) => {
  const u = await createUser('regen-race@example.com')
  // A store whose look-up is held open while the key changes underneath it, as a
  // slow query on a pooled database would be.
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  class SlowStore extends UserStore {
    held = false
    protected override async getRowByEmailKey (key: string): ReturnType<UserStore['getRowByEmail']> {
      const row = await super.getRowByEmailKey(key)
      if (!this.held) { this.held = true; await gate }
      return row
    }
  }
  const store = new SlowStore(app.db, app.bus, 'localhost')
  const during = store.authenticate(u.email, u.apiKey)
  await store.doRegenerateApiKey(u.id)
  release()
  await during
  t.ok(store.held, 'the look-up was held open across the regeneration')
  await t.rejects(store.authenticate(u.email, u.apiKey), { code: 'UNAUTHORIZED' })
})

t.test('password hashes are scrypt and salted per user', async (t) => {
  const a = await createUser('hash-a@example.com')
  const b = await createUser('hash-b@example.com')
  const rows = await app.db.selectFrom('users').select(['id', 'password_hash']).where('id', 'in', [a.id, b.id]).execute()
  t.equal(rows.length, 2)
  const [ha, hb] = rows.map((r) => r.password_hash ?? '')
  t.match(ha, /^scrypt\$/)
  t.match(hb, /^scrypt\$/)
  t.not(ha, hb)
  t.notOk(ha?.includes('password123'))
})

t.test('POST /fetch_api_key answers {api_key, email, user_id} for the right password', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', payload: { username: 'owner@example.com', password: 'owner-password' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.same(body(res), { result: 'success', msg: '', data: { api_key: owner.apiKey, email: owner.email, user_id: owner.id } })
  const form = await app.inject({
    method: 'POST',
    url: '/api/v1/fetch_api_key',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'username=OWNER%40example.com&password=owner-password'
  })
  t.equal(form.statusCode, 200)
  t.equal(body(form).data.user_id, owner.id)
})

t.test('POST /fetch_api_key answers 401 alike for a wrong password and an unknown user', async (t) => {
  for (const payload of [
    { username: 'owner@example.com', password: 'wrong-password' },
    { username: 'nobody@example.com', password: 'owner-password' }
  ]) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', payload })
    t.equal(res.statusCode, 401, payload.username)
    t.same(body(res), { result: 'error', msg: 'Your username or password is incorrect', code: 'UNAUTHORIZED' }, payload.username)
  }
})

t.test('POST /fetch_api_key refuses a deactivated user with 401 USER_DEACTIVATED', async (t) => {
  const u = await createUser('fetch-gone@example.com')
  await app.users.doDeactivateUser((await app.users.get(owner.id))!, u.id)
  const res = await app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', payload: { username: u.email, password: 'password123' } })
  t.equal(res.statusCode, 401)
  t.match(body(res), { result: 'error', code: 'USER_DEACTIVATED' })
})
