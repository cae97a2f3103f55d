// The error envelope (SPEC §2): body parsing failures, size and media-type limits, and the opaque 500.
import t from 'tap'
import { Readable, Writable } from 'node:stream'
import type { LightMyRequestResponse } from 'fastify'
import { body, build } from './helper.js'
import { ParleyError, errors } from '../plugins/app/errors.js'

// Every log line of the app, parsed, so a test can find the cause of a 500.
const logLines: any[] = []
const logStream = new Writable({
  write (chunk: Buffer, _enc, done) {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logLines.push(JSON.parse(line))
    done()
  }
})

const { app, owner } = await build(t, {}, { level: 'info', stream: logStream })
const auth = { authorization: owner.auth }
const MiB = 1024 * 1024

type Asserts = Pick<typeof t, 'equal' | 'same'>

function assertError (t: Asserts, res: LightMyRequestResponse, status: number, code: string, msg?: string): any {
  t.equal(res.statusCode, status)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  const b = body(res)
  t.equal(b.result, 'error')
  t.equal(b.code, code)
  if (msg !== undefined) t.equal(b.msg, msg)
  return b
}

function multipartBody (boundary: string, fields: Array<[string, string, string?]>): string {
  return fields.map(([name, value, type]) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n${type === undefined ? '' : `Content-Type: ${type}\r\n`}\r\n${value}\r\n`
  ).join('') + `--${boundary}--\r\n`
}

t.test('a malformed JSON body is 400 INVALID_JSON', async (t) => {
  for (const payload of ['{"full_name": ', '{bad json}', '{"a":1,}']) {
    const res = await app.inject({ method: 'PATCH', url: `/api/v1/users/${String(owner.id)}`, headers: { ...auth, 'content-type': 'application/json' }, payload })
    assertError(t, res, 400, 'INVALID_JSON', 'Malformed JSON')
  }
  const empty = await app.inject({ method: 'PATCH', url: `/api/v1/users/${String(owner.id)}`, headers: { ...auth, 'content-type': 'application/json' }, payload: '' })
  assertError(t, empty, 400, 'INVALID_JSON')
})

t.test('a multipart field declared as JSON that does not parse is 400 INVALID_JSON', async (t) => {
  const boundary = 'jsonFieldBoundary'
  const res = await app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${String(owner.id)}`,
    headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: multipartBody(boundary, [['full_name', '{nope', 'application/json']])
  })
  assertError(t, res, 400, 'INVALID_JSON')
})

t.test('a JSON body that is not an object is 400 BAD_REQUEST', async (t) => {
  for (const payload of ['[1,2]', '"a string"', '42', 'true']) {
    const res = await app.inject({ method: 'PATCH', url: `/api/v1/users/${String(owner.id)}`, headers: { ...auth, 'content-type': 'application/json' }, payload })
    assertError(t, res, 400, 'BAD_REQUEST')
  }
})

t.test('a body over 1 MiB is 413 PAYLOAD_TOO_LARGE as JSON, urlencoded and multipart, with or without credentials', async (t) => {
  const big = 'a'.repeat(MiB + 10)
  const boundary = 'bigBoundary'
  const cases = [
    { 'content-type': 'application/json', payload: JSON.stringify({ full_name: big }) },
    { 'content-type': 'application/x-www-form-urlencoded', payload: `full_name=${big}` },
    { 'content-type': `multipart/form-data; boundary=${boundary}`, payload: multipartBody(boundary, [['full_name', big]]) },
    // Many fields each under the per-field limit: still one body over the limit.
    { 'content-type': `multipart/form-data; boundary=${boundary}`, payload: multipartBody(boundary, Array.from({ length: 5 }, (_, i) => [`f${i}`, 'b'.repeat(MiB / 4)])) }
  ]
  for (const c of cases) {
    for (const headers of [auth, {}]) {
      const res = await app.inject({ method: 'PATCH', url: `/api/v1/users/${String(owner.id)}`, headers: { ...headers, 'content-type': c['content-type'] }, payload: c.payload })
      t.same(assertError(t, res, 413, 'PAYLOAD_TOO_LARGE'), { result: 'error', msg: 'Request body too large', code: 'PAYLOAD_TOO_LARGE' }, c['content-type'])
    }
  }
  const me = body(await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: auth }))
  t.not(me.data.user.full_name, big.slice(0, 100), 'nothing was applied')
})

t.test('a GET never reads a body: one declared over 1 MiB is 413 before authentication, a small one is ignored', async (t) => {
  const big = JSON.stringify({ x: 'a'.repeat(MiB + 10) })
  for (const headers of [auth, {}]) {
    for (const url of ['/api/v1/users/me', `/api/v1/users/${String(owner.id)}`]) {
      const res = await app.inject({ method: 'GET', url, headers: { ...headers, 'content-type': 'application/json' }, payload: big })
      t.same(assertError(t, res, 413, 'PAYLOAD_TOO_LARGE'), { result: 'error', msg: 'Request body too large', code: 'PAYLOAD_TOO_LARGE' }, url)
    }
  }
  const small = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify({ full_name: 'ignored' }) })
  t.equal(small.statusCode, 200)
  t.equal(body(small).data.user.user_id, owner.id)
  t.notOk('ignored_parameters_unsupported' in body(small).data, 'a GET body is not read, so nothing in it is listed')
  // Without a declared length (chunked) the body is left unread, whatever its type.
  const boundary = 'getBoundary'
  const chunked = await app.inject({
    method: 'GET',
    url: '/api/v1/users/me',
    headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: Readable.from([Buffer.from(multipartBody(boundary, [['full_name', 'd'.repeat(2 * MiB)]]))])
  })
  t.equal(chunked.statusCode, 200)
  t.equal(body(chunked).data.user.user_id, owner.id)
})

