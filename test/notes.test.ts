// Request notes and the access log (SPEC §5): one structured line per request, client and requester, no secrets.
import t from 'tap'
import Fastify, { type InjectOptions, type LightMyRequestResponse } from 'fastify'
import pino from 'pino'
import notes, { accessLineWriter, lazyChildLogger, parseUserAgent } from '../plugins/app/http/notes.js'
import { isApiPath } from '../plugins/app/errors.js'
import { accessFields, accessMessage, type AccessEntry } from '../plugins/app/log/access-line.js'
import { serverOptions } from '../app.js'
import { basic, build } from './helper.js'

interface LogLine { level: number, msg: string, reqId?: string, [field: string]: unknown }

const written: string[] = []
const stream = { write (s: string): void { written.push(s) } }
const { app, owner, createUser } = await build(t, {}, { level: 'info', stream })

/**
 * Sends one request and returns every log line it caused. The access line is
 * written in onResponse, which may run just after inject resolves, so wait
 * (by event-loop turns, not by time) until it is there.
 */
async function logged (opts: InjectOptions): Promise<{ res: LightMyRequestResponse, lines: LogLine[], raw: string }> {
  written.length = 0
  const res = await app.inject(opts)
  for (let i = 0; i < 100 && !written.some((s) => s.includes('"responseTime"')); i++) {
    await new Promise((resolve) => setImmediate(resolve))
  }
  // A few more turns so a stray second line would be caught too.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  return { res, lines: written.map((s) => JSON.parse(s) as LogLine), raw: written.join('') }
}

t.test('one request writes exactly one access line with method, statusCode, responseTime and requester', async (t) => {
  const { res, lines } = await logged({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: owner.auth, 'user-agent': 'curl/8.0' } })
  t.equal(res.statusCode, 200)
  t.equal(lines.length, 1)
  const line = lines[0]!
  t.match(line.msg, new RegExp(`^GET 200 \\d+ms /api/v1/users/me \\(${owner.id} via curl/8\\.0\\)$`))
  t.match(line, {
    level: 30,
    method: 'GET',
    statusCode: 200,
    responseTime: Number,
    requester: owner.id,
    client: 'curl',
    reqId: String
  })
  t.ok(Number.isInteger(line.responseTime) && (line.responseTime as number) >= 0)
})

t.test('the client parameter overrides the User-Agent', async (t) => {
  const { res, lines } = await logged({ method: 'GET', url: '/api/v1/users/me?client=ZulipMobile', headers: { authorization: owner.auth, 'user-agent': 'curl/8.0' } })
  t.equal(res.statusCode, 200)
  t.notOk('ignored_parameters_unsupported' in JSON.parse(res.payload).data, 'client is consumed, not ignored')
  t.equal(lines.length, 1)
  t.match(lines[0]!.msg, new RegExp(`^GET 200 \\d+ms /api/v1/users/me \\(${owner.id} via ZulipMobile\\)$`))
  t.equal(lines[0]!.client, 'ZulipMobile')
})

