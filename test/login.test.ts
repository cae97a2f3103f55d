// SPEC §4, §9: the login form, sessions, logout, the pre-login CSRF cookie, open-redirect
// attempts, the per-username failure limit, and the HTML redirect of /json.
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { build } from './helper.js'

/** The cookies a response sets, by name. */
function setCookies (res: LightMyRequestResponse): Record<string, { value: string, attrs: string }> {
  const raw = res.headers['set-cookie']
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
  return Object.fromEntries(list.map((c) => {
    const [pair = '', ...attrs] = c.split(';')
    const at = pair.indexOf('=')
    return [pair.slice(0, at), { value: pair.slice(at + 1), attrs: attrs.join(';') }]
  }))
}

const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString()
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

const { app, createUser } = await build(t)
await createUser('hamlet@example.com')

/** GETs /login and returns the pre-login token and its cookie. */
async function loginForm (url = '/login'): Promise<{ csrf: string, cookie: string, res: LightMyRequestResponse }> {
  const res = await app.inject({ url })
  const csrf = setCookies(res).parley_csrf?.value ?? ''
  return { csrf, cookie: `parley_csrf=${csrf}`, res }
}

async function logIn (username: string, password: string, next?: string, url = '/login'): Promise<LightMyRequestResponse> {
  const { csrf, cookie } = await loginForm()
  return await app.inject({
    method: 'POST', url, headers: { ...FORM, cookie }, payload: form({ username, password, csrf_token: csrf, ...(next === undefined ? {} : { next }) })
  })
}

