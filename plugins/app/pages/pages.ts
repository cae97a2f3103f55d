// HTML pages (SPEC §8, §9): each page declared once in routes/pages/, mounted unprefixed
// and under every language prefix, rendered through @fastify/view; and the HTML error
// pages (404 hand-off included) in the visitor's language.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { TFunction } from 'i18next'
import cookie from '@fastify/cookie'
import { ParleyError, type ErrorLocalizer } from '../errors.js'
import { SESSION_COOKIE, type Session } from '../http/sessions.js'
import { toUser, type User } from '../stores/users.js'
import { declareMethodAnswers } from '../http/rest.js'
import {
  DEFAULT_LANG, LANGUAGE_CODES, LANGUAGE_COOKIE, cookieValue, prefixLang, requestLang, type Lang
} from './i18n.js'

/** Pre-login CSRF: a random double-submit cookie that the login form must echo. */
export const LOGIN_CSRF_COOKIE = 'parley_csrf'

/** BCP 47 spelling of our codes, for `<html lang>`, Content-Language and hreflang. */
export const HTML_LANG: Record<Lang, string> = { en: 'en', de: 'de', 'zh-hans': 'zh-Hans' }

export interface Visitor {
  user: User | null
  session: Session | null
  /** The session cookie's value, when it names a live session. */
  token: string | null
}

const ANONYMOUS: Visitor = { user: null, session: null, token: null }

export interface PageContext {
  app: FastifyInstance
  request: FastifyRequest
  reply: FastifyReply
  lang: Lang
  t: TFunction
  visitor: Visitor
  /** The page's path without a language prefix (`/features`). */
  path: string
  /** `/de` on a prefixed page, '' on an unprefixed one: links keep the visitor's choice. */
  prefix: string
  /** The rendered page will be kept for other visitors (PageSpec.cache, no session). */
  cacheable: boolean
}

/** A handler's answer: template data, another template, or a redirect. */
export class Redirect { constructor (readonly location: string) {} }
export class View { constructor (readonly template: string, readonly data: Record<string, unknown> = {}) {} }
export type PageResult = Record<string, unknown> | View | Redirect

export interface PageSpec {
  /** Unprefixed path, `/features`. */
  path: string
  /** Template under templates/, without `.eta`. */
  template: string
  /** Locale key of the `<title>`. */
  title: string
  /** `required`: a visitor without a session is sent to /login?next=…. */
  session?: 'optional' | 'required'
  /** For a visitor without a session the page depends only on its URL and language: rendered once, kept. */
  cache?: boolean
  handler: (ctx: PageContext) => PageResult | Promise<PageResult>
  /** A form posted to the same path (the login form). */
  post?: (ctx: PageContext) => PageResult | Promise<PageResult>
}

/** A form action without a page of its own (logout, the language switch): unprefixed, POST only. */
export interface ActionSpec {
  path: string
  handler: (ctx: PageContext) => Redirect | Promise<Redirect>
}

export function page (spec: PageSpec): PageSpec { return spec }
export function action (spec: ActionSpec): ActionSpec { return spec }

/**
 * `next` as a same-site path, else `/`: no scheme, no `//host`, no backslash (browsers
 * read `/\evil` as `//evil`), in any percent-encoding, no control characters.
 */
export function safeNext (next: unknown): string {
  if (typeof next !== 'string' || next === '' || next.length > 2000 || next[0] !== '/') return '/'
  let decoded = next
  try {
    for (let i = 0; i < 3 && /%[0-9a-f]{2}/i.test(decoded); i++) decoded = decodeURIComponent(decoded)
  } catch {
    return '/'
  }
  for (const s of [next, decoded]) {
    if (s[0] !== '/' || s[1] === '/' || s.includes('\\') || hasControl(s)) return '/'
  }
  if (/^\/[a-z][a-z0-9+.-]*:/i.test(decoded)) return '/'
  return next
}

function hasControl (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}

/** The path of `url` without its language prefix and query: `/de/features?x` → `/features`. */
export function unprefixed (url: string): string {
  const path = url.split('?', 1)[0] as string
  const lang = prefixLang(path)
  if (lang === undefined) return path
  const rest = path.slice(lang.length + 1)
  return rest === '' ? '/' : rest
}

function withPrefix (prefix: string, path: string): string {
  return prefix === '' ? path : path === '/' ? `${prefix}/` : `${prefix}${path}`
}

