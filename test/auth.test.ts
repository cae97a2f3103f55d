// Authentication (SPEC §4): HTTP Basic on /api/v1, session cookie + CSRF on /json, roles.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import parley, { serverOptions } from '../app.js'
import { loadConfig } from '../plugins/app/config.js'
import { basic, body, build, testDatabase } from './helper.js'

// One app for the whole file: every test below uses its own users, so they do not interfere.
const { app, owner, createUser } = await build(t)

const BASIC = 'Basic realm="parley"'
const SESSION = 'Session realm="parley"'

function cookie (token: string): string { return `parley_session=${token}` }

t.test('API keys are 32 characters of [A-Za-z0-9]', async (t) => {
  t.match(owner.apiKey, /^[A-Za-z0-9]{32}$/)
  const other = await createUser('keyshape@example.com')
  t.match(other.apiKey, /^[A-Za-z0-9]{32}$/)
  t.not(other.apiKey, owner.apiKey)
})

t.test('/api/v1 refuses every bad credential with 401 UNAUTHORIZED and the Basic challenge', async (t) => {
  const member = await createUser('basic-other@example.com')
  const b64 = (s: string): string => Buffer.from(s).toString('base64')
  const cases: Array<[string, string | undefined]> = [
    ['missing header', undefined],
    ['malformed header', 'Basic !!!not-base64!!!'],
    ['no colon in credentials', `Basic ${b64('owner@example.com')}`],
    ['empty scheme value', 'Basic '],
    ['Bearer token', 'Bearer x'],
    ['unknown email', basic('nobody@example.com', owner.apiKey)],
    ['wrong key', basic(owner.email, 'A'.repeat(32))],
    ['key of a different length', basic(owner.email, 'short')],
    ["key of another user's email", basic(member.email, owner.apiKey)]
  ]
  // Twice each: the second time a well-formed header is already decoded (the
  // plugin's parse is remembered per header), and must be refused all the same.
  for (const round of ['first', 'again']) {
    for (const [what, authorization] of cases) {
      const name = `${what} (${round})`
      const headers: Record<string, string> = {}
      if (authorization !== undefined) headers.authorization = authorization
      const res = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers })
      t.equal(res.statusCode, 401, name)
      t.equal(res.headers['www-authenticate'], BASIC, name)
      t.equal(res.headers['content-type'], 'application/json; charset=utf-8', name)
      t.match(body(res), { result: 'error', code: 'UNAUTHORIZED', msg: String }, name)
    }
  }
})

t.test('/api/v1 matches the email case-insensitively', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: basic('OWNER@Example.COM', owner.apiKey) } })
  t.equal(res.statusCode, 200)
  t.equal(body(res).data.user.user_id, owner.id)
})

t.test('/api/v1 answers a deactivated user with 401 USER_DEACTIVATED', async (t) => {
  const gone = await createUser('basic-gone@example.com')
  // Authenticate once first, so a cached look-up must not outlive the deactivation.
  const before = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: gone.auth } })
  t.equal(before.statusCode, 200)
  const del = await app.inject({ method: 'DELETE', url: `/api/v1/users/${gone.id}`, headers: { authorization: owner.auth } })
  t.equal(del.statusCode, 200)
  const res = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: gone.auth } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], BASIC)
  t.match(body(res), { result: 'error', code: 'USER_DEACTIVATED' })
})

