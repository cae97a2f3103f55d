// POST /logout with the session's CSRF token (the meta tag's, as a form field): ends the session.
import { action, Redirect } from '../../plugins/app/pages/pages.js'
import { errors } from '../../plugins/app/errors.js'
import { safeEqual } from '../../plugins/app/http/credentials.js'
import { SESSION_COOKIE } from '../../plugins/app/http/sessions.js'

export const logout = action({
  path: '/logout',
  handler: async ({ app, request, reply, visitor }) => {
    if (visitor.session !== null && visitor.token !== null) {
      const sent = (request.body as Record<string, unknown> | undefined)?.csrf_token
      if (typeof sent !== 'string' || sent === '') throw errors.csrf('error.why.csrf_missing')
      if (!safeEqual(sent, visitor.session.csrfToken)) throw errors.csrf('error.why.csrf_incorrect')
      await app.sessions.destroy(visitor.token)
    }
    reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure: app.pages.secureCookies })
    return new Redirect('/login')
  }
})
