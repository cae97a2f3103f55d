// Fuzzing every declared route with every method (issue 2 point 10): random paths, queries,
// bodies and headers never produce a 5xx, and every answer keeps the envelope of SPEC §2.
import t from 'tap'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import type { Resource } from '../plugins/app/http/rest.js'
import { SESSION_COOKIE } from '../plugins/app/http/sessions.js'
import { basic, build } from './helper.js'

// A held long-poll must not stall a run.
const { app, owner, createUser } = await build(t, { PARLEY_HEARTBEAT_SECONDS: '1' })

// Extra users to be edited or deactivated, so the owner keeps working.
const seeded = [
  await createUser('fuzz-admin@example.com', 'admin'),
  await createUser('fuzz-member@example.com', 'member'),
  await createUser('fuzz-guest@example.com', 'guest'),
  await createUser('fuzz-spare@example.com', 'member')
]
const knownIds = [owner.id, ...seeded.map((u) => u.id), 99999]
const session = await app.sessions.create(owner.id)

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
const TOTAL_RUNS = Number(process.env.FUZZ_RUNS ?? 480)
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)

/** The owner's credentials as they are now: a fuzzed request may have regenerated the key. */
async function ownerAuth (): Promise<string> {
  const row = await app.users.getRowByEmail(owner.email)
  return basic(owner.email, row?.api_key ?? owner.apiKey)
}

const pathValue = fc.oneof(
  { arbitrary: fc.constantFrom(...knownIds.map(String)), weight: 4 },
  fc.integer({ min: -10, max: 2 ** 53 }).map(String),
  fc.string({ maxLength: 12 }).map(encodeURIComponent)
)

/** A JSON value as the text a form field would carry, or a plain string. */
const fieldValue = fc.oneof(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? 'null'))

function paramNames (r: Resource): string[] {
  const names = new Set<string>(['client'])
  for (const spec of Object.values(r.verbs)) for (const name of Object.keys(spec?.params?.properties ?? {})) names.add(name)
  return [...names]
}

function fieldsOf (names: string[]): fc.Arbitrary<Record<string, string>> {
  return fc.dictionary(fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 8 })), fieldValue, { maxKeys: 6 })
}

