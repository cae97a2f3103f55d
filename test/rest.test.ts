// The verb table (SPEC §3): OPTIONS, HEAD, 405, 404, and parameters from the query and every body encoding.
import t from 'tap'
import type { FastifyInstance, FastifyReply, FastifyRequest, LightMyRequestResponse, onRequestHookHandler } from 'fastify'
import { Type } from 'typebox'
import { ParleyError } from '../plugins/app/errors.js'
import { inSequence, parseParams, planParams } from '../plugins/app/http/rest.js'
import { body, build } from './helper.js'

// One app for the file: every test below either reads or creates uniquely named users.
const { app, owner } = await build(t)
const auth = { authorization: owner.auth }

/** A declared path with every `:param` replaced by an existing-looking id. */
function concrete (path: string): string {
  return path.replace(/:\w+/g, '5')
}

function multipart (fields: Record<string, string>, boundary = 'parleyTestBoundary42'): { payload: string, contentType: string } {
  let payload = ''
  for (const [name, value] of Object.entries(fields)) {
    payload += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
  }
  payload += `--${boundary}--\r\n`
  return { payload, contentType: `multipart/form-data; boundary=${boundary}` }
}

type Asserts = Pick<typeof t, 'equal' | 'type'>

function assertError (t: Asserts, res: LightMyRequestResponse, status: number, code: string): any {
  t.equal(res.statusCode, status, `status ${status}`)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  const b = body(res)
  t.equal(b.result, 'error')
  t.equal(b.code, code)
  t.type(b.msg, 'string')
  return b
}

async function userByEmail (email: string): Promise<any> {
  const res = await app.inject({ method: 'GET', url: '/api/v1/users?include_deactivated=true', headers: auth })
  return body(res).data.members.find((m: any) => m.email === email)
}

t.test('OPTIONS on every declared path answers 204 with the sorted Allow header, without credentials, on both mounts', async (t) => {
  t.ok(app.resources.length > 0)
  for (const r of app.resources) {
    const declared = Object.keys(r.verbs)
    const expected = [...declared, ...(declared.includes('GET') ? ['HEAD'] : [])].sort().join(', ')
    for (const prefix of ['/api/v1', '/json']) {
      const res = await app.inject({ method: 'OPTIONS', url: prefix + concrete(r.path) })
      t.equal(res.statusCode, 204, `${prefix}${r.path}`)
      t.equal(res.headers.allow, expected, `${prefix}${r.path}`)
      t.equal(res.payload, '')
    }
  }
})

t.test('OPTIONS answers the examples of the spec', async (t) => {
  for (const [url, allow] of [
    ['/api/v1/users', 'GET, HEAD, PUT'],
    ['/api/v1/users/5', 'DELETE, GET, HEAD, PATCH'],
    ['/json/users/5', 'DELETE, GET, HEAD, PATCH'],
    ['/api/v1/users/me', 'GET, HEAD'],
    ['/api/v1/fetch_api_key', 'POST']
  ] as const) {
    const res = await app.inject({ method: 'OPTIONS', url })
    t.equal(res.statusCode, 204, url)
    t.equal(res.headers.allow, allow, url)
    t.equal(res.payload, '')
  }
})

t.test('an undeclared verb answers 405 METHOD_NOT_ALLOWED with Allow and allowed_methods, even without credentials', async (t) => {
  for (const [method, url, allowed] of [
    ['POST', '/api/v1/users', ['GET', 'HEAD', 'PUT']],
    ['DELETE', '/api/v1/users/me', ['GET', 'HEAD']],
    ['PATCH', '/json/users', ['GET', 'HEAD', 'PUT']],
    ['GET', '/api/v1/fetch_api_key', ['POST']],
    ['HEAD', '/api/v1/fetch_api_key', ['POST']],
    ['POST', '/api/v1/users/5', ['DELETE', 'GET', 'HEAD', 'PATCH']]
  ] as const) {
    for (const headers of [{}, auth]) {
      const res = await app.inject({ method, url, headers })
      t.equal(res.statusCode, 405, `${method} ${url}`)
      t.equal(res.headers.allow, allowed.join(', '))
      if (method === 'HEAD') {
        t.equal(res.payload, '')
        continue
      }
      t.same(body(res), { result: 'error', msg: 'Method Not Allowed', code: 'METHOD_NOT_ALLOWED', allowed_methods: allowed })
    }
  }
})

