// Request notes (SPEC §5): one typed object per request that logging, rate
// limiting and error shaping read, and the one access-log line per request.
import fp from 'fastify-plugin'
import pino from 'pino'
import { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { User } from '../stores/users.js'
import { BoundedMap } from '../bounded-map.js'
import { isApiPath } from '../errors.js'
import { accessFields, accessJson, accessMessage, ACCESS_SINK, type AccessEntry, type AccessFields, type AccessSink } from '../log/access-line.js'

export type { AccessEntry, AccessFields } from '../log/access-line.js'

export interface AppliedLimit {
  domain: string
  limit: number
  remaining: number
  /** Unix seconds when the window resets. */
  reset: number
}

export interface RequestNotes {
  requestId: string
  /** process.hrtime.bigint() at arrival. */
  start: bigint
  client: string
  clientVersion: string
  /** The authenticated user, once authentication has run. */
  user: User | null
  rateLimits: AppliedLimit[]
  /** The route's path pattern, set by the verb table's guard (rest.ts); null on other routes. */
  route: string | null
  /** How errors are answered: API paths in the envelope, everything else as a page. */
  errorFormat: 'json' | 'html'
}

declare module 'fastify' {
  interface FastifyRequest {
    notes: RequestNotes
  }
}

const UNSPECIFIED: readonly [string, string] = ['Unspecified', '']
/** Clients send the same User-Agent on every request: each distinct one is parsed once. */
const parsedAgents = new BoundedMap<string, readonly [string, string]>(1000)

/** `ZulipMobile/27.1 (Android 14)` → ['ZulipMobile', '27.1']. */
export function parseUserAgent (ua: string | undefined): readonly [string, string] {
  if (ua === undefined || ua === '') return UNSPECIFIED
  let parsed = parsedAgents.get(ua)
  if (parsed === undefined) {
    const m = /^([^\s/]+)(?:\/(\S+))?/.exec(ua)
    parsed = m === null ? UNSPECIFIED : [m[1] as string, m[2] ?? '']
    parsedAgents.set(ua, parsed)
  }
  return parsed
}

const { chindingsSym, streamSym, timeSym, needsMetadataGsym, hooksSym } = pino.symbols
const REQ_ID = Symbol('parley.reqId')
const lazyParents = new WeakMap<object, object>()

type ChildFn = FastifyBaseLogger['child']

/**
 * `request.log`, built lazily. Fastify gives every request a pino child bound to
 * its id; building one (serializing the binding) is measurable on every request,
 * yet a request logs through it only when something goes wrong: the access line
 * goes through the root logger with the id as a field, which writes the same
 * JSON. So `request.log` is a child whose binding is serialized when it first
 * writes (pino reads a logger's bindings from `pino.symbols.chindingsSym`).
 * Anything else (another binding, a route's own level or serializers) gets pino's
 * own child, made by `pinoChild`.
 */
export function lazyChildLogger (logger: FastifyBaseLogger, bindings: Record<string, unknown>, opts: { level?: string, serializers?: unknown }, pinoChild: ChildFn = logger.child): FastifyBaseLogger {
  const root = logger as unknown as Record<symbol, unknown>
  if (typeof root[chindingsSym] !== 'string' || opts.level !== undefined || opts.serializers !== undefined ||
    Object.keys(bindings).length !== 1 || typeof bindings.reqId !== 'string') {
    return pinoChild.call(logger, bindings, opts as Parameters<ChildFn>[1])
  }
  let parent = lazyParents.get(logger)
  if (parent === undefined) {
    parent = Object.create(logger, {
      [chindingsSym]: {
        get (this: Record<symbol, unknown>) { return `${String(root[chindingsSym])},"reqId":${JSON.stringify(this[REQ_ID])}` },
        // pino's own child() of this logger stores its bindings here.
        set (this: object, value: string) { Object.defineProperty(this, chindingsSym, { value, writable: true, enumerable: true, configurable: true }) }
      }
    }) as object
    lazyParents.set(logger, parent)
  }
  const child = Object.create(parent) as Record<symbol, unknown>
  child[REQ_ID] = bindings.reqId
  return child as unknown as FastifyBaseLogger
}

/**
 * Makes the root logger's `child` build request loggers lazily. Fastify's default
 * child-logger factory calls `logger.child(bindings, opts)` for every request; a
 * factory of our own (the `childLoggerFactory` option) would do the same but also
 * has Fastify check each logger it returns for its seven methods, ~1 µs a request.
 * Children of other loggers are pino's own.
 */
export function lazyRequestLoggers (root: FastifyBaseLogger): void {
  const pinoChild = root.child
  const child = function (this: FastifyBaseLogger, bindings: Record<string, unknown>, opts?: Parameters<ChildFn>[1]): FastifyBaseLogger {
    return this === root ? lazyChildLogger(root, bindings, opts ?? {}, pinoChild) : pinoChild.call(this, bindings, opts)
  }
  Object.defineProperty(root, 'child', { value: child, writable: true, configurable: true })
}

/** Sets the client from a `client` parameter, which wins over the User-Agent. */
export function setClientParam (request: FastifyRequest, value: unknown): void {
  if (typeof value === 'string' && value !== '') {
    request.notes.client = value.slice(0, 100)
    request.notes.clientVersion = ''
  }
}

/**
 * Returns the function that writes one access line as `log.info(accessFields(e), accessMessage(e))`
 * would, without pino's generic serialization of the fields object:
 * - to a LogThread (server.ts), the entry goes to the log thread, which formats it there;
 * - to any other destination, the line is one template (access-line.ts) with the
 *   logger's own time and bindings (~3.5 → ~1.3 µs a line; docs/performance.md).
 * Whether the template writes exactly pino's bytes is checked once, here, by sending a
 * probe line through pino itself: any logger option that changes the format (formatters,
 * mixin, a message key, redaction, hooks, a multistream) makes the check fail and every
 * line go through pino as before. The log thread also needs pino's epoch-millisecond time.
 */
export function accessLineWriter (log: FastifyBaseLogger): (e: AccessEntry) => void {
  const viaPino = (e: AccessEntry): void => { log.info(accessFields(e), accessMessage(e)) }
  const l = log as unknown as Record<symbol, any> & { levelVal: number }
  const stream = l[streamSym] as { write: (line: string) => unknown, [k: symbol]: unknown } | undefined
  if (typeof l[timeSym] !== 'function' || typeof l[chindingsSym] !== 'string' || stream === undefined ||
    stream[needsMetadataGsym] === true || l[hooksSym]?.streamWrite !== undefined) return viaPino
  // The probe: pino's own line for awkward values, captured instead of written.
  const probe: AccessFields = { reqId: 'req-"1"', method: 'GET', url: '/a\\b', statusCode: 200, responseTime: 1, requester: 'unauth', client: 'Zülip\u0001 ☃ \ud83d' }
  const probeMsg = 'probe "line" \u2028'
  let written: string | undefined
  const level = log.level
  l[streamSym] = { write: (s: string) => { written = s } }
  try {
    log.level = 'info'
    log.info(probe, probeMsg)
  } finally {
    l[streamSym] = stream
    log.level = level
  }
  const time = written === undefined ? undefined : /^\{"level":30(,"time":\d+),/.exec(written)?.[1]
  if (time === undefined || written !== accessJson(String(l[chindingsSym]), time, probe, probeMsg)) return viaPino
  const sink = (stream as Partial<AccessSink>)[ACCESS_SINK]
  if (typeof sink === 'function' && l[timeSym] === pino.stdTimeFunctions.epochTime) {
    return (e) => {
      if (l.levelVal > 30) return
      sink.call(stream, String(l[chindingsSym]), Date.now(), e)
    }
  }
  return (e) => {
    if (l.levelVal > 30) return
    stream.write(accessJson(String(l[chindingsSym]), l[timeSym]() as string, e, accessMessage(e)))
  }
}

/** Begins a request's notes: what the request line and headers say before any hook runs. */
export function startNotes (request: FastifyRequest): void {
  const [client, clientVersion] = parseUserAgent(request.headers['user-agent'])
  request.notes = {
    requestId: request.id,
    start: process.hrtime.bigint(),
    client,
    clientVersion,
    user: null,
    rateLimits: [],
    route: null,
    errorFormat: isApiPath(request.url) ? 'json' : 'html'
  }
  const q = request.query as Record<string, unknown> | undefined
  if (q !== undefined && q !== null && 'client' in q) setClientParam(request, q.client)
}

/** The access line's entry for a finished request, from its notes. */
export function accessEntry (request: FastifyRequest, reply: FastifyReply, notes: RequestNotes): AccessEntry {
  const ms = Math.round(Number(process.hrtime.bigint() - notes.start) / 1e6)
  // Query strings can carry webhook api_keys: never write them to the log.
  const q = request.url.indexOf('?')
  const path = q === -1 ? request.url : request.url.slice(0, q)
  return {
    reqId: request.id,
    method: request.method,
    url: notes.route ?? request.routeOptions.url ?? path,
    path,
    statusCode: reply.statusCode,
    responseTime: ms,
    requester: notes.user === null ? 'unauth' : notes.user.user_id,
    client: notes.client,
    clientVersion: notes.clientVersion
  }
}

/**
 * Fastify's log controller (the `logController` server option, set by app.ts's
 * `serverOptions`) is where Fastify marks a request's start and end for logging:
 * `incomingRequest` as soon as Fastify has built the request (routed, 404 and
 * framework-error requests alike), before any hook; `requestCompleted` when the
 * response has finished or failed, after the route's onResponse hooks. Parley's
 * notes begin in the first and its access line is its "request completed" line,
 * written in the second. Fastify's other request lines (incoming request, route
 * not found, the error log it would add to the error handler's) stay off, as
 * `disableRequestLogging` leaves them.
 *
 * Why not a global onRequest and onResponse hook: Fastify runs hooks through a
 * hook runner per request, and any onResponse hook puts every response on that
 * path; these two calls are made on every request anyway (docs/decisions.md 33).
 */
export class RequestLog extends LogController {
  constructor () {
    super({ disableRequestLogging: true })
  }

  override incomingRequest (request: FastifyRequest): void {
    startNotes(request)
  }

  override requestCompleted (_error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const notes = request.notes
    // Only without the notes plugin (the app not registered) is there no writer.
    const write = request.server.writeAccessLine as ((e: AccessEntry) => void) | undefined
    if (notes === null || write === undefined) return
    write(accessEntry(request, reply, notes))
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Writes one access line (RequestLog calls it when a request completes). */
    writeAccessLine: (e: AccessEntry) => void
  }
}

export default fp(async function notesPlugin (app: FastifyInstance) {
  app.decorateRequest('notes', null as unknown as RequestNotes)
  lazyRequestLoggers(app.log)
  // The root logger with the id as a field: the same line as request.log would
  // write, without building the request's child logger (lazyChildLogger).
  app.decorate('writeAccessLine', accessLineWriter(app.log))
}, { name: 'notes' })