t.test('GET /login shows the form with username, password, the hidden csrf_token and next', async (t) => {
  const { res, csrf } = await loginForm('/login?next=%2Fde%2Ffeatures')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
  t.match(res.payload, 'name="username"')
  t.match(res.payload, 'name="password"')
  t.match(res.payload, `name="csrf_token" value="${csrf}"`)
  t.match(res.payload, 'name="next" value="/de/features"')
  t.match(csrf, /^[\w-]{32}$/)
  const attrs = setCookies(res).parley_csrf?.attrs ?? ''
  t.match(attrs, /HttpOnly/i)
  t.match(attrs, /SameSite=Lax/i)
  t.match(attrs, /Path=\//)
})

t.test('POST /login with the right password creates a session, sets the cookie and 302s to next', async (t) => {
  const res = await logIn('hamlet@example.com', 'password123', '/features')
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, '/features')
  const session = setCookies(res).parley_session
  t.ok(session, 'the session cookie is set')
  t.match(session?.attrs, /HttpOnly/i)
  t.match(session?.attrs, /SameSite=Lax/i)
  t.match(session?.attrs, /Path=\//)
  t.notMatch(session?.attrs, /Secure/i, 'not Secure on an http external URL')
  const stored = await app.sessions.get(session?.value ?? '')
  t.ok(stored, 'the session exists server-side')

  // The session works on /json and on the pages.
  const me = await app.inject({ url: '/json/users/me', headers: { cookie: `parley_session=${session?.value ?? ''}` } })
  t.equal(me.statusCode, 200)
  t.equal(JSON.parse(me.payload).data.user.email, 'hamlet@example.com')
  const home = await app.inject({ url: '/', headers: { cookie: `parley_session=${session?.value ?? ''}` } })
  t.equal(home.statusCode, 200)
  t.match(home.payload, '<div id="app">')
  t.match(home.payload, `<meta name="csrf-token" content="${stored?.csrfToken ?? ''}">`)
  const boot = JSON.parse(/<script id="parley-bootstrap" type="application\/json">(.*?)<\/script>/s.exec(home.payload)?.[1] ?? '{}')
  t.equal(boot.email, 'hamlet@example.com')
  t.equal(boot.full_name, 'hamlet')
  t.equal(boot.language, 'en')
  t.same(boot.languages.map((l: { code: string }) => l.code), ['en', 'de', 'zh-hans'])
  t.type(boot.translations, 'object')
  t.equal(home.headers['cache-control'], 'private, no-store')

  // A logged-in visitor on /login goes on to next.
  const again = await app.inject({ url: '/login?next=/api', headers: { cookie: `parley_session=${session?.value ?? ''}` } })
  t.equal(again.statusCode, 302)
  t.equal(again.headers.location, '/api')
})

t.test('without next, a login goes to /', async (t) => {
  const res = await logIn('hamlet@example.com', 'password123')
  t.equal(res.headers.location, '/')
})

t.test('the session cookie is Secure when PARLEY_EXTERNAL_URL is https', async (t) => {
  const secure = await build(t, { PARLEY_EXTERNAL_URL: 'https://chat.example.com' })
  const get = await secure.app.inject({ url: '/login' })
  const csrf = setCookies(get).parley_csrf
  t.match(csrf?.attrs, /Secure/i)
  const res = await secure.app.inject({
    method: 'POST',
    url: '/login',
    headers: { ...FORM, cookie: `parley_csrf=${csrf?.value ?? ''}` },
    payload: form({ username: 'owner@example.com', password: 'owner-password', csrf_token: csrf?.value ?? '' })
  })
  t.equal(res.statusCode, 302)
  t.match(setCookies(res).parley_session?.attrs, /Secure/i)
})

t.test('a wrong password re-shows the form with a translated error, 401, and no session', async (t) => {
  const res = await logIn('hamlet@example.com', 'wrong')
  t.equal(res.statusCode, 401)
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
  t.match(res.payload, 'Your email or password is incorrect.')
  t.match(res.payload, 'value="hamlet@example.com"', 'the username is kept')
  t.notOk(setCookies(res).parley_session, 'no session cookie')

  const { csrf, cookie } = await loginForm()
  const de = await app.inject({
    method: 'POST', url: '/de/login', headers: { ...FORM, cookie }, payload: form({ username: 'hamlet@example.com', password: 'wrong', csrf_token: csrf })
  })
  t.equal(de.statusCode, 401)
  t.match(de.payload, 'E-Mail-Adresse oder Passwort ist falsch.')
  t.match(de.payload, '<html lang="de">')

  const unknown = await logIn('nobody@example.com', 'whatever')
  t.equal(unknown.statusCode, 401, 'an unknown user reads the same')
  t.match(unknown.payload, 'Your email or password is incorrect.')
})

t.test('a deactivated user cannot log in', async (t) => {
  const user = await createUser('ophelia@example.com')
  const owner = await app.users.getRowByEmail('owner@example.com')
  const actor = owner === undefined ? undefined : await app.users.get(owner.id)
  if (actor === undefined) throw new Error('no owner')
  await app.users.doDeactivateUser(actor, user.id)
  const res = await logIn('ophelia@example.com', 'password123')
  t.equal(res.statusCode, 401)
  t.match(res.payload, 'This account has been deactivated.')
  t.notOk(setCookies(res).parley_session)
})

t.test('a login whose csrf_token does not match the cookie is 403 with the HTML error page', async (t) => {
  const { csrf, cookie } = await loginForm()
  for (const [headers, token] of [
    [{ ...FORM, cookie }, 'not-the-token'],
    [{ ...FORM, cookie }, ''],
    [FORM, csrf]
  ] as const) {
    const res = await app.inject({ method: 'POST', url: '/login', headers, payload: form({ username: 'hamlet@example.com', password: 'password123', csrf_token: token }) })
    t.equal(res.statusCode, 403)
    t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
    t.match(res.payload, 'Your form expired or was sent from another site.')
    t.notOk(setCookies(res).parley_session)
  }
  const de = await app.inject({ method: 'POST', url: '/de/login', headers: { ...FORM, cookie }, payload: form({ username: 'x', password: 'y', csrf_token: 'wrong' }) })
  t.equal(de.statusCode, 403)
  t.match(de.payload, 'Zugriff verweigert')
})

t.test('next accepts only same-site paths: open-redirect attempts fall back to /', async (t) => {
  for (const next of ['//evil.example', 'https://evil.example/', '/\\evil.example', '/%5Cevil.example', '/%2F%2Fevil.example', '\\\\evil', 'javascript:alert(1)',
    '/\tevil', '/a\nb', 'evil.example', '/%0d%0aSet-Cookie:x=1', '/%255Cevil']) {
    const res = await logIn('hamlet@example.com', 'password123', next)
    t.equal(res.statusCode, 302, next)
    t.equal(res.headers.location, '/', `${JSON.stringify(next)} goes to /`)
  }
  const ok = await logIn('hamlet@example.com', 'password123', '/de/features?x=1#top')
  t.equal(ok.headers.location, '/de/features?x=1#top')
})

t.test('POST /logout with the session token ends the session and clears the cookie; a wrong token is 403', async (t) => {
  const login = await logIn('hamlet@example.com', 'password123')
  const token = setCookies(login).parley_session?.value ?? ''
  const session = await app.sessions.get(token)
  const cookie = `parley_session=${token}`

  const wrong = await app.inject({ method: 'POST', url: '/logout', headers: { ...FORM, cookie }, payload: form({ csrf_token: 'nope' }) })
  t.equal(wrong.statusCode, 403)
  t.equal(wrong.headers['content-type'], 'text/html; charset=utf-8')
  t.ok(await app.sessions.get(token), 'the session lives on')
  const missing = await app.inject({ method: 'POST', url: '/logout', headers: { ...FORM, cookie }, payload: '' })
  t.equal(missing.statusCode, 403)

  const res = await app.inject({ method: 'POST', url: '/logout', headers: { ...FORM, cookie }, payload: form({ csrf_token: session?.csrfToken ?? '' }) })
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, '/login')
  const cleared = setCookies(res).parley_session
  t.equal(cleared?.value, '')
  t.match(cleared?.attrs, /Expires=Thu, 01 Jan 1970/)
  t.equal(await app.sessions.get(token), undefined, 'the session is gone')
  const me = await app.inject({ url: '/json/users/me', headers: { cookie } })
  t.equal(me.statusCode, 401)
})

