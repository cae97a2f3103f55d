// Coded errors (SPEC §2) and the one handler that shapes every error answer.
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Socket } from 'node:net'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { LOCALES_DIR } from './locales-dir.js'
import { isDatabaseBusy, isDatabaseUnavailable } from './db/engine-errors.js'

/** `/api/v1` or `/json`, alone or followed by `/` or `?`. */
export function isApiPath (url: string): boolean {
  const rest = url.startsWith('/api/v1') ? 7 : url.startsWith('/json') ? 5 : -1
  if (rest === -1) return false
  const next = url.charCodeAt(rest)
  return Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */
}

export type ErrorCode =
  | 'BAD_REQUEST'
  | 'REQUEST_VARIABLE_MISSING'
  | 'REQUEST_VARIABLE_INVALID'
  | 'INVALID_JSON'
  | 'BAD_EVENT_QUEUE_ID'
  | 'UNAUTHORIZED'
  | 'USER_DEACTIVATED'
  | 'INVALID_API_KEY'
  | 'UNAUTHORIZED_PRINCIPAL'
  | 'CSRF_FAILED'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'ALREADY_EXISTS'
  | 'NO_CHANGE'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'RATE_LIMIT_HIT'
  | 'MISSING_HTTP_EVENT_HEADER'
  | 'INTERNAL_SERVER_ERROR'
  | 'SERVER_NOT_READY'

const STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  REQUEST_VARIABLE_MISSING: 400,
  REQUEST_VARIABLE_INVALID: 400,
  INVALID_JSON: 400,
  BAD_EVENT_QUEUE_ID: 400,
  MISSING_HTTP_EVENT_HEADER: 400,
  UNAUTHORIZED: 401,
  USER_DEACTIVATED: 401,
  INVALID_API_KEY: 401,
  UNAUTHORIZED_PRINCIPAL: 403,
  CSRF_FAILED: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  ALREADY_EXISTS: 409,
  NO_CHANGE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMIT_HIT: 429,
  INTERNAL_SERVER_ERROR: 500,
  SERVER_NOT_READY: 503
}

/** The `error` section of locales/en.json, the type the keys are checked against. */
type EnglishCatalog = typeof import('../../locales/en.json', { with: { type: 'json' } })
type Singular<K extends string> = K extends `${infer B}_one` ? B : K extends `${infer B}_other` ? B : K
type KeysOf<T, Prefix extends string> = {
  [K in keyof T & string]: T[K] extends string ? `${Prefix}${Singular<K>}` : KeysOf<T[K], `${Prefix}${K}.`>
}[keyof T & string]
type AnyErrorKey = KeysOf<EnglishCatalog['error'], 'error.'>
/** The reasons of an invalid variable (`error.why.*`), a `why` inside another msg. */
export type ReasonKey = Extract<AnyErrorKey, `error.why.${string}`>
/** An error msg of locales/<lang>.json (`error.*`): a misspelled one fails `tsc`. Plural keys without their `_one`/`_other`. */
export type ErrorKey = Exclude<AnyErrorKey, ReasonKey>

/** A msg named by its locale key; a variable may itself be such a msg (the `why` of an invalid variable). */
export interface Keyed { key: ErrorKey | ReasonKey, vars: Vars }
export type Vars = Record<string, string | number | Keyed>

/**
 * The English catalog's error texts, read once: errors.ts sits under every layer, so it
 * reads the file rather than asking the i18n plugin. English plurals by Intl's `en`
 * rules, as i18next renders them.
 */
const ENGLISH: ReadonlyMap<string, string> = (() => {
  const out = new Map<string, string>()
  const walk = (obj: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === 'string') out.set(prefix + k, v)
      else if (typeof v === 'object' && v !== null) walk(v as Record<string, unknown>, `${prefix}${k}.`)
    }
  }
  const en = JSON.parse(readFileSync(join(LOCALES_DIR, 'en.json'), 'utf8')) as { error: Record<string, unknown> }
  walk(en.error, 'error.')
  return out
})()
const ENGLISH_PLURAL = new Intl.PluralRules('en')

/** The English text of a keyed msg, its `{{placeholders}}` filled; throws for a key or a variable the catalog lacks. */
export function english ({ key, vars }: Keyed): string {
  const count = vars.count
  const text = (typeof count === 'number' ? ENGLISH.get(`${key}_${ENGLISH_PLURAL.select(count)}`) : undefined) ?? ENGLISH.get(key)
  if (text === undefined) throw new Error(`no error msg ${key} in locales/en.json`)
  if (!text.includes('{{')) return text
  return text.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = vars[name]
    if (value === undefined) throw new Error(`error msg ${key} needs the variable ${name}`)
    return typeof value === 'object' ? english(value) : String(value)
  })
}