t.test('a multipart body without Content-Length is refused before it is read, since busboy has no total limit', async (t) => {
  const boundary = 'streamBoundary'
  const payload = multipartBody(boundary, [['full_name', 'c'.repeat(2 * MiB)]])
  const res = await app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${String(owner.id)}`,
    headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: Readable.from([Buffer.from(payload)])
  })
  assertError(t, res, 400, 'BAD_REQUEST', 'A multipart body needs a Content-Length header')
})

t.test('a body of another media type is 415 UNSUPPORTED_MEDIA_TYPE naming the type', async (t) => {
  for (const type of ['text/plain', 'application/xml', 'text/csv']) {
    const res = await app.inject({ method: 'PATCH', url: `/api/v1/users/${String(owner.id)}`, headers: { ...auth, 'content-type': type }, payload: 'full_name=x' })
    assertError(t, res, 415, 'UNSUPPORTED_MEDIA_TYPE', `Unsupported media type: ${type}`)
  }
  const none = await app.inject({ method: 'PATCH', url: `/api/v1/users/${String(owner.id)}`, headers: auth, payload: 'full_name=x' })
  assertError(t, none, 415, 'UNSUPPORTED_MEDIA_TYPE')
})

t.test('a malformed multipart body is 400 BAD_REQUEST, never a 500', async (t) => {
  const url = `/api/v1/users/${String(owner.id)}`
  for (const [contentType, payload] of [
    ['multipart/form-data', 'no boundary'],
    ['multipart/form-data; boundary=zz', 'garbage without parts'],
    ['multipart/form-data; boundary=zz', '--zz\r\nContent-Disposition: form-data; name="full_name"\r\n\r\ncut short'],
    [`multipart/form-data; boundary=${'x'.repeat(300)}`, 'long boundary']
  ] as const) {
    const res = await app.inject({ method: 'PATCH', url, headers: { ...auth, 'content-type': contentType }, payload })
    assertError(t, res, 400, 'BAD_REQUEST')
  }
})

t.test('an unexpected error is an opaque 500, and its cause is logged with the request id', async (t) => {
  const list = app.users.list
  t.teardown(() => { app.users.list = list })
  app.users.list = async () => { throw new Error('disk /var/lib/parley exploded') }

  const res = await app.inject({ method: 'GET', url: '/api/v1/users', headers: auth })
  t.equal(res.statusCode, 500)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.same(body(res), { result: 'error', msg: 'Internal server error', code: 'INTERNAL_SERVER_ERROR' })
  t.notMatch(res.payload, /exploded|\/var\/lib|stack|at /)

  const cause = logLines.find((l) => l.err?.message === 'disk /var/lib/parley exploded')
  t.ok(cause, 'the cause is logged')
  t.equal(cause.level, 50)
  t.match(cause.reqId, /\S/)
  t.match(cause.err.stack, /exploded/)
  const access = logLines.find((l) => l.reqId === cause.reqId && l.statusCode === 500)
  t.ok(access, 'the access line of the same request says 500')
})

t.test('a SyntaxError thrown by our own code is a 500, not the client\'s INVALID_JSON', async (t) => {
  const list = app.users.list
  t.teardown(() => { app.users.list = list })
  app.users.list = async () => JSON.parse('{stored but broken')

  const res = await app.inject({ method: 'GET', url: '/api/v1/users', headers: auth })
  t.same(assertError(t, res, 500, 'INTERNAL_SERVER_ERROR'), { result: 'error', msg: 'Internal server error', code: 'INTERNAL_SERVER_ERROR' })
})

t.test('errors keep their extra fields and headers: 405 carries allowed_methods and Allow', async (t) => {
  const res = await app.inject({ method: 'PUT', url: '/api/v1/server_settings' })
  t.equal(res.headers.allow, 'GET, HEAD')
  t.same(assertError(t, res, 405, 'METHOD_NOT_ALLOWED'), { result: 'error', msg: 'Method Not Allowed', code: 'METHOD_NOT_ALLOWED', allowed_methods: ['GET', 'HEAD'] })
})

t.test('a coded error captures no stack (it is an answer), and other errors still do', async (t) => {
  const limit = Error.stackTraceLimit
  const err = errors.rateLimited(3)
  t.ok(err instanceof ParleyError)
  t.equal(err.stack, 'ParleyError: API usage exceeded rate limit', 'name and message only')
  t.equal(Error.stackTraceLimit, limit, 'the limit is restored')
  t.match(new Error('plain').stack, /\n\s+at /, 'a plain Error keeps its frames')
})
