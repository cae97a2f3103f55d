// SPEC §8, §9: every page in every language, language negotiation and its headers, the
// language switch, the 404 page with and without a session, HTML error pages, and
// framework errors (broken percent-encoding, over-long headers) over a real socket.
import t from 'tap'
import type tap from 'tap'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { LightMyRequestResponse } from 'fastify'
import { body, build } from './helper.js'

const { app, createUser } = await build(t)
const hamlet = await createUser('hamlet@example.com')
// A name that must come out escaped.
const { token } = await app.sessions.create(hamlet.id)
const sessionCookie = `parley_session=${token}`
await app.db.updateTable('users').set({ full_name: 'Hamlet <Prince> & Co' }).where('id', '=', hamlet.id).execute()

const PAGES = ['/', '/features', '/login', '/api']
const PREFIXES = { '': 'en', '/en': 'en', '/de': 'de', '/zh-hans': 'zh-hans' } as const
const HTML_LANG = { en: 'en', de: 'de', 'zh-hans': 'zh-Hans' } as const
/** A string each page shows in each language (its navigation at least). */
const NAV = { en: '>Features</a>', de: '>Funktionen</a>', 'zh-hans': '>功能</a>' } as const
const HEADINGS: Record<string, Record<keyof typeof NAV, string>> = {
  '/': { en: 'Conversations that stay organized', de: 'Gespräche, die übersichtlich bleiben', 'zh-hans': '条理清晰的对话' },
  '/features': { en: 'Everything a team needs to talk', de: 'Alles, was ein Team zum Reden braucht', 'zh-hans': '团队沟通所需的一切' },
  '/login': { en: 'Log in to Parley', de: 'Bei Parley anmelden', 'zh-hans': '登录 Parley' },
  '/api': { en: 'The Parley REST API', de: 'Die REST-API von Parley', 'zh-hans': 'Parley REST API' }
}

const withPrefix = (prefix: string, path: string): string => prefix === '' ? path : path === '/' ? `${prefix}/` : `${prefix}${path}`

function htmlOk (t: Pick<typeof tap, 'equal' | 'match'>, res: LightMyRequestResponse, lang: keyof typeof NAV, status = 200): void {
  t.equal(res.statusCode, status)
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(res.headers['content-language'], HTML_LANG[lang])
  t.match(res.payload, `<html lang="${HTML_LANG[lang]}">`)
}

t.test('every page answers 200 in every language, unprefixed and under each prefix, with translated text', async (t) => {
  for (const path of PAGES) {
    for (const [prefix, lang] of Object.entries(PREFIXES) as Array<[string, keyof typeof NAV]>) {
      const url = withPrefix(prefix, path)
      const res = await app.inject({ url })
      htmlOk(t, res, lang)
      t.match(res.payload, NAV[lang], `${url} navigation`)
      t.match(res.payload, HEADINGS[path]?.[lang] ?? '', `${url} heading`)
      t.equal(res.headers.vary, prefix === '' ? 'Accept-Language, Cookie' : 'Cookie', `${url} Vary`)
    }
  }
  for (const lang of ['de', 'zh-hans']) {
    const bare = await app.inject({ url: `/${lang}` })
    t.equal(bare.statusCode, 200, `/${lang} without the slash`)
  }
})

t.test('unprefixed pages choose the cookie, then Accept-Language, then en', async (t) => {
  const cases: Array<[Record<string, string>, keyof typeof NAV]> = [
    [{}, 'en'],
    [{ 'accept-language': 'de-AT,de;q=0.9,en;q=0.8' }, 'de'],
    [{ 'accept-language': 'zh-CN' }, 'zh-hans'],
    [{ 'accept-language': 'fr, zh-Hans;q=0.5' }, 'zh-hans'],
    [{ 'accept-language': 'fr' }, 'en'],
    [{ cookie: 'parley_language=de' }, 'de'],
    [{ cookie: 'parley_language=zh-hans', 'accept-language': 'de' }, 'zh-hans'],
    [{ cookie: 'parley_language=nonsense', 'accept-language': 'de' }, 'de']
  ]
  for (const [headers, lang] of cases) {
    const res = await app.inject({ url: '/features', headers })
    htmlOk(t, res, lang)
    t.match(res.payload, NAV[lang], JSON.stringify(headers))
  }
  // A prefix wins over both.
  const prefixed = await app.inject({ url: '/de/features', headers: { cookie: 'parley_language=zh-hans', 'accept-language': 'zh' } })
  htmlOk(t, prefixed, 'de')
})

t.test('every page links its other languages with hreflang, and the switcher posts to /language', async (t) => {
  const res = await app.inject({ url: '/de/features' })
  for (const [hreflang, href] of [['en', '/en/features'], ['de', '/de/features'], ['zh-Hans', '/zh-hans/features'], ['x-default', '/features']]) {
    t.match(res.payload, `<link rel="alternate" hreflang="${hreflang}" href="http://127.0.0.1:9991${href}">`)
  }
  t.match(res.payload, '<form method="post" action="/language"')
  t.match(res.payload, 'name="next" value="/de/features"')
  for (const code of ['en', 'de', 'zh-hans']) t.match(res.payload, `name="language" value="${code}"`)
  const root = await app.inject({ url: '/zh-hans/' })
  t.match(root.payload, '<link rel="alternate" hreflang="de" href="http://127.0.0.1:9991/de/">')
  t.match(root.payload, '<link rel="alternate" hreflang="x-default" href="http://127.0.0.1:9991/">')
})