t.test('the client parameter in a form body overrides the User-Agent', async (t) => {
  const u = await createUser('notes-body@example.com')
  const { res, lines } = await logged({
    method: 'PATCH',
    url: `/api/v1/users/${u.id}`,
    headers: { authorization: u.auth, 'user-agent': 'curl/8.0', 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'full_name=Body&client=website'
  })
  t.equal(res.statusCode, 200)
  t.equal(lines.length, 1)
  t.match(lines[0]!.msg, new RegExp(`^PATCH 200 \\d+ms /api/v1/users/${u.id} \\(${u.id} via website\\)$`))
})

t.test('a User-Agent "ZulipMobile/27.1 (Android)" is logged as via ZulipMobile/27.1', async (t) => {
  const { lines } = await logged({ method: 'GET', url: '/api/v1/users', headers: { authorization: owner.auth, 'user-agent': 'ZulipMobile/27.1 (Android 14)' } })
  t.equal(lines.length, 1)
  t.match(lines[0]!.msg, new RegExp(`^GET 200 \\d+ms /api/v1/users \\(${owner.id} via ZulipMobile/27\\.1\\)$`))
})

t.test('the url field is the route pattern on both mounts and the message has the path; an unrouted path is its own url', async (t) => {
  const api = await logged({ method: 'GET', url: `/api/v1/users/${owner.id}?x=1`, headers: { authorization: owner.auth, 'user-agent': 'curl/8.0' } })
  t.equal(api.res.statusCode, 200)
  t.match(api.lines, [{ url: '/api/v1/users/:user_id', msg: new RegExp(`^GET 200 \\d+ms /api/v1/users/${owner.id} \\(${owner.id} via curl/8\\.0\\)$`) }])
  const json = await logged({ method: 'PATCH', url: '/json/users/5', headers: { 'user-agent': 'curl/8.0' } })
  t.equal(json.res.statusCode, 401)
  t.match(json.lines, [{ url: '/json/users/:user_id', msg: /^PATCH 401 \d+ms \/json\/users\/5 \(unauth via curl\/8\.0\)$/ }])
  const unknown = await logged({ method: 'GET', url: '/api/v1/nowhere?api_key=secret', headers: { 'user-agent': 'curl/8.0' } })
  t.equal(unknown.res.statusCode, 404)
  t.match(unknown.lines, [{ url: '/api/v1/nowhere', msg: /^GET 404 \d+ms \/api\/v1\/nowhere \(unauth via curl\/8\.0\)$/ }])
  t.notMatch(unknown.raw, /secret/)
})

t.test('an unauthenticated request is logged as unauth', async (t) => {
  const anon = await logged({ method: 'GET', url: '/api/v1/server_settings', headers: { 'user-agent': 'curl/8.0' } })
  t.equal(anon.res.statusCode, 200)
  t.equal(anon.lines.length, 1)
  t.match(anon.lines[0]!.msg, /^GET 200 \d+ms \/api\/v1\/server_settings \(unauth via curl\/8\.0\)$/)
  t.equal(anon.lines[0]!.requester, 'unauth')

  // An empty User-Agent (inject sends its own by default) is logged as Unspecified.
  const refused = await logged({ method: 'GET', url: '/api/v1/users/me', headers: { 'user-agent': '' } })
  t.equal(refused.res.statusCode, 401)
  t.equal(refused.lines.length, 1)
  t.match(refused.lines[0]!.msg, /^GET 401 \d+ms \/api\/v1\/users\/me \(unauth via Unspecified\)$/)
  t.match(refused.lines[0], { statusCode: 401, requester: 'unauth' })
})

t.test('an api_key in the query string never reaches the log', async (t) => {
  const secret = 'Zq7SecretKeyThatMustNotBeLogged1'
  const known = await logged({ method: 'GET', url: `/api/v1/users/me?api_key=${secret}`, headers: { authorization: owner.auth, 'user-agent': 'curl/8.0' } })
  t.equal(known.res.statusCode, 200)
  t.equal(known.lines.length, 1)
  t.match(known.lines[0]!.msg, new RegExp(`^GET 200 \\d+ms /api/v1/users/me \\(${owner.id} via curl/8\\.0\\)$`))
  t.notOk(known.raw.includes(secret))

  // A path no route declares (an unknown webhook) is logged from the raw URL: still without its query.
  const unknown = await logged({ method: 'POST', url: `/api/v1/external/no-such-integration?api_key=${secret}&stream=x`, payload: {} })
  t.equal(unknown.res.statusCode, 404)
  t.equal(unknown.lines.length, 1)
  t.match(unknown.lines[0]!.msg, /^POST 404 \d+ms \/api\/v1\/external\/no-such-integration \(unauth via /)
  t.notOk(unknown.raw.includes(secret))
  t.notOk(unknown.raw.includes('api_key='))
})

t.test('a bot is logged by its own user id', async (t) => {
  const made = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: owner.auth }, payload: { full_name: 'Logger', short_name: 'logger' } })
  const bot = JSON.parse(made.payload).data
  const { lines } = await logged({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: basic(bot.email, bot.api_key), 'user-agent': 'ZulipPython/0.9' } })
  t.equal(lines.length, 1)
  t.match(lines[0]!.msg, new RegExp(`\\(${String(bot.user_id)} via ZulipPython/0\\.9\\)$`))
})

