// The webhook dispatcher (SPEC §10): keys, where messages go, filters, signatures, bodies,
// and what incoming-webhook bots may call. Integration formats are pinned in their own files.
import t from 'tap'
import { createHmac } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { basic, body, build, webhookBot } from '../helper.js'

const built = await build(t)
const { app, owner, createUser } = built

async function makeStream (name: string, inviteOnly = false): Promise<number> {
  const res = await app.inject({ method: 'PUT', url: '/api/v1/streams', headers: { authorization: owner.auth }, payload: { name, invite_only: inviteOnly } })
  return body(res).data.stream_id
}

/** The newest messages `auth` can read, newest first. */
async function newest (auth: string, n = 1): Promise<any[]> {
  const res = await app.inject({ method: 'GET', url: `/api/v1/messages?anchor=newest&num_before=${n}&num_after=0`, headers: { authorization: auth } })
  return body(res).data.messages.slice(-n).reverse()
}

async function maxId (): Promise<number> { return await app.messages.maxId() }

function post (url: string, payload: string | Buffer | object, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url, payload: payload as never, headers: { 'content-type': 'application/json', ...headers } })
}

function assertSuccess (t: Pick<typeof import('tap').default, 'equal' | 'same'>, res: LightMyRequestResponse, data: object = {}): void {
  t.equal(res.statusCode, 200, res.payload)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.same(body(res), { result: 'success', msg: '', data })
}

const hook = await webhookBot(app, owner.auth, 'hook')
await makeStream('ci')
const ciId = await makeStream('builds')

t.test('a JSON delivery with api_key and a stream name is a message from the bot, topic JSON, pretty-printed', async (t) => {
  const res = await post(`/api/v1/external/json?api_key=${hook.api_key}&stream=ci`, { build: 7, ok: true })
  assertSuccess(t, res)
  const [m] = await newest(owner.auth)
  t.match(m, { sender_id: hook.user_id, type: 'stream', display_recipient: 'ci', topic: 'JSON', client: 'JSONFormatterWebhook' })
  t.equal(m.content_markdown, '```json\n{\n  "build": 7,\n  "ok": true\n}\n```')
  t.match(m.content, /^<pre><code class="language-json">/)
})

t.test('the stream may be given by id, and `topic` overrides the integration\'s topic', async (t) => {
  assertSuccess(t, await post(`/api/v1/external/json?api_key=${hook.api_key}&stream=${ciId}&topic=${encodeURIComponent('nightly / main')}`, [1]))
  const [m] = await newest(owner.auth)
  t.match(m, { stream_id: ciId, topic: 'nightly / main', sender_id: hook.user_id })
})

t.test('the key may come by HTTP Basic instead of the query', async (t) => {
  assertSuccess(t, await post('/api/v1/external/json?stream=ci&topic=basic', { via: 'basic' }, { authorization: basic(hook.email, hook.api_key) }))
  const [m] = await newest(owner.auth)
  t.match(m, { topic: 'basic', sender_id: hook.user_id })
})

t.test('no stream: a direct message to the bot\'s owner', async (t) => {
  assertSuccess(t, await post(`/api/v1/external/json?api_key=${hook.api_key}`, { to: 'owner' }))
  const [m] = await newest(owner.auth)
  t.equal(m.type, 'direct')
  t.same(m.display_recipient.map((r: any) => r.id).sort(), [owner.id, hook.user_id].sort())
  t.match(m.content_markdown, /"to": "owner"/)
})