t.test('an undeclared verb with a multipart or JSON body still answers 405, and OPTIONS with a body 204', async (t) => {
  const form = multipart({ full_name: 'x' })
  for (const [payload, contentType] of [[form.payload, form.contentType], ['{"full_name":"x"}', 'application/json']] as const) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/users', headers: { ...auth, 'content-type': contentType }, payload })
    t.equal(res.statusCode, 405, contentType)
    t.equal(res.headers.allow, 'GET, HEAD, PUT')
    t.match(body(res), { code: 'METHOD_NOT_ALLOWED' })
  }
  const options = await app.inject({ method: 'OPTIONS', url: '/api/v1/users/me', headers: { 'content-type': form.contentType }, payload: form.payload })
  t.equal(options.statusCode, 204)
  t.equal(options.headers.allow, 'GET, HEAD')
})

t.test('HEAD /api/v1/users/me answers the status and headers of GET, with no body', async (t) => {
  const get = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: auth })
  const head = await app.inject({ method: 'HEAD', url: '/api/v1/users/me', headers: auth })
  t.equal(head.statusCode, 200)
  t.equal(head.statusCode, get.statusCode)
  t.equal(head.headers['content-type'], get.headers['content-type'])
  t.equal(head.headers['content-length'], get.headers['content-length'])
  t.equal(head.payload, '')

  const anonGet = await app.inject({ method: 'GET', url: '/api/v1/users/me' })
  const anonHead = await app.inject({ method: 'HEAD', url: '/api/v1/users/me' })
  t.equal(anonHead.statusCode, 401)
  t.equal(anonHead.statusCode, anonGet.statusCode)
  t.equal(anonHead.headers['www-authenticate'], anonGet.headers['www-authenticate'])
  t.equal(anonHead.payload, '')
})

t.test('an unknown API path answers 404 NOT_FOUND in JSON, with or without credentials', async (t) => {
  for (const [url, headers] of [
    ['/api/v1/nope', {}],
    ['/api/v1/nope', auth],
    ['/json/nope', {}],
    ['/api/v1/users/5/nope', auth]
  ] as const) {
    const res = await app.inject({ method: 'GET', url, headers })
    t.same(assertError(t, res, 404, 'NOT_FOUND'), { result: 'error', msg: 'Not found', code: 'NOT_FOUND' }, url)
  }
  const options = await app.inject({ method: 'OPTIONS', url: '/api/v1/nope' })
  assertError(t, options, 404, 'NOT_FOUND')
})

t.test('a trailing slash is 404, not the parameterised route', async (t) => {
  for (const url of ['/api/v1/users/', '/json/users/', '/api/v1/users/me/', '/api/v1/users/5/', '/api/v1/server_settings/']) {
    for (const method of ['GET', 'OPTIONS', 'POST'] as const) {
      for (const headers of [{}, auth]) {
        const res = await app.inject({ method, url, headers })
        assertError(t, res, 404, 'NOT_FOUND')
        t.equal(res.headers.allow, undefined, `${method} ${url}`)
      }
    }
  }
})

t.test('the success envelope has result, empty msg and a data object, as JSON utf-8', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/server_settings' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  const b = body(res)
  t.same(Object.keys(b).sort(), ['data', 'msg', 'result'])
  t.equal(b.result, 'success')
  t.equal(b.msg, '')
  t.match(b.data, { realm_name: 'Parley', version: String })
})