t.test('parseUserAgent reads name and version', async (t) => {
  t.same(parseUserAgent('ZulipMobile/27.1 (Android 14)'), ['ZulipMobile', '27.1'])
  t.same(parseUserAgent('curl/8.0'), ['curl', '8.0'])
  t.same(parseUserAgent('Mozilla/5.0 (X11; Linux x86_64)'), ['Mozilla', '5.0'])
  t.same(parseUserAgent('bare'), ['bare', ''])
  t.same(parseUserAgent(''), ['Unspecified', ''])
  t.same(parseUserAgent(undefined), ['Unspecified', ''])
  // Parsed once per distinct agent: the second answer is the remembered one, and still right.
  t.equal(parseUserAgent('ZulipMobile/27.1 (Android 14)'), parseUserAgent('ZulipMobile/27.1 (Android 14)'))
  t.same(parseUserAgent('curl/8.1'), ['curl', '8.1'])
})

t.test('isApiPath: the two API mounts, alone or followed by / or ?, and nothing else', async (t) => {
  for (const url of ['/api/v1', '/api/v1/users', '/api/v1?x=1', '/json', '/json/users', '/json?x=1']) t.ok(isApiPath(url), url)
  for (const url of ['/', '/api', '/api/v10', '/api/v1x/users', '/jsonp', '/json.html', '/static/json', '/login']) t.notOk(isApiPath(url), url)
})

t.test('request.log writes the same JSON as a pino child bound to the request id, without building one per request', async (t) => {
  const out: string[] = []
  const root = pino({ base: { pid: 1, hostname: 'h' }, timestamp: false }, { write (s: string) { out.push(s) } })
  // The app's root logger makes its request loggers this way (Fastify's default factory calls child()).
  t.not(Object.getPrototypeOf(app.log.child({ reqId: 'req-1' })), app.log, 'a request logger is lazy')
  t.equal(Object.getPrototypeOf(app.log.child({ queue: 'q' })), app.log, 'any other child is pino\'s own')
  const lazy = lazyChildLogger(root, { reqId: 'req-7' }, {})
  const eager = root.child({ reqId: 'req-7' })
  lazy.error({ code: 'X' }, 'failed')
  eager.error({ code: 'X' }, 'failed')
  t.equal(out.length, 2)
  t.equal(out[0], out[1])
  t.match(JSON.parse(out[0]!), { reqId: 'req-7', pid: 1, hostname: 'h', code: 'X', msg: 'failed' })

  // A child of request.log keeps the request id and adds its own bindings.
  out.length = 0
  lazy.child({ queue: 'q1' }).info('held')
  eager.child({ queue: 'q1' }).info('held')
  t.equal(out[0], out[1])
  t.match(JSON.parse(out[0]!), { reqId: 'req-7', queue: 'q1', msg: 'held' })

  // Two requests' loggers do not share their ids.
  out.length = 0
  const other = lazyChildLogger(root, { reqId: 'req-8' }, {})
  other.info('a')
  lazy.info('b')
  t.same(out.map((s) => JSON.parse(s).reqId), ['req-8', 'req-7'])

  // A route with its own level gets a real pino child, with that level.
  const quiet = lazyChildLogger(root, { reqId: 'req-9' }, { level: 'error' })
  t.equal(quiet.level, 'error')
  out.length = 0
  quiet.info('dropped')
  t.equal(out.length, 0)
})

/** A pino destination keeping its lines. */
function capture (): { lines: string[], stream: { write: (s: string) => void } } {
  const lines: string[] = []
  return { lines, stream: { write (s: string) { lines.push(s) } } }
}