t.test('an unauthenticated GET /json/… preferring HTML is redirected to /login?next=…', async (t) => {
  const res = await app.inject({ url: '/json/users/me?x=1', headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } })
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, '/login?next=%2Fjson%2Fusers%2Fme%3Fx%3D1')
  const json = await app.inject({ url: '/json/users/me', headers: { accept: 'application/json' } })
  t.equal(json.statusCode, 401)
  t.equal(json.headers['www-authenticate'], 'Session realm="parley"')
})

t.test('login failures count against the per-username limit: the sixth attempt is 429 with a translated message', async (t) => {
  const limited = await build(t, { PARLEY_RATE_LIMIT: 'on' })
  await limited.createUser('laertes@example.com')
  const attempt = async (password: string, url = '/login'): Promise<LightMyRequestResponse> => {
    const get = await limited.app.inject({ url: '/login' })
    const csrf = setCookies(get).parley_csrf?.value ?? ''
    return await limited.app.inject({
      method: 'POST', url, headers: { ...FORM, cookie: `parley_csrf=${csrf}` }, payload: form({ username: 'Laertes@Example.com ', password, csrf_token: csrf })
    })
  }
  for (let i = 0; i < 5; i++) t.equal((await attempt('wrong')).statusCode, 401, `failure ${i + 1}`)
  const over = await attempt('password123')
  t.equal(over.statusCode, 429, 'even the right password is refused now')
  t.match(over.headers['retry-after'], /^\d+$/)
  t.match(over.payload, /Too many failed attempts\. Try again in \d+ minutes?\./)
  t.notOk(setCookies(over).parley_session)
  const zh = await attempt('password123', '/zh-hans/login')
  t.equal(zh.statusCode, 429)
  t.match(zh.payload, /失败次数过多，请在 \d+ 分钟后重试。/)
  // The same counter as fetch_api_key.
  const api = await limited.app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', payload: { username: 'laertes@example.com', password: 'password123' } })
  t.equal(api.statusCode, 429)
})

t.test('the login form names the organization (PARLEY_REALM_NAME), in each language', async (t) => {
  const { app: castle } = await build(t, { PARLEY_REALM_NAME: 'Elsinore <Castle>' })
  const en = await castle.inject({ url: '/login' })
  t.equal(en.statusCode, 200)
  t.match(en.payload, '<h1>Log in to Elsinore &lt;Castle&gt;</h1>', 'escaped like every value')
  t.match((await castle.inject({ url: '/de/login' })).payload, '<h1>Bei Elsinore &lt;Castle&gt; anmelden</h1>')
  t.match((await castle.inject({ url: '/zh-hans/login' })).payload, '<h1>登录 Elsinore &lt;Castle&gt;</h1>')
})