t.test('/json GET works with the session cookie and no CSRF token', async (t) => {
  const { token } = await app.sessions.create(owner.id)
  const res = await app.inject({ method: 'GET', url: '/json/users/me', headers: { cookie: cookie(token) } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.match(body(res), { result: 'success', data: { user: { user_id: owner.id } } })
})

t.test('/json POST, PUT, PATCH and DELETE without X-CSRF-Token answer 403 CSRF_FAILED', async (t) => {
  const target = await createUser('csrf-target@example.com')
  const { token } = await app.sessions.create(owner.id)
  const calls: Array<{ method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object }> = [
    { method: 'POST', url: '/json/users/me/api_key/regenerate' },
    { method: 'PUT', url: '/json/users', payload: { email: 'csrf-new@example.com', password: 'password123', full_name: 'New' } },
    { method: 'PATCH', url: `/json/users/${target.id}`, payload: { full_name: 'Changed' } },
    { method: 'DELETE', url: `/json/users/${target.id}` }
  ]
  for (const c of calls) {
    const res = await app.inject({ method: c.method, url: c.url, headers: { cookie: cookie(token) }, ...(c.payload === undefined ? {} : { payload: c.payload }) })
    t.equal(res.statusCode, 403, c.method)
    t.match(body(res), { result: 'error', code: 'CSRF_FAILED', reason: 'CSRF token missing.' }, c.method)
  }
  // Nothing above took effect.
  const check = await app.inject({ method: 'GET', url: `/api/v1/users/${target.id}`, headers: { authorization: owner.auth } })
  t.match(body(check).data.user, { full_name: 'csrf-target', is_active: true })
  t.equal(await app.users.getRowByEmail('csrf-new@example.com'), undefined)
  const key = await app.users.getRowByEmail(owner.email)
  t.equal(key?.api_key, owner.apiKey)
})

t.test('/json with a wrong X-CSRF-Token answers 403, with the right one succeeds', async (t) => {
  const member = await createUser('csrf-self@example.com')
  const { token, csrfToken } = await app.sessions.create(member.id)
  const other = await app.sessions.create(member.id)
  for (const wrong of ['nope', other.csrfToken, csrfToken.toUpperCase() === csrfToken ? csrfToken.toLowerCase() : csrfToken.toUpperCase()]) {
    const res = await app.inject({ method: 'PATCH', url: `/json/users/${member.id}`, headers: { cookie: cookie(token), 'x-csrf-token': wrong }, payload: { full_name: 'Wrong' } })
    t.equal(res.statusCode, 403)
    t.match(body(res), { code: 'CSRF_FAILED', reason: 'CSRF token incorrect.' })
  }
  const ok = await app.inject({ method: 'PATCH', url: `/json/users/${member.id}`, headers: { cookie: cookie(token), 'x-csrf-token': csrfToken }, payload: { full_name: 'Right' } })
  t.equal(ok.statusCode, 200)
  t.same(body(ok), { result: 'success', msg: '', data: {} })
  t.equal((await app.users.get(member.id))?.full_name, 'Right')
})

t.test('/json without a session answers 401 UNAUTHORIZED with the Session challenge', async (t) => {
  for (const headers of [{}, { accept: '*/*' }, { accept: 'application/json' }, { cookie: cookie('bogus') }]) {
    const res = await app.inject({ method: 'GET', url: '/json/users/me', headers })
    t.equal(res.statusCode, 401, JSON.stringify(headers))
    t.equal(res.headers['www-authenticate'], SESSION)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.match(body(res), { result: 'error', code: 'UNAUTHORIZED' })
  }
})

t.test('/json without a session redirects a browser to /login?next=<path>', async (t) => {
  const res = await app.inject({
    method: 'GET',
    url: '/json/users/me?x=1',
    headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }
  })
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, '/login?next=%2Fjson%2Fusers%2Fme%3Fx%3D1')
})

t.test('a destroyed session no longer works', async (t) => {
  const { token } = await app.sessions.create(owner.id)
  const before = await app.inject({ method: 'GET', url: '/json/users/me', headers: { cookie: cookie(token) } })
  t.equal(before.statusCode, 200)
  await app.sessions.destroy(token)
  const res = await app.inject({ method: 'GET', url: '/json/users/me', headers: { cookie: cookie(token) } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], SESSION)
  t.match(body(res), { code: 'UNAUTHORIZED' })
})

t.test('a deactivated user loses their sessions', async (t) => {
  const member = await createUser('session-gone@example.com')
  const { token } = await app.sessions.create(member.id)
  const del = await app.inject({ method: 'DELETE', url: `/api/v1/users/${member.id}`, headers: { authorization: owner.auth } })
  t.equal(del.statusCode, 200)
  const res = await app.inject({ method: 'GET', url: '/json/users/me', headers: { cookie: cookie(token) } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], SESSION)
  t.match(body(res), { result: 'error', code: 'UNAUTHORIZED' })
})

/** Builds the app on a given data dir, so a second build sees what the first one stored. */
async function buildOn (dataDir: string, database: Record<string, string>): Promise<FastifyInstance> {
  const config = loadConfig({ PARLEY_DATA_DIR: dataDir, PARLEY_RATE_LIMIT: 'off', ...database })
  const a = Fastify(serverOptions(false))
  await a.register(fp(parley), { config })
  await a.ready()
  return a
}

t.test('sessions survive an app restart', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-test-'))
  t.teardown(() => { rmSync(dataDir, { recursive: true, force: true }) })
  const database = await testDatabase(t)
  const first = await buildOn(dataDir, database)
  let session: { token: string, csrfToken: string }
  let ownerId: number
  try {
    await first.users.ensureOwner('restart@example.com', 'owner-password')
    const row = await first.users.getRowByEmail('restart@example.com')
    ownerId = row?.id ?? 0
    session = await first.sessions.create(ownerId)
  } finally {
    await first.close()
  }
  const second = await buildOn(dataDir, database)
  t.teardown(async () => { await second.close() })
  const res = await second.inject({ method: 'GET', url: '/json/users/me', headers: { cookie: cookie(session.token) } })
  t.equal(res.statusCode, 200)
  t.match(body(res), { data: { user: { user_id: ownerId, email: 'restart@example.com' } } })
  const post = await second.inject({
    method: 'POST',
    url: '/json/users/me/api_key/regenerate',
    headers: { cookie: cookie(session.token), 'x-csrf-token': session.csrfToken }
  })
  t.equal(post.statusCode, 200)
  t.match(body(post).data.api_key, /^[A-Za-z0-9]{32}$/)
})