/** A line with its time (epoch or ISO) set to 0, to compare lines written a moment apart. */
const noTime = (s: string): string => s.replace(/"time":("[^"]*"|\d+),/, '"time":0,')

t.test('accessLineWriter writes the bytes pino writes for log.info(fields, msg), and honours the level', async (t) => {
  const ours = capture()
  const theirs = capture()
  const log = pino({ level: 'info' }, ours.stream)
  const reference = pino({ level: 'info' }, theirs.stream)
  const write = accessLineWriter(log)
  t.same(ours.lines, [], 'the format probe writes nothing')
  t.equal(log.level, 'info')
  const cases: AccessEntry[] = [
    { reqId: 'req-1', method: 'GET', url: '/api/v1/users/me', path: '/api/v1/users/me', statusCode: 200, responseTime: 0, requester: 7, client: 'Unspecified', clientVersion: '' },
    { reqId: 'r"2\\', method: 'DELETE', url: '/json/x\n', path: '/json/x\n/\u2028', statusCode: 404, responseTime: 12, requester: 'unauth', client: 'Zülip \u0007 ☃ \ud83d', clientVersion: '1.0"' }
  ]
  for (const e of cases) {
    write(e)
    reference.info(accessFields(e), accessMessage(e))
  }
  t.same(ours.lines.map(noTime), theirs.lines.map(noTime))
  t.equal(ours.lines.length, 2)
  t.match(JSON.parse(ours.lines[0] as string), { msg: 'GET 200 0ms /api/v1/users/me (7 via Unspecified)' })
  t.match(JSON.parse(ours.lines[1] as string), { msg: 'DELETE 404 12ms /json/x\n/\u2028 (unauth via Zülip \u0007 ☃ \ud83d/1.0")' })
  // Written by the template, not by pino (the default options pass the probe).
  const info = log.info
  let viaPino = 0
  log.info = ((...args: Parameters<typeof info>) => { viaPino++; info.apply(log, args) }) as typeof info
  write(cases[0] as AccessEntry)
  log.info = info
  t.equal(viaPino, 0)
  ours.lines.pop()

  log.level = 'warn'
  write(cases[0] as AccessEntry)
  t.equal(ours.lines.length, 2, 'nothing below the level')
  log.level = 'info'
  write(cases[0] as AccessEntry)
  t.equal(ours.lines.length, 3)
})

t.test('accessLineWriter goes through pino when an option changes the format', async (t) => {
  const options = [
    { formatters: { level: (label: string) => ({ level: label }) } },
    { mixin: () => ({ extra: 1 }) },
    { messageKey: 'message' },
    { timestamp: pino.stdTimeFunctions.isoTime }
  ]
  const entry: AccessEntry = { reqId: 'r', method: 'GET', url: '/', path: '/', statusCode: 200, responseTime: 0, requester: 1, client: 'c', clientVersion: '' }
  for (const option of options) {
    const ours = capture()
    const theirs = capture()
    accessLineWriter(pino({ level: 'info', ...option }, ours.stream))(entry)
    pino({ level: 'info', ...option }, theirs.stream).info(accessFields(entry), accessMessage(entry))
    t.same(ours.lines.map(noTime), theirs.lines.map(noTime), `same line with ${Object.keys(option)[0] as string}`)
  }
})

t.test('RequestLog: the notes begin before any hook, the line follows the route\'s own onResponse hooks, and the app adds no global hook', async (t) => {
  const lines: string[] = []
  const plain = Fastify(serverOptions({ level: 'info', stream: { write (s: string): void { lines.push(s) } } }))
  t.teardown(async () => { await plain.close() })
  await plain.register(notes)
  const seen: string[] = []
  plain.get('/hooked', {
    onRequest: (request, _reply, done) => { seen.push(`onRequest: notes start ${typeof request.notes?.start}, client ${request.notes?.client}`); done() },
    onResponse: (_request, _reply, done) => { seen.push(`onResponse: ${lines.length} lines`); done() }
  }, async () => ({ ok: true }))
  plain.get('/plain', async () => ({ ok: true }))
  await plain.ready()
  // No hook on a route that declares none: the notes and the access line come from the log controller.
  t.match(plain.printRoutes({ includeHooks: true, commonPrefix: false, method: 'GET' }), /└── \/plain \(GET\)\n\s*$/)

  const res = await plain.inject({ method: 'GET', url: '/hooked', headers: { 'user-agent': 'probe/1.0' } })
  t.equal(res.statusCode, 200)
  for (let i = 0; i < 100 && lines.length === 0; i++) await new Promise((resolve) => setImmediate(resolve))
  t.same(seen, ['onRequest: notes start bigint, client probe', 'onResponse: 0 lines'])
  t.equal(lines.length, 1)
  t.match(JSON.parse(lines[0] as string), { url: '/hooked', statusCode: 200, requester: 'unauth', msg: /^GET 200 \d+ms \/hooked \(unauth via probe\/1\.0\)$/ })

  lines.length = 0
  const missing = await plain.inject({ method: 'GET', url: '/nowhere', headers: { 'user-agent': 'probe/1.0' } })
  t.equal(missing.statusCode, 404)
  for (let i = 0; i < 100 && lines.length === 0; i++) await new Promise((resolve) => setImmediate(resolve))
  t.match(lines.map((s) => JSON.parse(s) as LogLine), [{ statusCode: 404, msg: /^GET 404 \d+ms \/nowhere \(unauth via probe\/1\.0\)$/ }])
})
