// Request notes (SPEC §5): one typed object per request that logging, rate
// limiting and error shaping read, and the one access-log line per request.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { User } from './users.js'

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
  /** How errors are answered: API paths in the envelope, everything else as a page. */
  errorFormat: 'json' | 'html'
}

declare module 'fastify' {
  interface FastifyRequest {
    notes: RequestNotes
  }
}

const API_PREFIXES = ['/api/v1/', '/json/']

export function isApiPath (url: string): boolean {
  return API_PREFIXES.some((p) => url.startsWith(p)) || url === '/api/v1' || url === '/json' ||
    url.startsWith('/api/v1?') || url.startsWith('/json?')
}

/** `ZulipMobile/27.1 (Android 14)` → ['ZulipMobile', '27.1']. */
export function parseUserAgent (ua: string | undefined): [string, string] {
  if (ua === undefined || ua === '') return ['Unspecified', '']
  const m = /^([^\s/]+)(?:\/(\S+))?/.exec(ua)
  if (m === null) return ['Unspecified', '']
  return [m[1] as string, m[2] ?? '']
}

/** Sets the client from a `client` parameter, which wins over the User-Agent. */
export function setClientParam (request: FastifyRequest, value: unknown): void {
  if (typeof value === 'string' && value !== '') {
    request.notes.client = value.slice(0, 100)
    request.notes.clientVersion = ''
  }
}

function accessLine (request: FastifyRequest, status: number, ms: number): string {
  const notes = request.notes
  const who = notes.user === null ? 'unauth' : String(notes.user.user_id)
  const via = notes.clientVersion === '' ? notes.client : `${notes.client}/${notes.clientVersion}`
  // Query strings can carry webhook api_keys: never write them to the log.
  const q = request.url.indexOf('?')
  const path = q === -1 ? request.url : request.url.slice(0, q)
  return `${request.method} ${status} ${ms}ms ${path} (${who} via ${via})`
}

export default fp(async function notesPlugin (app: FastifyInstance) {
  app.decorateRequest('notes', null as unknown as RequestNotes)

  // Callback hooks, not async ones: they run on every request, and a promise
  // each is measurable (docs/performance.md).
  app.addHook('onRequest', (request, _reply, done) => {
    const [client, clientVersion] = parseUserAgent(request.headers['user-agent'])
    request.notes = {
      requestId: request.id,
      start: process.hrtime.bigint(),
      client,
      clientVersion,
      user: null,
      rateLimits: [],
      errorFormat: isApiPath(request.url) ? 'json' : 'html'
    }
    const q = request.query as Record<string, unknown> | undefined
    if (q !== undefined && q !== null && 'client' in q) setClientParam(request, q.client)
    done()
  })

  app.addHook('onResponse', (request, reply, done) => {
    const notes = request.notes
    if (notes === null) { done(); return }
    const ms = Math.round(Number(process.hrtime.bigint() - notes.start) / 1e6)
    request.log.info({
      method: request.method,
      url: request.routeOptions.url ?? request.url.split('?')[0],
      statusCode: reply.statusCode,
      responseTime: ms,
      requester: notes.user === null ? 'unauth' : notes.user.user_id,
      client: notes.client
    }, accessLine(request, reply.statusCode, ms))
    done()
  })
}, { name: 'notes' })