t.test('a member calling admin-only verbs gets 403 UNAUTHORIZED_PRINCIPAL', async (t) => {
  const member = await createUser('role-member@example.com')
  const victim = await createUser('role-victim@example.com')
  const put = await app.inject({
    method: 'PUT',
    url: '/api/v1/users',
    headers: { authorization: member.auth },
    payload: { email: 'role-made@example.com', password: 'password123', full_name: 'Made' }
  })
  t.equal(put.statusCode, 403)
  t.same(body(put), { result: 'error', msg: 'Must be an organization administrator', code: 'UNAUTHORIZED_PRINCIPAL' })
  t.equal(await app.users.getRowByEmail('role-made@example.com'), undefined)

  const del = await app.inject({ method: 'DELETE', url: `/api/v1/users/${victim.id}`, headers: { authorization: member.auth } })
  t.equal(del.statusCode, 403)
  t.same(body(del), { result: 'error', msg: 'Must be an organization administrator', code: 'UNAUTHORIZED_PRINCIPAL' })
  t.equal((await app.users.get(victim.id))?.is_active, true)
})

t.test('an admin may call admin-only verbs', async (t) => {
  const admin = await createUser('role-admin@example.com', 'admin')
  const put = await app.inject({
    method: 'PUT',
    url: '/api/v1/users',
    headers: { authorization: admin.auth },
    payload: { email: 'role-by-admin@example.com', password: 'password123', full_name: 'By Admin' }
  })
  t.equal(put.statusCode, 200)
  const id = body(put).data.user_id
  t.type(id, 'number')
  const del = await app.inject({ method: 'DELETE', url: `/api/v1/users/${String(id)}`, headers: { authorization: admin.auth } })
  t.equal(del.statusCode, 200)
  t.same(body(del), { result: 'success', msg: '', data: {} })
})

t.test('a member may PATCH their own full_name, but not their role nor another user', async (t) => {
  const member = await createUser('role-self@example.com')
  const other = await createUser('role-other@example.com')
  const own = await app.inject({ method: 'PATCH', url: `/api/v1/users/${member.id}`, headers: { authorization: member.auth }, payload: { full_name: 'Me Myself' } })
  t.equal(own.statusCode, 200)
  t.equal((await app.users.get(member.id))?.full_name, 'Me Myself')

  const role = await app.inject({ method: 'PATCH', url: `/api/v1/users/${member.id}`, headers: { authorization: member.auth }, payload: { role: 'admin' } })
  t.equal(role.statusCode, 403)
  t.match(body(role), { code: 'UNAUTHORIZED_PRINCIPAL', msg: 'Must be an organization administrator' })
  t.equal((await app.users.get(member.id))?.role, 'member')

  const theirs = await app.inject({ method: 'PATCH', url: `/api/v1/users/${other.id}`, headers: { authorization: member.auth }, payload: { full_name: 'Hacked' } })
  t.equal(theirs.statusCode, 403)
  t.match(body(theirs), { code: 'UNAUTHORIZED_PRINCIPAL' })
  t.equal((await app.users.get(other.id))?.full_name, 'role-other')
})

t.test('an admin may not make an owner or change an owner', async (t) => {
  const admin = await createUser('role-admin2@example.com', 'admin')
  const member = await createUser('role-promote@example.com')
  const promote = await app.inject({ method: 'PATCH', url: `/api/v1/users/${member.id}`, headers: { authorization: admin.auth }, payload: { role: 'owner' } })
  t.equal(promote.statusCode, 403)
  t.match(body(promote), { code: 'UNAUTHORIZED_PRINCIPAL' })
  const demote = await app.inject({ method: 'PATCH', url: `/api/v1/users/${owner.id}`, headers: { authorization: admin.auth }, payload: { role: 'member' } })
  t.equal(demote.statusCode, 403)
  t.equal((await app.users.get(owner.id))?.role, 'owner')
  const makeAdmin = await app.inject({ method: 'PATCH', url: `/api/v1/users/${member.id}`, headers: { authorization: admin.auth }, payload: { role: 'admin' } })
  t.equal(makeAdmin.statusCode, 200)
  t.equal((await app.users.get(member.id))?.role, 'admin')
})
