// POST /language: the language switcher. Sets the parley_language cookie and returns to
// `next`, in the chosen language when `next` carried a language prefix.
import { action, Redirect, safeNext, unprefixed } from '../../plugins/app/pages/pages.js'
import { isLang, prefixLang } from '../../plugins/app/pages/i18n.js'

export const language = action({
  path: '/language',
  handler: ({ app, request, reply }) => {
    const body = (request.body ?? {}) as Record<string, unknown>
    let next = safeNext(body.next)
    if (!isLang(body.language)) return new Redirect(next)
    app.pages.languageCookie(reply, body.language)
    if (prefixLang(next) !== undefined) {
      const path = unprefixed(next)
      const query = next.includes('?') ? next.slice(next.indexOf('?')) : ''
      next = `/${body.language}${path === '/' ? '/' : path}${query}`
    }
    return new Redirect(next)
  }
})