t.test('GET parameters come from the query; a boolean arrives as its JSON text', async (t) => {
  const created = await app.inject({ method: 'PUT', url: '/api/v1/users', headers: auth, payload: { email: 'gone@example.com', password: 'password123', full_name: 'Gone' } })
  t.equal(created.statusCode, 200)
  const id = body(created).data.user_id
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/users/${String(id)}`, headers: auth })).statusCode, 200)

  const without = body(await app.inject({ method: 'GET', url: '/api/v1/users', headers: auth }))
  t.notOk(without.data.members.some((m: any) => m.user_id === id))
  const withIt = await app.inject({ method: 'GET', url: '/api/v1/users?include_deactivated=true', headers: auth })
  t.equal(withIt.statusCode, 200)
  t.ok(body(withIt).data.members.some((m: any) => m.user_id === id && m.is_active === false))
  t.equal(body(withIt).data.ignored_parameters_unsupported, undefined)

  const bad = await app.inject({ method: 'GET', url: '/api/v1/users?include_deactivated=maybe', headers: auth })
  t.equal(assertError(t, bad, 400, 'REQUEST_VARIABLE_INVALID').var_name, 'include_deactivated')
})

t.test('PUT parameters come from the query string too', async (t) => {
  const res = await app.inject({
    method: 'PUT',
    url: '/api/v1/users?email=query%40example.com&password=password123&full_name=Query&role=admin',
    headers: auth
  })
  t.equal(res.statusCode, 200)
  t.match(body(res), { result: 'success', msg: '', data: { user_id: Number } })
  t.match(await userByEmail('query@example.com'), { full_name: 'Query', role: 'admin' })
})

t.test('PUT parameters come from a JSON body', async (t) => {
  const res = await app.inject({
    method: 'PUT',
    url: '/api/v1/users',
    headers: { ...auth, 'content-type': 'application/json' },
    payload: JSON.stringify({ email: 'json@example.com', password: 'password123', full_name: 'Json', role: 'guest' })
  })
  t.equal(res.statusCode, 200)
  t.match(await userByEmail('json@example.com'), { full_name: 'Json', role: 'guest' })
})

t.test('PUT parameters come from an urlencoded form', async (t) => {
  const res = await app.inject({
    method: 'PUT',
    url: '/api/v1/users',
    headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'email=form%40example.com&password=password123&full_name=Form+User&role=admin'
  })
  t.equal(res.statusCode, 200)
  t.match(await userByEmail('form@example.com'), { full_name: 'Form User', role: 'admin' })
})

t.test('PUT parameters come from a multipart body; unknown ones are listed sorted and client is consumed', async (t) => {
  const { payload, contentType } = multipart({
    zeta: '1',
    email: 'multi@example.com',
    password: 'password123',
    full_name: 'Multi Part',
    role: 'admin',
    client: 'test-suite',
    alpha: 'x'
  })
  const res = await app.inject({ method: 'PUT', url: '/api/v1/users', headers: { ...auth, 'content-type': contentType }, payload })
  t.equal(res.statusCode, 200)
  t.same(body(res).data.ignored_parameters_unsupported, ['alpha', 'zeta'])
  t.match(await userByEmail('multi@example.com'), { full_name: 'Multi Part', role: 'admin' })
})

t.test('PATCH and DELETE take parameters from the query and the body alike', async (t) => {
  const created = body(await app.inject({ method: 'PUT', url: '/api/v1/users', headers: auth, payload: { email: 'patch@example.com', password: 'password123', full_name: 'Before' } }))
  const url = `/api/v1/users/${String(created.data.user_id)}`
  const q = await app.inject({ method: 'PATCH', url: `${url}?full_name=Middle`, headers: auth })
  t.same(body(q), { result: 'success', msg: '', data: {} })
  t.equal((await userByEmail('patch@example.com')).full_name, 'Middle')

  const { payload, contentType } = multipart({ full_name: 'After', role: 'guest' })
  const m = await app.inject({ method: 'PATCH', url, headers: { ...auth, 'content-type': contentType }, payload })
  t.equal(m.statusCode, 200)
  t.match(await userByEmail('patch@example.com'), { full_name: 'After', role: 'guest' })

  const d = await app.inject({ method: 'DELETE', url: `${url}?client=cli&extra=1`, headers: auth })
  t.equal(d.statusCode, 200)
  t.same(body(d).data, { ignored_parameters_unsupported: ['extra'] })
})

t.test('unknown parameters from query and body are listed together, sorted; client is not listed', async (t) => {
  const res = await app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${String(owner.id)}?mango=1&client=x`,
    headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'banana=2&apple=3&full_name=Owner'
  })
  t.equal(res.statusCode, 200)
  t.same(body(res), { result: 'success', msg: '', data: { ignored_parameters_unsupported: ['apple', 'banana', 'mango'] } })
})