t.test('POST /language sets the cookie for a year and returns to next, in the new language when next had a prefix', async (t) => {
  const post = async (fields: Record<string, string>): Promise<LightMyRequestResponse> => await app.inject({
    method: 'POST', url: '/language', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString()
  })
  const res = await post({ language: 'de', next: '/features' })
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, '/features')
  const cookie = String(res.headers['set-cookie'])
  t.match(cookie, /^parley_language=de;/)
  t.match(cookie, /Max-Age=31536000/)
  t.match(cookie, /Path=\//)
  t.match(cookie, /SameSite=Lax/i)
  t.equal((await post({ language: 'zh-hans', next: '/de/api?x=1' })).headers.location, '/zh-hans/api?x=1')
  t.equal((await post({ language: 'en', next: '/de/' })).headers.location, '/en/')
  t.equal((await post({ language: 'de', next: '//evil.example' })).headers.location, '/')
  const bad = await post({ language: 'xx', next: '/features' })
  t.equal(bad.headers.location, '/features')
  t.equal(bad.headers['set-cookie'], undefined)
})

t.test('a signed-in visitor sees their name (escaped) and a logout form in the header', async (t) => {
  const res = await app.inject({ url: '/de/features', headers: { cookie: sessionCookie } })
  htmlOk(t, res, 'de')
  t.match(res.payload, 'Angemeldet als Hamlet &lt;Prince&gt; &amp; Co')
  t.notMatch(res.payload, '<Prince>')
  t.match(res.payload, '<form method="post" action="/logout"')
  const session = await app.sessions.get(token)
  t.match(res.payload, `name="csrf_token" value="${session?.csrfToken ?? ''}"`)
  t.equal(res.headers['cache-control'], 'private, no-store')
  const anon = await app.inject({ url: '/de/features' })
  t.notMatch(anon.payload, 'Hamlet')
  t.match(anon.payload, 'href="/de/login"')
})

t.test('the 404 page: unknown pages and missing static files, in the visitor\'s language, with the name or a login link', async (t) => {
  for (const url of ['/no-such-page', '/static/nope.css', '/features/extra', '/de/no-such-page', '/zh-hans/static-nope']) {
    const lang = url.startsWith('/de/') ? 'de' : url.startsWith('/zh-hans/') ? 'zh-hans' : 'en'
    const anon = await app.inject({ url })
    htmlOk(t, anon, lang, 404)
    t.match(anon.payload, { en: 'You are not signed in.', de: 'Sie sind nicht angemeldet.', 'zh-hans': '你尚未登录。' }[lang])
    t.match(anon.payload, lang === 'en' ? 'href="/login"' : `href="/${lang}/login"`)
    const signedIn = await app.inject({ url, headers: { cookie: sessionCookie } })
    htmlOk(t, signedIn, lang, 404)
    t.match(signedIn.payload, { en: 'You are signed in as Hamlet &lt;Prince&gt; &amp; Co.', de: 'Sie sind als Hamlet &lt;Prince&gt; &amp; Co angemeldet.', 'zh-hans': '你已登录为 Hamlet &lt;Prince&gt; &amp; Co。' }[lang])
  }
  const de = await app.inject({ url: '/static/nope.css', headers: { 'accept-language': 'de', cookie: sessionCookie } })
  htmlOk(t, de, 'de', 404)
  t.match(de.payload, 'Diese Seite konnten wir nicht finden')
  t.match(de.payload, 'Sie sind als Hamlet')
  const stale = await app.inject({ url: '/nope', headers: { cookie: 'parley_session=not-a-session' } })
  t.match(stale.payload, 'You are not signed in.', 'an unknown session is a visitor')
})

t.test('a page answers an undeclared verb with the HTML 405 page and Allow; OPTIONS with 204', async (t) => {
  const put = await app.inject({ method: 'PUT', url: '/de/features' })
  htmlOk(t, put, 'de', 405)
  t.equal(put.headers.allow, 'GET, HEAD')
  t.match(put.payload, 'Diese Seite kann so nicht verwendet werden')
  const del = await app.inject({ method: 'DELETE', url: '/login' })
  t.equal(del.statusCode, 405)
  t.equal(del.headers.allow, 'GET, HEAD, POST')
  const options = await app.inject({ method: 'OPTIONS', url: '/features' })
  t.equal(options.statusCode, 204)
  t.equal(options.headers.allow, 'GET, HEAD')
  const head = await app.inject({ method: 'HEAD', url: '/features' })
  t.equal(head.statusCode, 200)
  t.equal(head.payload, '')
})