function multipart (fields: Record<string, string>, boundary: string): string {
  return Object.entries(fields)
    .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`).join('') + `--${boundary}--\r\n`
}

interface Body { contentType?: string, payload?: string | Buffer }

function bodies (names: string[]): fc.Arbitrary<Body> {
  const fields = fieldsOf(names)
  return fc.oneof(
    fc.constant({}),
    fc.dictionary(fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 8 })), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 })
      .map((o) => ({ contentType: 'application/json', payload: JSON.stringify(o) })),
    fc.jsonValue({ maxDepth: 2 }).map((v) => ({ contentType: 'application/json', payload: JSON.stringify(v) ?? '' })),
    fields.map((f) => ({ contentType: 'application/x-www-form-urlencoded', payload: new URLSearchParams(f).toString() })),
    fc.tuple(fields, fc.constantFrom('fuzzBoundary', 'x', '----b0undary')).map(([f, b]) => ({ contentType: `multipart/form-data; boundary=${b}`, payload: multipart(f, b) })),
    fc.tuple(
      fc.oneof(
        fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'multipart/form-data', 'multipart/form-data; boundary=zz',
          'text/plain', 'application/xml', 'application/octet-stream', 'application/json; charset=utf-16', ''),
        fc.string({ maxLength: 30 })
      ),
      fc.uint8Array({ maxLength: 200 })
    ).map(([contentType, bytes]) => ({ contentType, payload: Buffer.from(bytes) }))
  )
}

// Mostly valid credentials, so most requests get past authentication to the handlers.
const authorization = fc.oneof(
  fc.constant<'none'>('none'),
  // The owner's valid credentials for the mount: Basic on /api/v1, a session on /json.
  { arbitrary: fc.constant<'owner'>('owner'), weight: 6 },
  fc.constant<'session'>('session'),
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 40 }).map((s) => 'Basic ' + Buffer.from(s).toString('base64')),
  { arbitrary: fc.constantFrom(...seeded.map((u) => u.auth)), weight: 2 }
)

const extraHeaders = fc.record({
  'user-agent': fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
  'content-encoding': fc.option(fc.constantFrom('gzip', 'br', 'identity', 'x-nope'), { nil: undefined, freq: 6 }),
  'x-csrf-token': fc.option(fc.string({ maxLength: 30 }), { nil: undefined })
}, { requiredKeys: [] })

/** Throws, with what was sent, unless the answer keeps the contract. */
function check (method: string, res: LightMyRequestResponse): void {
  const fail = (why: string): never => { throw new Error(`${why}: ${res.statusCode} ${res.payload.slice(0, 300)}`) }
  if (res.statusCode >= 500) fail('a 5xx')
  if (method === 'HEAD') {
    if (res.payload !== '') fail('HEAD with a body')
    return
  }
  if (method === 'OPTIONS' && res.statusCode === 204) {
    if (res.payload !== '' || typeof res.headers.allow !== 'string') fail('OPTIONS 204 without Allow or with a body')
    return
  }
  if (res.headers['content-type'] !== 'application/json; charset=utf-8') fail(`content-type ${String(res.headers['content-type'])}`)
  let b: any
  try { b = JSON.parse(res.payload) } catch { fail('not JSON') }
  if (b.result === 'success') {
    if (res.statusCode !== 200 || b.msg !== '' || typeof b.data !== 'object' || b.data === null || Array.isArray(b.data)) fail('a bad success envelope')
  } else if (b.result === 'error') {
    if (typeof b.msg !== 'string' || typeof b.code !== 'string' || res.statusCode < 400) fail('a bad error envelope')
    if (b.code === 'METHOD_NOT_ALLOWED' && (res.headers.allow !== b.allowed_methods.join(', '))) fail('405 without a matching Allow')
  } else {
    fail('no result')
  }
}

const statuses = new Map<number, number>()
const runsPerResource = Math.max(10, Math.ceil(TOTAL_RUNS / app.resources.length))

for (const r of app.resources) {
  t.test(`random requests to ${r.path} never answer 5xx and keep the envelope`, async (t) => {
    const names = paramNames(r)
    let runs = 0
    await fc.assert(fc.asyncProperty(
      fc.oneof({ arbitrary: fc.constantFrom(...Object.keys(r.verbs)), weight: 3 }, fc.constantFrom(...METHODS)),
      fc.constantFrom('/api/v1', '/api/v1', '/json'),
      fc.array(pathValue, { minLength: 4, maxLength: 4 }),
      fc.oneof({ arbitrary: fc.constant(''), weight: 8 }, fc.constantFrom('/', '/nope')),
      fieldsOf(names),
      bodies(names),
      authorization,
      extraHeaders,
      async (method, prefix, values, suffix, query, body, who, extra) => {
        let i = 0
        const path = prefix + r.path.replace(/:\w+/g, () => values[i++] ?? '1') + suffix
        const qs = new URLSearchParams(query).toString()
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(extra)) if (v !== undefined) headers[k] = v
        if (who === 'owner' && prefix === '/api/v1') headers.authorization = await ownerAuth()
        else if (who === 'owner' || who === 'session') {
          headers.cookie = `${SESSION_COOKIE}=${session.token}`
          headers['x-csrf-token'] = session.csrfToken
        } else if (who !== 'none') headers.authorization = who
        if (body.contentType !== undefined && body.contentType !== '') headers['content-type'] = body.contentType
        const res = await app.inject({ method, url: qs === '' ? path : `${path}?${qs}`, headers, ...(body.payload === undefined ? {} : { payload: body.payload }) })
        runs++
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
        try {
          check(method, res)
        } catch (err) {
          throw new Error(`${method} ${path}?${qs} ${JSON.stringify(headers)} ${String(body.payload?.slice(0, 200))}: ${(err as Error).message}`)
        }
      }
    ), { numRuns: runsPerResource, ...(seed === undefined ? {} : { seed }) })
    t.equal(runs, runsPerResource, `${runs} requests kept the contract`)
  })
}

t.test('the fuzzing reached handlers, not only the front door', async (t) => {
  t.comment(`statuses seen: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`)
  t.ok((statuses.get(200) ?? 0) > 0, 'some requests succeeded')
  t.ok((statuses.get(204) ?? 0) > 0, 'some OPTIONS were answered')
  t.ok([...statuses.keys()].some((s) => s === 400), 'some requests failed validation')
  t.notOk([...statuses.keys()].some((s) => s >= 500), 'no 5xx')
  const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: await ownerAuth() } })
  t.equal(me.statusCode, 200, 'the owner still works after the fuzzing')
})