t.test('an unknown stream sends nothing there, answers success, and tells the owner once', async (t) => {
  const before = await maxId()
  assertSuccess(t, await post(`/api/v1/external/json?api_key=${hook.api_key}&stream=nowhere`, { a: 1 }))
  const [notice] = await newest(owner.auth)
  t.ok(notice.id > before)
  t.equal(notice.type, 'direct')
  t.equal(notice.sender_id, hook.user_id)
  t.equal(notice.content_markdown, 'Your bot **hook bot** tried to send a message to the stream `nowhere`, but that stream does not exist or the bot may not post to it. ' +
    'Create the stream (and subscribe the bot if it is private), or change the `stream` parameter of the webhook URL.')
  // A second delivery within ten minutes does not repeat the notice.
  const after = await maxId()
  assertSuccess(t, await post(`/api/v1/external/json?api_key=${hook.api_key}&stream=nowhere`, { a: 2 }))
  t.equal(await maxId(), after, 'nothing sent')
})

t.test('a private stream the bot is not subscribed to counts as unknown (no existence leak), with the notice', async (t) => {
  const other = await webhookBot(app, owner.auth, 'hook-private')
  await makeStream('secret-ops', true)
  const before = await maxId()
  assertSuccess(t, await post(`/api/v1/external/json?api_key=${other.api_key}&stream=secret-ops`, { a: 1 }))
  const [notice] = await newest(owner.auth)
  t.ok(notice.id > before)
  t.equal(notice.type, 'direct')
  t.match(notice.content_markdown, /`secret-ops`/)
  const secret = await newest(owner.auth, 5)
  t.notOk(secret.some((m: any) => m.display_recipient === 'secret-ops'), 'nothing in the private stream')
})