t.test('a name given both in the query and the body is 400 BAD_REQUEST', async (t) => {
  const res = await app.inject({
    method: 'PUT',
    url: '/api/v1/users?email=a%40example.com',
    headers: auth,
    payload: { email: 'b@example.com', password: 'password123', full_name: 'Twice' }
  })
  const b = assertError(t, res, 400, 'BAD_REQUEST')
  t.match(b.msg, /email/)
  t.equal(await userByEmail('a@example.com'), undefined)
  t.equal(await userByEmail('b@example.com'), undefined)
})

t.test('the first failing parameter, in declaration order, names the error', async (t) => {
  const missing = await app.inject({ method: 'PUT', url: '/api/v1/users', headers: auth, payload: { password: 'x' } })
  t.same(assertError(t, missing, 400, 'REQUEST_VARIABLE_MISSING'),
    { result: 'error', msg: "Missing 'email' argument", code: 'REQUEST_VARIABLE_MISSING', var_name: 'email' })

  const invalid = await app.inject({ method: 'PUT', url: '/api/v1/users', headers: auth, payload: { email: 'not-an-email', password: 'x' } })
  const b = assertError(t, invalid, 400, 'REQUEST_VARIABLE_INVALID')
  t.equal(b.var_name, 'email')
  t.match(b.msg, /email/)

  const password = await app.inject({ method: 'PUT', url: '/api/v1/users', headers: auth, payload: { email: 'short@example.com', password: 'x' } })
  t.equal(assertError(t, password, 400, 'REQUEST_VARIABLE_INVALID').var_name, 'password')

  const role = await app.inject({
    method: 'PUT',
    url: '/api/v1/users',
    headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'email=role%40example.com&password=password123&full_name=R&role=emperor'
  })
  t.equal(assertError(t, role, 400, 'REQUEST_VARIABLE_INVALID').var_name, 'role')
  t.equal(await userByEmail('role@example.com'), undefined)
})

t.test('a path parameter is typed: /api/v1/users/abc is 400 REQUEST_VARIABLE_INVALID for user_id', async (t) => {
  for (const id of ['abc', '1.5', '0']) {
    const res = await app.inject({ method: 'GET', url: `/api/v1/users/${id}`, headers: auth })
    t.equal(assertError(t, res, 400, 'REQUEST_VARIABLE_INVALID').var_name, 'user_id', id)
  }
  const ok = await app.inject({ method: 'GET', url: `/api/v1/users/${String(owner.id)}`, headers: auth })
  t.equal(ok.statusCode, 200)
  t.equal(body(ok).data.user.user_id, owner.id)
})