t.test('an unexpected error on a page is the translated HTML 500 page, with no details', async (t) => {
  const get = app.sessions.get
  t.teardown(() => { app.sessions.get = get })
  app.sessions.get = async () => { throw new Error('session store on fire') }
  const res = await app.inject({ url: '/zh-hans/features', headers: { cookie: sessionCookie } })
  htmlOk(t, res, 'zh-hans', 500)
  t.match(res.payload, '服务器出了点问题')
  t.match(res.payload, '服务器内部错误')
  t.notMatch(res.payload, 'on fire')
})

t.test('anonymous pages are rendered once per language and URL; the answer is the same bytes', async (t) => {
  const a = await app.inject({ url: '/de/features' })
  const b = await app.inject({ url: '/de/features' })
  t.equal(a.payload, b.payload)
  t.equal(b.headers['content-language'], 'de')
  const en = await app.inject({ url: '/features', headers: { 'accept-language': 'en' } })
  const de = await app.inject({ url: '/features', headers: { 'accept-language': 'de' } })
  t.not(en.payload, de.payload, 'the unprefixed page is kept per language')
  const first = await app.inject({ url: '/zh-hans/features?leak=%22x%22' })
  t.equal(first.statusCode, 200)
  t.notMatch(first.payload, 'leak', 'a kept page does not carry the query string')
  t.notMatch((await app.inject({ url: '/zh-hans/features' })).payload, 'leak')
})

t.test('/api documents every resource, verb and parameter from the OpenAPI document', async (t) => {
  const doc = body(await app.inject({ url: '/api/v1/openapi.json' }))
  const page = (await app.inject({ url: '/api' })).payload
  const unescape = (s: string): string => s.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>')
  const text = unescape(page)
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    t.match(text, `<code>${path}</code>`, path)
    for (const [method, op] of Object.entries(item)) {
      t.match(text, `${method.toUpperCase()}</span> <code>/api/v1${path}</code>`, `${method} ${path}`)
      t.match(text, op.summary, `${method} ${path} summary`)
      if (op.description !== undefined) t.match(text, op.description, `${method} ${path} description`)
      const names = [...(op.parameters ?? []).map((p: any) => p.name), ...Object.keys(op.requestBody?.content?.['application/json']?.schema?.properties ?? {})]
      for (const name of names) t.match(text, `<tr><td><code>${name}</code></td>`, `${method} ${path} ${name}`)
    }
  }
  const de = (await app.inject({ url: '/de/api' })).payload
  t.match(de, 'Parameter</caption>')
  t.match(de, 'Pflicht')
})

/** Sends raw bytes and reads the whole answer (the server closes the connection). */
function raw (port: number, request: string): Promise<{ status: number, headers: string, body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let data = ''
    socket.setEncoding('utf8')
    socket.on('data', (c: string) => { data += c })
    socket.on('error', reject)
    socket.on('close', () => {
      const at = data.indexOf('\r\n\r\n')
      const head = data.slice(0, at)
      resolve({ status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body: data.slice(at + 4) })
    })
    socket.write(request)
  })
}

t.test('framework errors over a real socket: broken percent-encoding and over-long headers, JSON under the API, HTML elsewhere', async (t) => {
  const served = await build(t)
  await served.app.listen({ host: '127.0.0.1', port: 0 })
  const port = (served.app.server.address() as AddressInfo).port
  const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}Connection: close\r\n\r\n`

  for (const path of ['/api/v1/users/%E0%A4%A', '/json/users/%E0%A4%A']) {
    const res = await raw(port, get(path, 'Accept-Language: de\r\n'))
    t.equal(res.status, 400, path)
    t.match(res.headers, 'content-type: application/json; charset=utf-8')
    t.same(JSON.parse(res.body), { result: 'error', msg: 'Fehlerhafte URL', code: 'BAD_REQUEST' })
  }
  const page = await raw(port, get('/features%E0%A4%A', 'Accept-Language: de\r\n'))
  t.equal(page.status, 400)
  t.match(page.headers, 'content-type: text/html; charset=utf-8')
  t.match(page.body, '<html lang="de">')
  t.match(page.body, 'Fehlerhafte URL')

  const big = `X-Big: ${'a'.repeat(20 * 1024)}\r\n`
  for (const path of ['/api/v1/users/me', '/json/events']) {
    const res = await raw(port, get(path, big))
    t.equal(res.status, 431, path)
    t.match(res.headers, 'content-type: application/json; charset=utf-8')
    t.same(JSON.parse(res.body), { result: 'error', msg: 'Request header fields too large', code: 'BAD_REQUEST' })
  }
  for (const path of ['/features', '/static/css/parley.css']) {
    const res = await raw(port, get(path, big))
    t.equal(res.status, 431, path)
    t.match(res.headers, 'content-type: text/html; charset=utf-8')
    t.match(res.body, '<!doctype html>')
    t.match(res.body, 'Request header fields too large')
    t.notMatch(res.body, '"statusCode"', 'not Fastify\'s default body')
  }
  const garbage = await raw(port, 'NONSENSE\r\n\r\n')
  t.equal(garbage.status, 400)
  t.notMatch(garbage.body, '"statusCode"')
})