t.test('a bad, missing or malformed key is 401 INVALID_API_KEY; a deactivated bot 401 USER_DEACTIVATED', async (t) => {
  const invalid = { result: 'error', msg: 'Invalid API key', code: 'INVALID_API_KEY' }
  for (const [url, headers] of [
    ['/api/v1/external/json?stream=ci', {}],
    ['/api/v1/external/json?api_key=wrong&stream=ci', {}],
    [`/api/v1/external/json?api_key=${'A'.repeat(32)}`, {}],
    ['/api/v1/external/json', { authorization: basic(hook.email, 'B'.repeat(32)) }],
    ['/api/v1/external/json', { authorization: 'Basic !!!' }],
    ['/api/v1/external/json', { authorization: 'Bearer x' }]
  ] as Array<[string, Record<string, string>]>) {
    const res = await post(url, { a: 1 }, headers)
    t.equal(res.statusCode, 401, url)
    t.same(body(res), invalid)
  }
  const gone = await webhookBot(app, owner.auth, 'hook-gone')
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/users/${gone.user_id}`, headers: { authorization: owner.auth } })).statusCode, 200)
  const res = await post(`/api/v1/external/json?api_key=${gone.api_key}&stream=ci`, {})
  t.equal(res.statusCode, 401)
  t.equal(body(res).code, 'USER_DEACTIVATED')
})

t.test('any user\'s key may call a webhook (as in Zulip); with no stream a human gets it as a message to themself', async (t) => {
  const human = await createUser('hook-human@example.com')
  assertSuccess(t, await post(`/api/v1/external/json?api_key=${human.apiKey}`, { me: true }))
  const [m] = await newest(human.auth)
  t.equal(m.sender_id, human.id)
  t.same(m.display_recipient.map((r: any) => r.id), [human.id])
})

t.test('incoming-webhook bots may call only webhooks and POST /messages: 403 UNAUTHORIZED_PRINCIPAL elsewhere', async (t) => {
  const auth = basic(hook.email, hook.api_key)
  const forbidden = { result: 'error', msg: 'This API is not available to incoming webhook bots.', code: 'UNAUTHORIZED_PRINCIPAL' }
  for (const [method, url] of [['GET', '/api/v1/users/me'], ['GET', '/api/v1/streams'], ['POST', '/api/v1/register'], ['GET', '/api/v1/messages?num_before=1&num_after=0'], ['POST', '/api/v1/bots'], ['GET', '/api/v1/server_settings']] as const) {
    const res = await app.inject({ method, url, headers: { authorization: auth } })
    t.equal(res.statusCode, 403, `${method} ${url}`)
    t.same(body(res), forbidden)
  }
  const sent = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: { authorization: auth }, payload: { type: 'stream', to: 'ci', topic: 'direct call', content: 'from the bot' } })
  t.equal(sent.statusCode, 200)
  // A generic bot is an API user like any other.
  const generic = body(await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: owner.auth }, payload: { full_name: 'Generic', short_name: 'generic-one' } })).data
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: basic(generic.email, generic.api_key) } })).statusCode, 200)
})

t.test('GET /bots shows the owner each bot\'s API key, so the webhook URL can be built', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/bots', headers: { authorization: owner.auth } })
  t.equal(res.statusCode, 200)
  const listed = body(res).data.bots.find((b: any) => b.user_id === hook.user_id)
  t.match(listed, { email: hook.email, api_key: hook.api_key, bot_type: 'incoming_webhook' })
  t.notOk('webhook_secret' in listed, 'the secret is never shown')
})

t.test('only_events / exclude_events filter by event type with * wildcards; a bad list is 400 naming it', async (t) => {
  const base = `/api/v1/external/json?api_key=${hook.api_key}&stream=ci`
  for (const [query, sent] of [
    ['only_events=["json"]', true],
    ['only_events=["js*"]', true],
    ['only_events=["push","*"]', true],
    ['only_events=["push"]', false],
    ['only_events=[]', false],
    ['exclude_events=["json"]', false],
    ['exclude_events=["*"]', false],
    ['exclude_events=["j"]', true],
    ['only_events=["*"]&exclude_events=["*son"]', false]
  ] as const) {
    const before = await maxId()
    assertSuccess(t, await post(`${base}&${encodeURI(query)}`, { q: query }))
    t.equal(await maxId() > before, sent, query)
  }
  const bad = await post(`${base}&only_events=push`, {})
  t.equal(bad.statusCode, 400)
  t.match(body(bad), { code: 'INVALID_JSON', var_name: 'only_events' })
  const wrong = await post(`${base}&exclude_events=${encodeURIComponent('[1]')}`, {})
  t.equal(wrong.statusCode, 400)
  t.match(body(wrong), { code: 'REQUEST_VARIABLE_INVALID', var_name: 'exclude_events' })
})

t.test('parameters the dispatcher does not know are reported as ignored, as everywhere in the API', async (t) => {
  assertSuccess(t, await post(`/api/v1/external/json?api_key=${hook.api_key}&stream=ci&branches=main`, {}), { ignored_parameters_unsupported: ['branches'] })
})

function sign (secret: string, raw: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex')
}

t.test('a bot with a webhook secret accepts signed deliveries only (X-Hub-Signature-256 over the raw body)', async (t) => {
  const signed = await webhookBot(app, owner.auth, 'signed', { webhook_secret: 'It\'s a Secret to Everybody' })
  const url = `/api/v1/external/json?api_key=${signed.api_key}&stream=ci&topic=signed`
  const raw = '{"zen":"Keep it logically awesome.",  "n": 1}'
  // GitHub's documented test vector: this secret and body give this signature.
  t.equal(sign('It\'s a Secret to Everybody', 'Hello, World!'), 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17')

  const missing = await post(url, raw)
  t.equal(missing.statusCode, 401)
  t.match(body(missing), { result: 'error', code: 'UNAUTHORIZED', msg: 'Missing the signature header \'X-Hub-Signature-256\': this bot accepts signed deliveries only' })
  const wrong = await post(url, raw, { 'x-hub-signature-256': sign('another secret', raw) })
  t.equal(wrong.statusCode, 401)
  t.match(body(wrong), { code: 'UNAUTHORIZED', msg: 'The signature in \'X-Hub-Signature-256\' does not match this bot\'s webhook secret' })
  // Signed over other bytes (re-serialized JSON) is not the same delivery.
  const reserialized = await post(url, raw, { 'x-hub-signature-256': sign('It\'s a Secret to Everybody', JSON.stringify(JSON.parse(raw))) })
  t.equal(reserialized.statusCode, 401)

  const before = await maxId()
  assertSuccess(t, await post(url, raw, { 'x-hub-signature-256': sign('It\'s a Secret to Everybody', raw) }))
  const [m] = await newest(owner.auth)
  t.ok(m.id > before)
  t.match(m, { topic: 'signed', sender_id: signed.user_id })

  // Without a secret, a signature is not checked.
  assertSuccess(t, await post(`/api/v1/external/json?api_key=${hook.api_key}&stream=ci`, raw, { 'x-hub-signature-256': 'sha256=00' }))
})

t.test('webhook_secret is for incoming-webhook bots only', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/api/v1/bots', headers: { authorization: owner.auth }, payload: { full_name: 'G', short_name: 'generic-secret', webhook_secret: 's' } })
  t.equal(res.statusCode, 400)
  t.same(body(res), { result: 'error', msg: 'Invalid \'webhook_secret\': only incoming webhook bots have a webhook secret', code: 'REQUEST_VARIABLE_INVALID', var_name: 'webhook_secret' })
})

t.test('bodies: form-encoded `payload`, any declared type, empty, not JSON, invalid UTF-8, too large', async (t) => {
  const url = `/api/v1/external/json?api_key=${hook.api_key}&stream=ci&topic=bodies`
  assertSuccess(t, await post(url, 'payload=' + encodeURIComponent('{"form":true}'), { 'content-type': 'application/x-www-form-urlencoded' }))
  t.match((await newest(owner.auth))[0].content_markdown, /"form": true/)
  assertSuccess(t, await post(url, '{"plain":1}', { 'content-type': 'text/plain' }))
  assertSuccess(t, await app.inject({ method: 'POST', url, payload: '{"untyped":1}' }))

  const refused = async (payload: string | Buffer, headers: Record<string, string>, msg: string): Promise<void> => {
    const res = await post(url, payload, headers)
    t.equal(res.statusCode, 400, msg)
    t.same(body(res), { result: 'error', msg, code: 'BAD_REQUEST', integration: 'json' })
  }
  await refused('', {}, 'The JSON formatter webhook cannot read this payload: it is not JSON')
  await refused('{"a":', {}, 'The JSON formatter webhook cannot read this payload: it is not JSON')
  await refused(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), {}, 'The JSON formatter webhook cannot read this payload: it is not valid UTF-8')
  await refused('text=hello', { 'content-type': 'application/x-www-form-urlencoded' }, 'The JSON formatter webhook cannot read this payload: a form-encoded delivery carries its JSON in the \'payload\' field')

  const huge = await post(url, '[' + '1,'.repeat(600_000) + '1]')
  t.equal(huge.statusCode, 413)
  t.equal(body(huge).code, 'PAYLOAD_TOO_LARGE')
})

t.test('a payload near 1 MiB is sent, cut to the message limit with a note', async (t) => {
  const big = { items: Array.from({ length: 20_000 }, (_, i) => ({ i, name: `item ${i}` })) }
  const raw = JSON.stringify(big)
  t.ok(raw.length > 500_000 && raw.length < 1024 * 1024)
  assertSuccess(t, await post(`/api/v1/external/json?api_key=${hook.api_key}&stream=ci&topic=big`, raw))
  const [m] = await newest(owner.auth)
  t.equal([...m.content_markdown].length, 10000)
  t.ok(m.content_markdown.endsWith('\n[message truncated]'))
})

t.test('a topic over 60 characters is cut with "..." rather than refused', async (t) => {
  assertSuccess(t, await post(`/api/v1/external/json?api_key=${hook.api_key}&stream=ci&topic=${'x'.repeat(80)}`, {}))
  t.equal((await newest(owner.auth))[0].topic, 'x'.repeat(57) + '...')
})

t.test('the webhook path answers OPTIONS and 405 from its verb table (POST), and an unknown integration 404', async (t) => {
  const options = await app.inject({ method: 'OPTIONS', url: '/api/v1/external/json' })
  t.equal(options.statusCode, 204)
  t.equal(options.headers.allow, 'POST')
  const get = await app.inject({ method: 'GET', url: `/api/v1/external/json?api_key=${hook.api_key}` })
  t.equal(get.statusCode, 405)
  t.same(body(get), { result: 'error', msg: 'Method Not Allowed', code: 'METHOD_NOT_ALLOWED', allowed_methods: ['POST'] })
  const unknown = await post(`/api/v1/external/nosuch?api_key=${hook.api_key}`, {})
  t.equal(unknown.statusCode, 404)
  t.equal(body(unknown).code, 'NOT_FOUND')
})

t.test('webhooks are rate-limited per bot like any API user', async (t) => {
  const limited = await build(t, { PARLEY_RATE_LIMIT: 'on' })
  const bot = await webhookBot(limited.app, limited.owner.auth, 'busy')
  const url = `/api/v1/external/json?api_key=${bot.api_key}&stream=nowhere`
  let res: LightMyRequestResponse | undefined
  for (let i = 0; i < 200; i++) {
    res = await limited.app.inject({ method: 'POST', url, payload: '{}', headers: { 'content-type': 'application/json' } })
    if (res.statusCode !== 200) break
  }
  t.equal(res?.statusCode, 200)
  t.equal(res?.headers['x-ratelimit-remaining'], '0')
  const over = await limited.app.inject({ method: 'POST', url, payload: '{}', headers: { 'content-type': 'application/json' } })
  t.equal(over.statusCode, 429)
  t.equal(body(over).code, 'RATE_LIMIT_HIT')
  t.ok(Number(over.headers['retry-after']) >= 1)
  // Another bot of the same owner has its own count.
  const other = await webhookBot(limited.app, limited.owner.auth, 'calm')
  t.equal((await limited.app.inject({ method: 'POST', url: `/api/v1/external/json?api_key=${other.api_key}&stream=nowhere`, payload: '{}', headers: { 'content-type': 'application/json' } })).statusCode, 200)
})

t.test('GitHub over HTTP: no X-GitHub-Event is 400 MISSING_HTTP_EVENT_HEADER; an event it does not handle is 200 UNSUPPORTED_WEBHOOK_EVENT_TYPE, nothing sent', async (t) => {
  const url = `/api/v1/external/github?api_key=${hook.api_key}&stream=ci`
  const missing = await post(url, { zen: 'Design for failure.' })
  t.equal(missing.statusCode, 400)
  t.same(body(missing), { result: 'error', msg: 'Missing the HTTP event header \'X-GitHub-Event\'', code: 'MISSING_HTTP_EVENT_HEADER', header: 'X-GitHub-Event' })

  const before = await maxId()
  const star = await post(url, { action: 'created' }, { 'x-github-event': 'star' })
  t.equal(star.statusCode, 200)
  t.same(body(star), { result: 'success', msg: 'The \'star\' event isn\'t currently supported by the GitHub webhook; ignoring', code: 'UNSUPPORTED_WEBHOOK_EVENT_TYPE', data: {} })
  // In the caller's language, like every msg; the code is never translated.
  const de = await post(url, { action: 'created' }, { 'x-github-event': 'star', 'accept-language': 'de' })
  t.same(body(de), { result: 'success', msg: 'Das Ereignis „star“ wird vom GitHub-Webhook derzeit nicht unterstützt und ignoriert', code: 'UNSUPPORTED_WEBHOOK_EVENT_TYPE', data: {} })
  t.equal(await maxId(), before, 'nothing sent')

  const broken = await post(url, { ref: 'refs/heads/main' }, { 'x-github-event': 'push' })
  t.equal(broken.statusCode, 400)
  t.match(body(broken), { code: 'BAD_REQUEST', integration: 'github', msg: /^The GitHub webhook cannot read this payload: / })
})