export interface Pages {
  /** Answers `err` as the HTML error page (the 404 page for NOT_FOUND). */
  renderError: (request: FastifyRequest, reply: FastifyReply, err: ParleyError) => Promise<FastifyReply>
  secureCookies: boolean
  languageCookie: (reply: FastifyReply, lang: Lang) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    pages: Pages
  }
}

export default fp(async function pagesPlugin (app: FastifyInstance, opts: { pages: PageSpec[], actions: ActionSpec[] }) {
  const i18n = app.i18n
  const secure = app.config.externalUrl.startsWith('https:')
  const origin = app.config.externalUrl.replace(/\/+$/, '')
  const cached = new Map<string, string>()

  async function visitorOf (request: FastifyRequest): Promise<Visitor> {
    const token = cookieValue(request, SESSION_COOKIE)
    if (token === undefined || token === '') return ANONYMOUS
    const session = await app.sessions.get(token)
    if (session === undefined) return ANONYMOUS
    const row = await app.users.getRow(session.userId)
    if (row === undefined || row.is_active !== 1) return ANONYMOUS
    return { user: toUser(row), session, token }
  }

  /** What every template gets besides its own data: the layout's header, switcher and links. */
  function common (ctx: PageContext, title: string): Record<string, unknown> {
    const { lang, prefix, path } = ctx
    return {
      lang,
      htmlLang: HTML_LANG[lang],
      t: ctx.t,
      title,
      prefix,
      path,
      link: (p: string) => withPrefix(prefix, p),
      asset: (name: string) => app.assets.url(name),
      user: ctx.visitor.user,
      csrfToken: ctx.visitor.session?.csrfToken ?? null,
      languages: i18n.languages,
      // A kept page must not carry the first visitor's query string to everyone.
      next: ctx.cacheable || ctx.request.url.length > 2000 ? withPrefix(prefix, path) : ctx.request.url,
      alternates: LANGUAGE_CODES.map((l) => ({ hreflang: HTML_LANG[l], href: `${origin}${withPrefix(`/${l}`, path)}` }))
        .concat([{ hreflang: 'x-default', href: `${origin}${path}` }]),
      realmName: app.config.realmName
    }
  }

  function headers (reply: FastifyReply, lang: Lang, prefixed: boolean, personal: boolean): void {
    reply.header('content-type', 'text/html; charset=utf-8')
    reply.header('content-language', HTML_LANG[lang])
    // The header shows who is signed in, so every page varies by cookie; unprefixed
    // pages also by the language the browser asks for.
    reply.header('vary', prefixed ? 'Cookie' : 'Accept-Language, Cookie')
    reply.header('cache-control', personal ? 'private, no-store' : 'no-cache')
  }

  function context (request: FastifyRequest, reply: FastifyReply, lang: Lang, visitor: Visitor, cacheable = false): PageContext {
    const path = unprefixed(request.url)
    const prefixed = prefixLang(request.url) !== undefined
    // The access line names the signed-in visitor, as on the API.
    if (visitor.user !== null && request.notes !== undefined) request.notes.user = visitor.user
    return { app, request, reply, lang, t: i18n.t(lang), visitor, path, prefix: prefixed ? `/${lang}` : '', cacheable }
  }

  async function answer (ctx: PageContext, spec: PageSpec, result: PageResult, cacheKey: string | undefined): Promise<FastifyReply> {
    const { reply } = ctx
    if (result instanceof Redirect) return await reply.redirect(result.location, 302)
    const template = result instanceof View ? result.template : spec.template
    const data = result instanceof View ? result.data : result
    const title = ctx.t(typeof data.title === 'string' ? data.title : spec.title)
    const html = await app.view(template, { ...common(ctx, title), ...data }) as string
    if (cacheKey !== undefined) cached.set(cacheKey, html)
    headers(reply, ctx.lang, ctx.prefix !== '', ctx.visitor.user !== null)
    return await reply.send(html)
  }

  function mount (scope: FastifyInstance, spec: PageSpec, lang: Lang | undefined): void {
    const url = withPrefix(lang === undefined ? '' : `/${lang}`, spec.path)
    const urls = lang !== undefined && spec.path === '/' ? [url, `/${lang}`] : [url]
    for (const u of urls) {
      scope.get(u, async (request, reply) => {
        const chosen = lang ?? requestLang(request)
        const hasCookie = request.headers.cookie?.includes(SESSION_COOKIE) === true
        // The cached page of an anonymous visitor: no session look-up, no rendering.
        const key = spec.cache === true && !hasCookie ? `${u}|${chosen}` : undefined
        if (key !== undefined) {
          const html = cached.get(key)
          if (html !== undefined) {
            headers(reply, chosen, lang !== undefined, false)
            return await reply.send(html)
          }
        }
        const visitor = hasCookie ? await visitorOf(request) : ANONYMOUS
        const ctx = context(request, reply, chosen, visitor, spec.cache === true && visitor.user === null)
        if (spec.session === 'required' && visitor.user === null) {
          return await reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 302)
        }
        return await answer(ctx, spec, await spec.handler(ctx), key)
      })
      const post = spec.post
      if (post !== undefined) {
        scope.post(u, async (request, reply) => {
          const ctx = context(request, reply, lang ?? requestLang(request), await visitorOf(request))
          return await answer(ctx, spec, await post(ctx), undefined)
        })
      }
      declareMethodAnswers(scope, u, post === undefined ? ['GET', 'HEAD'] : ['GET', 'HEAD', 'POST'])
    }
  }

  async function renderError (request: FastifyRequest, reply: FastifyReply, err: ParleyError): Promise<FastifyReply> {
    const lang = prefixLang(request.url) ?? requestLang(request)
    let visitor = ANONYMOUS
    try { visitor = await visitorOf(request) } catch { /* the error page must not fail on the session store */ }
    const ctx = context(request, reply, lang, visitor)
    const status = err.statusCode
    const notFound = status === 404
    const t = ctx.t
    const title = notFound ? t('page.not_found.title') : t('page.error.title', { status })
    const headingKey = `page.error.heading_${status}`
    const heading = t(headingKey)
    const data = {
      status,
      heading: heading === headingKey ? t('page.error.heading_default') : heading,
      message: err.code === 'CSRF_FAILED' ? t('page.error.csrf') : i18n.errorMessage(lang, err)
    }
    let html: string
    try {
      html = await app.view(notFound ? 'not_found' : 'error', { ...common(ctx, title), ...data }) as string
    } catch (renderErr) {
      request.log.error({ err: renderErr }, 'error page failed to render')
      html = rawErrorPage(status, err.message)
    }
    headers(reply, lang, prefixLang(request.url) !== undefined, visitor.user !== null)
    return await reply.send(html)
  }

  let rawTemplate: string | undefined
  function rawErrorPage (status: number, message: string): string {
    const page = rawTemplate ?? '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head><body><h1>__STATUS__</h1><p>__MESSAGE__</p></body></html>'
    return page.replaceAll('__STATUS__', String(status)).replaceAll('__MESSAGE__', message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`))
  }

  app.decorate('pages', {
    renderError,
    secureCookies: secure,
    languageCookie: (reply: FastifyReply, lang: Lang) => {
      reply.setCookie(LANGUAGE_COOKIE, lang, { path: '/', maxAge: 365 * 24 * 3600, sameSite: 'lax', secure })
    }
  } satisfies Pages)

  await app.register(async function pageRoutes (scope) {
    await scope.register(cookie, { hook: 'onRequest' })
    for (const spec of opts.pages) {
      mount(scope, spec, undefined)
      for (const lang of LANGUAGE_CODES) mount(scope, spec, lang)
    }
    for (const a of opts.actions) {
      scope.post(a.path, async (request, reply) => {
        const ctx = context(request, reply, requestLang(request), await visitorOf(request))
        const result = await a.handler(ctx)
        return await reply.redirect(result.location, 302)
      })
    }
  })

  const localizer: ErrorLocalizer = {
    message: (request, err) => i18n.errorMessage(requestLang(request), err),
    page: renderError,
    rawPage: rawErrorPage
  }
  app.errorLocalizer.current = localizer

  app.addHook('onReady', async () => {
    // The page a raw socket answer (431 and other parse errors) sends: the layout in English, placeholders filled later.
    const fake = { url: '/', headers: {} } as unknown as FastifyRequest
    const ctx: PageContext = { app, request: fake, reply: undefined as unknown as FastifyReply, lang: DEFAULT_LANG, t: i18n.t(DEFAULT_LANG), visitor: ANONYMOUS, path: '/', prefix: '', cacheable: true }
    rawTemplate = await app.view('error', { ...common(ctx, 'Error __STATUS__'), status: '__STATUS__', heading: '__MESSAGE__', message: '' }) as string
  })
}, { name: 'pages', dependencies: ['i18n', 'view', 'sessions', 'users', 'assets', 'config', 'errors'] })
