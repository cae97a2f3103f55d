// `/login`: the form (GET) and the sign-in (POST) of SPEC §4 and §9. Before a session
// exists, the form's CSRF token is a double-submit cookie (docs/decisions.md).
import { randomBytes } from 'node:crypto'
import { page, Redirect, safeNext, LOGIN_CSRF_COOKIE, type PageContext } from '../../plugins/app/pages/pages.js'
import { errors, ParleyError } from '../../plugins/app/errors.js'
import { safeEqual, verifyPassword } from '../../plugins/app/http/credentials.js'
import { SESSION_COOKIE } from '../../plugins/app/http/sessions.js'

/** The visitor's pre-login token: the cookie's, or a fresh one set now. */
function loginToken ({ request, reply, app }: PageContext): string {
  const existing = request.cookies[LOGIN_CSRF_COOKIE]
  if (existing !== undefined && /^[\w-]{32}$/.test(existing)) return existing
  const token = randomBytes(24).toString('base64url')
  reply.setCookie(LOGIN_CSRF_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'lax', secure: app.pages.secureCookies })
  return token
}

function form (ctx: PageContext, status: number, error: string | null, username = ''): Record<string, unknown> {
  ctx.reply.code(status)
  const next = ctx.request.query as Record<string, unknown> | undefined
  const body = ctx.request.body as Record<string, unknown> | undefined
  return { csrf: loginToken(ctx), error, username, nextPath: safeNext(body?.next ?? next?.next) }
}

export const login = page({
  path: '/login',
  template: 'login',
  title: 'page.login.title',
  handler: (ctx) => {
    if (ctx.visitor.user !== null) return new Redirect(safeNext((ctx.request.query as Record<string, unknown>).next))
    return form(ctx, 200, null)
  },
  post: async (ctx) => {
    const { app, request, reply, t } = ctx
    const body = (request.body ?? {}) as Record<string, unknown>
    const sent = body.csrf_token
    const expected = request.cookies[LOGIN_CSRF_COOKIE]
    if (typeof sent !== 'string' || expected === undefined || sent === '' || !safeEqual(sent, expected)) {
      throw errors.csrf(typeof sent !== 'string' || sent === '' ? 'error.why.csrf_missing' : 'error.why.csrf_incorrect')
    }
    const username = typeof body.username === 'string' ? body.username.trim().slice(0, 254) : ''
    const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : ''
    if (username === '' || password === '') return form(ctx, 400, t('page.login.missing'), username)
    try {
      await app.rateLimiter.assertAuthAllowed(username)
    } catch (err) {
      if (!(err instanceof ParleyError) || err.code !== 'RATE_LIMIT_HIT') throw err
      const seconds = Number(err.headers['retry-after'] ?? 60)
      reply.header('retry-after', String(seconds))
      return form(ctx, 429, t('page.login.too_many', { count: Math.max(1, Math.ceil(seconds / 60)) }), username)
    }
    const row = await app.users.getRowByEmail(username)
    const ok = await verifyPassword(password, row?.is_bot === 1 ? null : row?.password_hash ?? null)
    if (row === undefined || !ok) {
      await app.rateLimiter.recordAuthFailure(username)
      return form(ctx, 401, t('page.login.failed'), username)
    }
    if (row.is_active !== 1) return form(ctx, 401, t('page.login.deactivated'), username)
    const { token } = await app.sessions.create(row.id)
    // A session already open in this browser ends: one cookie, one session.
    const old = request.cookies[SESSION_COOKIE]
    if (old !== undefined) await app.sessions.destroy(old)
    reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'lax', secure: app.pages.secureCookies, maxAge: 14 * 24 * 3600 })
    return new Redirect(safeNext(body.next))
  }
})