// The form encodings carry only text: a typed parameter arrives as its JSON text (SPEC §3).
t.test('typed parameters arrive as JSON text in forms and queries', async (t) => {
  const plan = planParams(Type.Object({
    thing_id: Type.Integer(),
    num_after: Type.Integer({ minimum: 0 }),
    dont_block: Type.Boolean({ default: false }),
    to: Type.Array(Type.Integer()),
    anchor: Type.Union([Type.Integer(), Type.Literal('newest')]),
    topic: Type.Optional(Type.String())
  }), '/things/:thing_id')
  const parse = (body: Record<string, unknown>, query: Record<string, unknown> = {}): Record<string, unknown> => {
    const request = { params: { thing_id: '7' }, query, body, notes: { client: '', clientVersion: '' } } as unknown as FastifyRequest
    return parseParams(plan, request, true).params
  }
  const failure = (fn: () => unknown): ParleyError => {
    try { fn() } catch (err) { if (err instanceof ParleyError) return err }
    throw new Error('expected a ParleyError')
  }

  t.same(parse({ num_after: '5', dont_block: 'true', to: '[3,4]', anchor: 'newest', topic: '42' }),
    { thing_id: 7, num_after: 5, dont_block: true, to: [3, 4], anchor: 'newest', topic: '42' })
  t.same(parse({}, { num_after: '0', to: '[]', anchor: '12' }), { thing_id: 7, num_after: 0, dont_block: false, to: [], anchor: 12 })
  t.same(parse({ num_after: 5, to: [1], anchor: 3, dont_block: true }), { thing_id: 7, num_after: 5, dont_block: true, to: [1], anchor: 3 }, 'JSON bodies keep their types')

  const notJson = failure(() => parse({ num_after: '1', to: '[3,', anchor: '1' }))
  t.match(notJson, { code: 'INVALID_JSON', extra: { var_name: 'to' } })
  const notInt = failure(() => parse({ num_after: 'five', to: '[]', anchor: '1' }))
  t.match(notInt, { code: 'REQUEST_VARIABLE_INVALID', extra: { var_name: 'num_after' } })
  const negative = failure(() => parse({ num_after: '-1', to: '[]', anchor: '1' }))
  t.match(negative, { code: 'REQUEST_VARIABLE_INVALID', extra: { var_name: 'num_after' } })
  const badAnchor = failure(() => parse({ num_after: '1', to: '[]', anchor: 'oldest-ish' }))
  t.match(badAnchor, { code: 'REQUEST_VARIABLE_INVALID', extra: { var_name: 'anchor' } })
  const missing = failure(() => parse({ to: '[]' }))
  t.match(missing, { code: 'REQUEST_VARIABLE_MISSING', message: "Missing 'num_after' argument", extra: { var_name: 'num_after' } })
})

t.test('inSequence runs callback hooks in order as one, as Fastify would: first error, a throw, a sent reply end it', async (t) => {
  const calls: string[] = []
  const hook = (name: string, outcome?: 'error' | 'throw' | 'send'): onRequestHookHandler => function (this: FastifyInstance, _request, reply, done) {
    calls.push(name)
    t.equal(this, app, `${name} runs with the server as this`)
    if (outcome === 'throw') throw new Error(name)
    if (outcome === 'send') (reply as { sent: boolean }).sent = true
    done(outcome === 'error' ? new Error(name) : undefined)
  }
  const run = async (hooks: onRequestHookHandler[]): Promise<Error | undefined> => {
    calls.length = 0
    const one = inSequence(hooks)
    if (typeof one !== 'function') throw new Error('not combined')
    const reply = { sent: false } as unknown as FastifyReply
    return await new Promise((resolve) => { one.call(app, {} as FastifyRequest, reply, (err?: Error) => { resolve(err) }) })
  }
  t.equal(await run([hook('a'), hook('b'), hook('c')]), undefined)
  t.same(calls, ['a', 'b', 'c'])
  t.match(await run([hook('a'), hook('b', 'error'), hook('c')]), { message: 'b' })
  t.same(calls, ['a', 'b'])
  t.match(await run([hook('a', 'throw'), hook('b')]), { message: 'a' })
  t.same(calls, ['a'])
  t.equal(await run([hook('a', 'send'), hook('b')]), undefined)
  t.same(calls, ['a'], 'nothing runs after a reply is sent')
  // Async hooks and single hooks stay Fastify's to run.
  const asyncHook: onRequestHookHandler = async function () {}
  t.ok(Array.isArray(inSequence([hook('a'), asyncHook])), 'with an async hook: the list as it was')
  t.ok(Array.isArray(inSequence([hook('a')])), 'one hook: the list as it was')
})