/**
 * An error a handler throws; the error handler turns it into the envelope. It is an
 * answer, never logged with a stack, so none is captured: under Fastify's hook chain a
 * stack trace cost ~18 µs, which a client hammering past its rate limit (429) or with
 * a bad key (401) would make the server pay on every request (docs/performance.md).
 *
 * `key` and `vars` name the msg in the locale files (`error.*` in locales/<lang>.json),
 * so the error handler can answer it in the visitor's language (SPEC §8); `message`
 * is its English text, from locales/en.json. `code` is never translated.
 */
export class ParleyError extends Error {
  readonly statusCode: number
  constructor (
    readonly code: ErrorCode,
    readonly key: ErrorKey,
    readonly vars: Vars = {},
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {}
  ) {
    const message = english({ key, vars })
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(message)
    Error.stackTraceLimit = limit
    this.name = 'ParleyError'
    this.statusCode = STATUS[code]
  }
}

/** A reason (`error.why.*`) for errors.invalid and errors.csrf. */
export function reason (key: ReasonKey, vars: Vars = {}): Keyed {
  return { key, vars }
}

type CsrfReason = Extract<ReasonKey, `error.why.csrf_${string}`>

/** Retry-After of a 503 for a busy database: the conflict or the runaway query is usually over by then. */
export const BUSY_RETRY_AFTER_SECONDS = 1

/**
 * The errors of the contract, made in one place so every msg reads the same. Each
 * takes the locale key of its msg (and its variables): the English text, and every
 * translation, come from locales/.
 */
export const errors = {
  badRequest: (key: ErrorKey, vars?: Vars) => new ParleyError('BAD_REQUEST', key, vars),
  missing: (name: string) =>
    new ParleyError('REQUEST_VARIABLE_MISSING', 'error.missing', { name }, { var_name: name }),
  /** `why`: a reason key (`error.why.*`) with its variables, or a reason made by reason(). */
  invalid: (name: string, why?: ReasonKey | Keyed, vars: Vars = {}) => why === undefined
    ? new ParleyError('REQUEST_VARIABLE_INVALID', 'error.invalid', { name }, { var_name: name })
    : new ParleyError('REQUEST_VARIABLE_INVALID', 'error.invalid_because',
      { name, why: typeof why === 'string' ? reason(why, vars) : why }, { var_name: name }),
  invalidJson: (key: ErrorKey = 'error.malformed_json') => new ParleyError('INVALID_JSON', key),
  invalidJsonParam: (name: string) =>
    new ParleyError('INVALID_JSON', 'error.invalid_json_param', { name }, { var_name: name }),
  badQueue: (id: string) => new ParleyError('BAD_EVENT_QUEUE_ID', 'error.bad_queue', { id }, { queue_id: id }),
  unauthorized: (key: ErrorKey = 'error.unauthorized', scheme: 'Basic' | 'Session' = 'Basic') =>
    new ParleyError('UNAUTHORIZED', key, {}, {}, { 'www-authenticate': `${scheme} realm="parley"` }),
  deactivated: (scheme: 'Basic' | 'Session' = 'Basic') =>
    new ParleyError('USER_DEACTIVATED', 'error.deactivated', {}, {}, { 'www-authenticate': `${scheme} realm="parley"` }),
  invalidApiKey: () => new ParleyError('INVALID_API_KEY', 'error.invalid_api_key'),
  notAdmin: () => new ParleyError('UNAUTHORIZED_PRINCIPAL', 'error.not_admin'),
  forbidden: (key: ErrorKey, vars?: Vars) => new ParleyError('UNAUTHORIZED_PRINCIPAL', key, vars),
  /** The envelope's `reason` is the reason in English, whatever the msg's language. */
  csrf: (why: CsrfReason) => {
    const keyed = reason(why)
    return new ParleyError('CSRF_FAILED', 'error.csrf', { reason: keyed }, { reason: english(keyed) })
  },
  notFound: (key: ErrorKey = 'error.not_found', vars?: Vars) => new ParleyError('NOT_FOUND', key, vars),
  pageNotFound: () => new ParleyError('NOT_FOUND', 'error.page_not_found'),
  methodNotAllowed: (allowed: string[]) =>
    new ParleyError('METHOD_NOT_ALLOWED', 'error.method_not_allowed', {}, { allowed_methods: allowed }, { allow: allowed.join(', ') }),
  alreadyExists: (key: ErrorKey, vars?: Vars) => new ParleyError('ALREADY_EXISTS', key, vars),
  noChange: (key: ErrorKey, vars?: Vars) => new ParleyError('NO_CHANGE', key, vars),
  tooLarge: () => new ParleyError('PAYLOAD_TOO_LARGE', 'error.too_large'),
  unsupportedMediaType: (type: string) => type === ''
    ? new ParleyError('UNSUPPORTED_MEDIA_TYPE', 'error.no_media_type')
    : new ParleyError('UNSUPPORTED_MEDIA_TYPE', 'error.unsupported_media_type', { type }),
  rateLimited: (retryAfter: number) =>
    new ParleyError('RATE_LIMIT_HIT', 'error.rate_limited', {}, { 'retry-after': retryAfter }, { 'retry-after': String(retryAfter) }),
  notReady: () => new ParleyError('SERVER_NOT_READY', 'error.not_ready'),
  /** The database gave up on the request (a conflict after its retries, a statement timeout): rolled back, worth a retry soon. */
  databaseBusy: () => new ParleyError('SERVER_NOT_READY', 'error.database_busy', {}, {}, { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) }),
  internal: () => new ParleyError('INTERNAL_SERVER_ERROR', 'error.internal'),
  /** A URL whose percent-encoding does not decode (Fastify's FST_ERR_BAD_URL). */
  badUrl: () => new ParleyError('BAD_REQUEST', 'error.malformed_url'),
  /** Node's parser refused the request (clientErrorHandler): code BAD_REQUEST, status 431 or 408 on the socket. */
  headersTooLarge: () => new ParleyError('BAD_REQUEST', 'error.headers_too_large'),
  requestTimeout: () => new ParleyError('BAD_REQUEST', 'error.request_timeout')
}

