// The verb table (SPEC §3): a resource is a path with a table of verbs; this
// plugin mounts every table under /api/v1 (HTTP Basic) and /json (session),
// and from the same table answers OPTIONS, HEAD, 405, parameter parsing and
// validation, and the success envelope. Routes never repeat any of it.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { Type, type Static, type TObject, type TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Validator } from 'typebox/compile'
import type { Access, Mount } from './auth.js'
import { errors, reason, type Keyed } from '../errors.js'
import { firstReason } from './schema-reason.js'
import { setClientParam } from './notes.js'
import cookie from '../../external/cookie.js'
import multipart from '../../external/multipart.js'
import type { User } from '../stores/users.js'

export type Verb = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
export const VERBS: Verb[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']

export interface Ctx<P, A extends Access> {
  params: P
  /** The caller; null only on anonymous verbs called without credentials. */
  user: A extends 'anonymous' ? User | null : User
  request: FastifyRequest
  reply: FastifyReply
  app: FastifyInstance
}

export interface VerbSpec<P extends TObject = TObject, D extends TObject = TObject, A extends Access = Access> {
  /** One line, shown in the OpenAPI document and /api. */
  summary: string
  description: string
  /** Default 'user'. */
  access?: A
  /** Counted against the per-user / per-IP limits; default true. */
  rateLimited?: boolean
  /** Incoming-webhook bots may call it (SPEC §10: POST /messages only); default false, 403 for them. */
  webhookBots?: boolean
  /** Every parameter (path, query, body) as one object schema, in the order validation reports. */
  params?: P
  /** The schema of the `data` object of the success envelope. */
  response: D
  /**
   * How the answer is written. 'schema' (default): fast-json-stringify from `response`,
   * which also drops any property the schema does not declare. 'json': JSON.stringify,
   * for answers the stores build field by field (never a database row): on Node 20
   * fast-json-stringify escapes short strings in a JavaScript loop, ~15 % of a page of
   * 50 messages (docs/performance.md). test/serializer.test.ts checks that every such
   * answer has exactly the declared properties.
   */
  serializer?: 'schema' | 'json'
  handler: (ctx: Ctx<Static<P>, A>) => Promise<Static<D>> | Static<D>
}

export interface Resource {
  /** Fastify path syntax: `/users/:user_id`. */
  path: string
  verbs: Partial<Record<Verb, VerbSpec<any, any, any>>>
}

/** Declares one verb; the generics make the handler's params and result typed by the schemas. */
export function verb<P extends TObject = TObject<{}>, D extends TObject = TObject, A extends Access = 'user'> (spec: VerbSpec<P, D, A>): VerbSpec<NoInfer<P>, NoInfer<D>, NoInfer<A>> {
  return spec
}

export function resource (path: string, verbs: Resource['verbs']): Resource {
  return { path, verbs }
}

/** Declared verbs plus HEAD where GET is declared, sorted: the `Allow` header. */
export function allowedMethods (r: Resource): string[] {
  const methods = Object.keys(r.verbs)
  if (methods.includes('GET')) methods.push('HEAD')
  return methods.sort()
}

export const IGNORED = 'ignored_parameters_unsupported'
/** Parameters every verb consumes without declaring them. */
const CONSUMED = new Set(['client'])

interface SuccessEnvelope { result: 'success', msg: '', data: Record<string, unknown> }

export function envelope (data: TObject): TObject {
  return Type.Object({
    result: Type.Literal('success'),
    msg: Type.String(),
    data: Type.Object({ ...data.properties, [IGNORED]: Type.Optional(Type.Array(Type.String())) })
  })
}

/** How a parameter's raw text is read: as-is, as JSON, or JSON when that validates and text otherwise. */
type Kind = 'string' | 'json' | 'mixed'

function acceptsString (s: any): boolean {
  if (s.type === 'string' || typeof s.const === 'string') return true
  if (Array.isArray(s.enum)) return s.enum.some((v: unknown) => typeof v === 'string')
  const alts = s.anyOf ?? s.oneOf
  return Array.isArray(alts) && alts.some(acceptsString)
}

function acceptsOther (s: any): boolean {
  const alts = s.anyOf ?? s.oneOf
  if (Array.isArray(alts)) return alts.some(acceptsOther)
  if (s.type !== undefined) return s.type !== 'string'
  if ('const' in s) return typeof s.const !== 'string'
  if (Array.isArray(s.enum)) return s.enum.some((v: unknown) => typeof v !== 'string')
  return true
}

function isStructured (s: any): boolean {
  const alts = s.anyOf ?? s.oneOf
  if (Array.isArray(alts)) return alts.some(isStructured)
  return s.type === 'array' || s.type === 'object'
}

export interface ParamPlan {
  name: string
  required: boolean
  kind: Kind
  structured: boolean
  check: Validator
  fallback: unknown
  inPath: boolean
}

export function planParams (params: TObject | undefined, path: string): ParamPlan[] {
  if (params === undefined) return []
  const required = new Set(params.required ?? [])
  const pathNames = new Set([...path.matchAll(/:(\w+)/g)].map((m) => m[1]))
  return Object.entries(params.properties as Record<string, TSchema>).map(([name, schema]) => {
    const s = schema as any
    const kind: Kind = !acceptsString(s) ? 'json' : acceptsOther(s) ? 'mixed' : 'string'
    return {
      name,
      required: required.has(name),
      kind,
      structured: isStructured(s),
      check: Compile(schema),
      fallback: s.default,
      inPath: pathNames.has(name)
    }
  })
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v)
}

