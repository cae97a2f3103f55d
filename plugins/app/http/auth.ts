// Authentication and authorization (SPEC §4) for the two mounts of the verb table:
// /api/v1 by HTTP Basic (email:api_key), /json by session cookie + CSRF header.
// Each route gets its onRequest hooks from here, so no route repeats them.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify'
import { errors } from '../errors.js'
import { RULES } from './ratelimit.js'
import { SESSION_COOKIE } from './sessions.js'
import { isAdmin, toUser, type User } from '../stores/users.js'
import { safeEqual } from './credentials.js'

export type Mount = 'api' | 'json'
/** Who may call a verb: anyone (credentials optional), any active user, or admins only. */
export type Access = 'anonymous' | 'user' | 'admin'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** q-value of the best Accept entry matching `type` (exact, type/*, or * /*). */
function quality (accept: string, type: string): number {
  const [major] = type.split('/')
  let best = -1
  let bestSpecificity = -1
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.trim().split(';')
    const r = range.trim().toLowerCase()
    const specificity = r === type ? 2 : r === `${major}/*` ? 1 : r === '*/*' ? 0 : -1
    if (specificity < 0 || specificity < bestSpecificity) continue
    let q = 1
    for (const p of params) {
      const [k, v] = p.trim().split('=')
      if (k === 'q' && v !== undefined) q = Number(v)
    }
    if (specificity > bestSpecificity) { bestSpecificity = specificity; best = Number.isFinite(q) ? q : 0 }
  }
  return Math.max(best, 0)
}

/** True when the client prefers an HTML page to JSON (a browser navigating). */
export function prefersHtml (request: FastifyRequest): boolean {
  const accept = request.headers.accept
  if (accept === undefined || accept === '') return false
  return quality(accept, 'text/html') > quality(accept, 'application/json')
}

export class Auth {
  constructor (private readonly app: FastifyInstance) {}

  /**
   * The onRequest hooks of one verb on one mount: identify, then limit, then authorize.
   * `webhookBots`: incoming-webhook bots may call the verb (SPEC §10: only POST /messages).
   */
  hooks (mount: Mount, access: Access, rateLimited: boolean, webhookBots = false): onRequestHookHandler[] {
    const identify = mount === 'api' ? this.basic(access) : this.session(access)
    const app = this.app
    const admitted = (user: User | null): void => {
      if (user === null) return
      if (!webhookBots && user.bot_type === 'incoming_webhook') throw errors.forbidden('error.webhook_bot_only')
      if (access === 'admin' && !isAdmin(user)) throw errors.notAdmin()
    }
    // A callback hook: with the memory store the limiter answers synchronously,
    // and a promise per request is measurable (docs/performance.md).
    const authorize: onRequestHookHandler = function (request, reply, done) {
      const user = request.notes.user
      let pending: void | Promise<void>
      try {
        pending = !rateLimited
          ? undefined
          : user === null
            ? app.rateLimiter.check(request, reply, RULES.anonymous, request.ip)
            : app.rateLimiter.check(request, reply, RULES.user, user.user_id)
        if (pending === undefined) admitted(user)
      } catch (err) {
        done(err as Error)
        return
      }
      if (pending === undefined) done()
      else pending.then(() => { admitted(user); done() }).catch(done)
    }
    return [identify, authorize]
  }

  private basic (access: Access): onRequestHookHandler {
    const app = this.app
    if (access !== 'anonymous') return app.basicIdentify
    // Anonymous verbs still honour credentials when a client sends them.
    return function optionalBasic (request, reply, done) {
      if (request.headers.authorization === undefined) { done(); return }
      app.basicIdentify(request, reply, done)
    }
  }

  private session (access: Access): onRequestHookHandler {
    const app = this.app
    return async function sessionAuth (request, reply) {
      const token = request.cookies[SESSION_COOKIE]
      const session = token === undefined ? undefined : await app.sessions.get(token)
      if (session === undefined) {
        if (access === 'anonymous') return
        if (prefersHtml(request)) {
          await reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 302)
          return reply
        }
        throw errors.unauthorized(undefined, 'Session')
      }
      const row = await app.users.getRow(session.userId)
      if (row === undefined) throw errors.unauthorized(undefined, 'Session')
      if (row.is_active !== 1) throw errors.deactivated('Session')
      if (!SAFE_METHODS.has(request.method)) {
        const sent = request.headers['x-csrf-token']
        if (typeof sent !== 'string' || sent === '') throw errors.csrf('error.why.csrf_missing')
        if (!safeEqual(sent, session.csrfToken)) throw errors.csrf('error.why.csrf_incorrect')
      }
      request.notes.user = toUser(row)
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    auth: Auth
  }
}

export default fp(async function authPlugin (app: FastifyInstance) {
  app.decorate('auth', new Auth(app))
}, { name: 'auth', dependencies: ['users', 'sessions', 'ratelimit', 'notes', 'basic-auth'] })