/**
 * busboy (under @fastify/multipart) rejects a malformed multipart body with plain
 * Errors and no code; these are its messages, all the client's fault.
 */
const MULTIPART_ERROR = /^(Multipart: Boundary not found|Boundary required|Unexpected end of multipart data|\w+ terminated early due to unexpected end of multipart data|The needle cannot .*|Unsupported Content-Type\.|Missing Content-Type-header\.)$/

/** Fastify's own coded errors, mapped onto ours. */
function fromFastify (err: FastifyError, contentType: string): ParleyError | undefined {
  switch (err.code) {
    case 'FST_BASIC_AUTH_MISSING_OR_BAD_AUTHORIZATION_HEADER':
      return errors.unauthorized()
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return errors.invalidJson(err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'error.empty_json' : 'error.malformed_json')
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return errors.invalidJson('error.malformed_json_field')
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return errors.tooLarge()
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      // Fastify's message does not name the type: the header does.
      return err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? errors.unsupportedMediaType(contentType)
        : errors.badRequest('error.bad_content_length')
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_PROTO_VIOLATION':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return errors.badRequest('error.malformed_body')
  }
  if (err.code === undefined && typeof err.message === 'string' && MULTIPART_ERROR.test(err.message)) {
    return errors.badRequest('error.malformed_multipart')
  }
  if (err.statusCode === 413) return errors.tooLarge()
  if (err.statusCode === 415) return errors.unsupportedMediaType(contentType)
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 && err.statusCode !== 404) {
    // Anything else a library rejected as the client's fault (multipart parse errors,
    // JSON syntax in a content-type parser): a generic 400, never a 5xx.
    return errors.badRequest(err.statusCode === 400 ? 'error.malformed_request' : 'error.bad_request')
  }
  return undefined
}

export function toParleyError (err: unknown, contentType = ''): ParleyError | undefined {
  // A bare SyntaxError is not mapped: body parsers wrap theirs in coded errors, so
  // one reaching here is our own bug (a stored JSON that fails to parse): a 500.
  if (err instanceof ParleyError) return err
  // PostgreSQL down, restarting or out of connections: the client may retry (SPEC §2), nothing was half-written.
  if (isDatabaseUnavailable(err)) return errors.notReady()
  // A deadlock or serialization failure still lost after its retries, or a statement timeout: rolled back, nothing written.
  if (isDatabaseBusy(err)) return errors.databaseBusy()
  if (typeof err === 'object' && err !== null) return fromFastify(err as FastifyError, contentType)
  return undefined
}

/**
 * What the page side (plugins/app/pages/) adds to error answers: the msg in the
 * visitor's language, and the HTML error pages. Registered later than this plugin,
 * so it fills a slot here instead of being imported (imports only point down).
 */