/** The first character of a JSON text (after whitespace); the literals are checked in full by JSON.parse. */
const JSON_START = /^\s*(?:[-0-9"[{]|true|false|null)/

function readParam (p: ParamPlan, raw: unknown): unknown {
  if (Buffer.isBuffer(raw)) raw = raw.toString('utf8')
  if (typeof raw !== 'string' || p.kind === 'string') return raw
  // Text that cannot start a JSON value (`to=general`, `anchor=newest`) is taken as text
  // without a JSON.parse that throws: exceptions are slow on every request.
  if (p.kind === 'mixed' && !JSON_START.test(raw)) return raw
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    if (p.kind === 'mixed') return raw
    if (p.structured) throw errors.invalidJsonParam(p.name)
    throw errors.invalid(p.name, describe(p))
  }
  if (p.kind === 'mixed' && !p.check.Check(parsed)) return raw
  return parsed
}

function describe (p: ParamPlan): Keyed {
  const s = p.check.Type() as any
  return typeof s.type === 'string' ? reason('error.why.must_be_type', { type: String(s.type) }) : reason('error.why.must_be_valid')
}

/**
 * Gathers the parameters of a request (path, query, body), refuses a name given
 * twice, reads JSON text where the schema wants a typed value, and validates in
 * declaration order so the first failure names its variable.
 */
export function parseParams (plan: ParamPlan[], request: FastifyRequest, hasBody: boolean): { params: Record<string, unknown>, ignored: string[] } {
  const path = (request.params ?? {}) as Record<string, string>
  const query = (request.query ?? {}) as Record<string, unknown>
  let body: Record<string, unknown> = {}
  if (hasBody && request.body !== undefined && request.body !== null) {
    if (!isPlainObject(request.body)) throw errors.badRequest('error.body_not_object')
    body = request.body
  }
  for (const name of Object.keys(body)) {
    if (Object.hasOwn(query, name)) throw errors.badRequest('error.param_twice', { name })
  }
  if ('client' in body) setClientParam(request, body.client)

  const params: Record<string, unknown> = {}
  for (const p of plan) {
    const raw = p.inPath ? path[p.name] : Object.hasOwn(body, p.name) ? body[p.name] : query[p.name]
    if (raw === undefined) {
      if (p.fallback !== undefined) params[p.name] = structuredClone(p.fallback)
      else if (p.required) throw errors.missing(p.name)
      continue
    }
    const value = readParam(p, raw)
    if (!p.check.Check(value)) throw errors.invalid(p.name, firstReason(p.check, value))
    params[p.name] = value
  }
  // Plans are short: a scan costs less than building a set on every request.
  const unknown = (name: string): boolean => !CONSUMED.has(name) && !plan.some((p) => p.name === name)
  const ignored: string[] = []
  for (const name of Object.keys(query)) if (unknown(name)) ignored.push(name)
  for (const name of Object.keys(body)) if (unknown(name)) ignored.push(name)
  return { params, ignored: ignored.length > 1 ? ignored.sort() : ignored }
}

export interface MountOptions {
  prefix: '/api/v1' | '/json'
  mount: Mount
  resources: Resource[]
}

const BODY_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * The one onRequest guard of every route, before authentication:
 * - The router lets a path parameter match the empty string, so `/users/` would reach
 *   `/users/:user_id`; the spec wants no trailing slashes, hence 404.
 * - SPEC §2's body limit, on the declared length. Fastify enforces bodyLimit only on the
 *   bodies it parses itself; multipart is read by busboy, which has no total limit and
 *   silently truncates fields, so a multipart body must declare its length (every Zulip
 *   client and browser does). A GET's body is never read (its parameters are in the query),
 *   but one declared over the limit is 413 too; a chunked one is left unread, as Zulip does.
 */
function requestGuard (route: string, parsesBody: boolean, bodyLimit: number): onRequestHookHandler {
  const names = [...route.matchAll(/:(\w+)/g)].map((m) => m[1] as string)
  return function guard (request, _reply, done) {
    // For the access line: cheaper than Fastify's request.routeOptions, built on each read.
    request.notes.route = route
    if (names.length > 0) {
      const params = request.params as Record<string, string | undefined>
      if (names.some((n) => params[n] === undefined || params[n] === '')) { done(errors.notFound()); return }
    }
    const declared = request.headers['content-length']
    if (parsesBody && declared === undefined && request.headers['content-type']?.toLowerCase().startsWith('multipart/') === true) {
      done(errors.badRequest('error.multipart_length'))
      return
    }
    done(Number(declared) > bodyLimit ? errors.tooLarge() : undefined)
  }
}

/**
 * Callback-style onRequest hooks run in order as one hook, as Fastify runs them: the
 * first error ends the sequence, a hook that throws is an error, and nothing runs once
 * a reply is sent. Each hook Fastify runs itself costs an iteration of its hook runner
 * (~0.3 µs a request on users/me; docs/performance.md). Async hooks (the session's,
 * which may answer with a redirect) are left to Fastify.
 */
export function inSequence (hooks: onRequestHookHandler[]): onRequestHookHandler | onRequestHookHandler[] {
  if (hooks.length < 2 || hooks.some((h) => h.length !== 3 || h.constructor.name === 'AsyncFunction')) return hooks
  return function sequence (this: FastifyInstance, request, reply, done) {
    let i = 0
    const next = (err?: Error | null): void => {
      if (err !== undefined && err !== null) { done(err); return }
      const hook = hooks[i++]
      if (hook === undefined || reply.sent) { done(); return }
      try {
        hook.call(this, request, reply, next)
      } catch (thrown) {
        done(thrown as Error)
      }
    }
    next()
  }
}

/**
 * OPTIONS (204 with `Allow`) and 405 (`METHOD_NOT_ALLOWED`, the same `Allow`) for a URL
 * whose verbs are `allowed` (HEAD included where GET is): SPEC §3, for the verb table
 * and for the pages alike.
 */
export function declareMethodAnswers (scope: FastifyInstance, url: string, allowed: string[], onRequest?: onRequestHookHandler): void {
  const allowHeader = allowed.join(', ')
  const hooks = onRequest === undefined ? {} : { onRequest }
  scope.route({ method: 'OPTIONS', url, ...hooks, handler: async (_request, reply) => reply.code(204).header('allow', allowHeader).send() })
  const others = scope.supportedMethods.filter((m) => m !== 'OPTIONS' && !allowed.includes(m))
  if (others.length > 0) {
    scope.route({ method: others, url, ...hooks, handler: async () => { throw errors.methodNotAllowed(allowed) } })
  }
}

/** Mounts every resource under one prefix, with its auth, OPTIONS and 405 answers. */
async function mountTable (app: FastifyInstance, opts: MountOptions): Promise<void> {
  // Fastify parses text/plain by default; the API takes only JSON and the two form
  // encodings (SPEC §2), so any other type is 415 rather than a string body.
  app.removeContentTypeParser('text/plain')
  const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024
  const guardOf = (r: Resource, parsesBody: boolean): onRequestHookHandler => requestGuard(opts.prefix + r.path, parsesBody, bodyLimit)

  // The session cookie is read only on /json; multipart bodies only on the verbs
  // that take a body. Each plugin is registered in the scope that uses it, so a
  // GET on /api/v1 runs none of their hooks (docs/performance.md).
  if (opts.mount === 'json') await app.register(cookie)
  const declare = (scope: FastifyInstance, r: Resource, method: Verb, spec: VerbSpec): void => {
    const plan = planParams(spec.params, r.path)
    const hasBody = BODY_VERBS.has(method)
    scope.route({
      method,
      url: r.path,
      schema: { response: { 200: envelope(spec.response) } },
      ...(spec.serializer === 'json' ? { serializerCompiler: () => JSON.stringify } : {}),
      config: { resource: r, verb: method },
      onRequest: inSequence([guardOf(r, hasBody), ...app.auth.hooks(opts.mount, spec.access ?? 'user', spec.rateLimited ?? true, spec.webhookBots ?? false)]),
      // Not async: a handler that answers without a promise (users/me) is answered in
      // the same tick; one that returns a promise is chained (docs/performance.md).
      handler: function (request, reply) {
        const { params, ignored } = parseParams(plan, request, hasBody)
        const answer = (data: Record<string, unknown>): SuccessEnvelope => {
          if (ignored.length > 0) data[IGNORED] = ignored
          return { result: 'success', msg: '', data }
        }
        const data = spec.handler({ params, user: request.notes.user as User, request, reply, app }) as Record<string, unknown> | Promise<Record<string, unknown>>
        return data instanceof Promise ? data.then(answer) : answer(data)
      }
    })
  }

  for (const r of opts.resources) {
    const spec = r.verbs.GET
    if (spec !== undefined) declare(app, r, 'GET', spec)
  }
  await app.register(async function bodies (scope) {
    await scope.register(multipart)
    for (const r of opts.resources) {
      for (const [method, spec] of Object.entries(r.verbs) as Array<[Verb, VerbSpec]>) {
        if (method !== 'GET') declare(scope, r, method, spec)
      }
      // OPTIONS and 405 are answered before authentication, from the same table.
      declareMethodAnswers(scope, r.path, allowedMethods(r), guardOf(r, true))
    }
  })
}

declare module 'fastify' {
  interface FastifyContextConfig {
    resource?: Resource
    verb?: Verb
  }
  interface FastifyInstance {
    /** Every resource mounted by the verb table (read by OpenAPI and the /api page). */
    resources: Resource[]
  }
}

export default fp(async function restPlugin (app: FastifyInstance, opts: { resources: Resource[] }) {
  app.decorate('resources', opts.resources)
  await app.register(async (api) => { await mountTable(api, { prefix: '/api/v1', mount: 'api', resources: opts.resources }) }, { prefix: '/api/v1' })
  await app.register(async (json) => { await mountTable(json, { prefix: '/json', mount: 'json', resources: opts.resources }) }, { prefix: '/json' })
}, { name: 'rest', dependencies: ['auth', 'errors', 'notes'] })