export interface ErrorLocalizer {
  /** A keyed msg (an error's) in the language of the request (cookie, then Accept-Language); its English `message` for `en`. */
  message: (request: FastifyRequest, msg: Keyed & { message: string }) => string
  /** Answers `err` as an HTML page in the visitor's language. */
  page: (request: FastifyRequest, reply: FastifyReply, err: ParleyError) => FastifyReply | Promise<FastifyReply>
  /** The HTML error page for an answer written on the raw socket (clientErrorHandler), in English. */
  rawPage: (status: number, message: string) => string
}

declare module 'fastify' {
  interface FastifyInstance {
    errorLocalizer: { current: ErrorLocalizer | undefined }
  }
}

/** JSON under /api/v1 and /json, HTML elsewhere (from the notes; by path before they exist). */
export function errorFormat (request: FastifyRequest): 'json' | 'html' {
  return request.notes?.errorFormat ?? (isApiPath(request.url) ? 'json' : 'html')
}

/**
 * A keyed msg that is not an error, in the request's language: the notice of a success
 * (a webhook's UNSUPPORTED_WEBHOOK_EVENT_TYPE).
 */
export function localizedMessage (request: FastifyRequest, keyed: Keyed): string {
  const msg = { ...keyed, message: english(keyed) }
  const localizer = (request.server as FastifyInstance | undefined)?.errorLocalizer?.current
  return localizer === undefined ? msg.message : localizer.message(request, msg)
}

/** The error envelope of SPEC §2. */
export function errorBody (err: ParleyError, msg = err.message): Record<string, unknown> {
  return { result: 'error', msg, code: err.code, ...err.extra }
}

/** The HTML error page when the page side (templates, languages) is not there to render one. */
export function plainErrorPage (status: number, message: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${status}</title></head>` +
    `<body><h1>${status}</h1><p>${escapeHtml(message)}</p></body></html>`
}

export function sendError (request: FastifyRequest, reply: FastifyReply, err: ParleyError): FastifyReply | Promise<FastifyReply> {
  for (const [name, value] of Object.entries(err.headers)) reply.header(name, value)
  reply.code(err.statusCode)
  const localizer = (request.server as FastifyInstance | undefined)?.errorLocalizer?.current
  if (errorFormat(request) === 'html') {
    if (localizer !== undefined) return localizer.page(request, reply, err)
    return reply.type('text/html; charset=utf-8').send(plainErrorPage(err.statusCode, err.message))
  }
  return reply.type('application/json; charset=utf-8')
    .send(errorBody(err, localizer === undefined ? err.message : localizer.message(request, err)))
}

/**
 * Fastify's `clientErrorHandler` server option. Errors of Node's HTTP parser (a header
 * over 16 KB, a broken request line, a timeout) arrive before Fastify has a request: the
 * answer is written on the socket, in the shape the request line's path calls for,
 * instead of Fastify's default JSON. In English: the headers that would choose a
 * language are the ones that broke.
 */
export function clientErrorHandler (this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  const err = error as NodeJS.ErrnoException & { rawPacket?: unknown }
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, reason, coded] = err.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'Request Header Fields Too Large', errors.headersTooLarge()]
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', errors.requestTimeout()]
      : [400, 'Bad Request', errors.badRequest('error.bad_request')]
  const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket : undefined
  const line = raw?.subarray(0, 2048).toString('latin1').split('\r\n', 1)[0] ?? ''
  const path = line.split(' ')[1] ?? ''
  const html = path !== '' && !isApiPath(path)
  const body = html
    ? this.errorLocalizer.current?.rawPage(status, coded.message) ?? plainErrorPage(status, coded.message)
    : JSON.stringify(errorBody(coded))
  this.log.debug({ err }, 'client error')
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Content-Type: ${html ? 'text/html' : 'application/json'}; charset=utf-8\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(err)
}

export function escapeHtml (s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c] as string))
}

export default fp(async function errorsPlugin (app: FastifyInstance) {
  app.decorate('errorLocalizer', { current: undefined })
  app.setErrorHandler(function (error, request, reply) {
    const coded = toParleyError(error, (request.headers['content-type'] ?? '').split(';')[0]?.trim())
    if (coded !== undefined) {
      if (coded.statusCode >= 500) request.log.error({ err: error }, 'request failed')
      return sendError(request, reply, coded)
    }
    // The cause is logged with the request id; the client learns nothing of it.
    request.log.error({ err: error }, 'unexpected error')
    return sendError(request, reply, errors.internal())
  })

  // Unknown API paths (with or without credentials) get the JSON 404; other
  // unknown paths get the HTML 404 page, chosen by the request notes.
  app.setNotFoundHandler(function (request, reply) {
    return sendError(request, reply, errorFormat(request) === 'html' ? errors.pageNotFound() : errors.notFound())
  })
}, { name: 'errors', dependencies: ['notes'] })
