// Internationalization (SPEC §8): the locale files, i18next's lookup and CLDR plurals,
// the visitor's language (prefix, cookie, Accept-Language, en), and API error msgs
// in that language.
import fp from 'fastify-plugin'
import i18next, { type i18n as I18next, type TFunction } from 'i18next'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { readFileSync } from 'node:fs'
import { parseCookie } from 'cookie'
import type { Keyed, ParleyError } from '../errors.js'
import { LOCALES_DIR } from '../locales-dir.js'
import { BoundedMap } from '../bounded-map.js'

export const LANGUAGES = [
  { code: 'en', name: 'English' },
  { code: 'de', name: 'Deutsch' },
  { code: 'zh-hans', name: '简体中文' }
] as const
export type Lang = typeof LANGUAGES[number]['code']
export const LANGUAGE_CODES: readonly Lang[] = LANGUAGES.map((l) => l.code)
export const DEFAULT_LANG: Lang = 'en'
export const LANGUAGE_COOKIE = 'parley_language'

export { LOCALES_DIR }

export type Catalog = Record<string, unknown>

export function readLocale (lang: Lang, dir = LOCALES_DIR): Catalog {
  return JSON.parse(readFileSync(`${dir}/${lang}.json`, 'utf8')) as Catalog
}

export function isLang (s: unknown): s is Lang {
  return s === 'en' || s === 'de' || s === 'zh-hans'
}

/** One Accept-Language tag → our language, or undefined. zh-TW/HK/MO/Hant are not Simplified: skipped. */
export function langOfTag (tag: string): Lang | undefined {
  const t = tag.trim().toLowerCase()
  const primary = t.split('-', 1)[0]
  if (primary === 'en') return 'en'
  if (primary === 'de') return 'de'
  if (primary === 'zh') {
    if (t === 'zh' || t.startsWith('zh-hans') || t === 'zh-cn' || t === 'zh-sg' || t === 'zh-my') return 'zh-hans'
    return undefined
  }
  return undefined
}

const negotiated = new BoundedMap<string, Lang | null>(1000)

/** The best of our languages for an Accept-Language header (q-values honoured; ties keep header order). */
export function negotiate (header: string | undefined): Lang | undefined {
  if (header === undefined || header === '') return undefined
  const known = negotiated.get(header)
  if (known !== undefined) return known ?? undefined
  let best: Lang | undefined
  let bestQ = 0
  for (const part of header.slice(0, 1000).split(',')) {
    const [tag = '', ...params] = part.split(';')
    let q = 1
    for (const p of params) {
      const [k, v] = p.split('=')
      if (k?.trim() === 'q' && v !== undefined) q = Number(v)
    }
    if (!(q > bestQ) || q > 1) continue
    const lang = langOfTag(tag)
    if (lang !== undefined) { best = lang; bestQ = q }
  }
  negotiated.set(header, best ?? null)
  return best
}

/**
 * One cookie of a request: the cookies @fastify/cookie parsed (the pages' and /json's scopes),
 * else parsed now by the library under it, `cookie` (the 404 page and API error msgs, outside those scopes).
 */
export function cookieValue (request: FastifyRequest, name: string): string | undefined {
  const parsed = (request as { cookies?: Record<string, string | undefined> }).cookies
  if (parsed !== undefined) return parsed[name]
  const header = request.headers.cookie
  return header === undefined ? undefined : parseCookie(header)[name]
}

/** The language of an unprefixed request: cookie, then Accept-Language, then en. */
export function requestLang (request: FastifyRequest): Lang {
  const cookie = cookieValue(request, LANGUAGE_COOKIE)
  if (isLang(cookie)) return cookie
  return negotiate(request.headers['accept-language']) ?? DEFAULT_LANG
}

/** `/de/features` → 'de'; `/features` → undefined. */
export function prefixLang (url: string): Lang | undefined {
  for (const lang of LANGUAGE_CODES) {
    if (url.startsWith(`/${lang}`)) {
      const next = url.charCodeAt(lang.length + 1)
      if (Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */) return lang
    }
  }
  return undefined
}

/** Leaves of a nested catalog as dotted keys. */
export function flatten (obj: Catalog, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix === '' ? k : `${prefix}.${k}`
    if (typeof v === 'string') out[key] = v
    else if (typeof v === 'object' && v !== null) flatten(v as Catalog, key, out)
  }
  return out
}

export const PLURAL_SUFFIX = /_(zero|one|two|few|many|other)$/

export class I18n {
  readonly languages = LANGUAGES
  private readonly fixed: Record<Lang, TFunction>
  readonly catalogs: Record<Lang, Catalog>

  constructor (catalogs: Record<Lang, Catalog>) {
    this.catalogs = catalogs
    const instance: I18next = i18next.createInstance()
    // Synchronous with initAsync: false and in-memory resources; the promise only repeats that.
    instance.init({
      initAsync: false,
      resources: Object.fromEntries(LANGUAGE_CODES.map((l) => [l, { translation: catalogs[l] }])),
      lng: DEFAULT_LANG,
      fallbackLng: DEFAULT_LANG,
      supportedLngs: [...LANGUAGE_CODES],
      lowerCaseLng: true,
      load: 'currentOnly',
      // Templates escape (eta's auto-escaping); JSON needs none.
      interpolation: { escapeValue: false },
      returnNull: false,
      showSupportNotice: false
    } as Parameters<I18next['init']>[0]).catch(() => {})
    this.fixed = Object.fromEntries(LANGUAGE_CODES.map((l) => [l, instance.getFixedT(l)])) as Record<Lang, TFunction>
  }

  /** The translate function of one language. */
  t (lang: Lang): TFunction { return this.fixed[lang] }

  /** The web app's strings of one language (the `web` section), for the app shell's bootstrap. */
  web (lang: Lang): Catalog {
    return (this.catalogs[lang].web as Catalog | undefined) ?? {}
  }

  /** A keyed msg (an error's) in `lang`, from its key and variables (a variable that is itself a keyed msg, as a `why`, translated too). */
  errorMessage (lang: Lang, msg: Keyed & { message: string }): string {
    if (lang === DEFAULT_LANG) return msg.message
    return this.keyed(this.fixed[lang], msg)
  }

  private keyed (t: TFunction, { key, vars }: Keyed): string {
    const values: Record<string, string | number> = {}
    for (const [name, value] of Object.entries(vars)) values[name] = typeof value === 'object' ? this.keyed(t, value) : value
    return t(key, values)
  }
}

/** Every language's catalog: page strings, API error msgs and the web app's strings. */
export function loadCatalogs (dir = LOCALES_DIR): Record<Lang, Catalog> {
  const out = {} as Record<Lang, Catalog>
  for (const lang of LANGUAGE_CODES) out[lang] = readLocale(lang, dir)
  return out
}

declare module 'fastify' {
  interface FastifyInstance {
    i18n: I18n
  }
}

export default fp(async function i18nPlugin (app: FastifyInstance) {
  const i18n = new I18n(loadCatalogs())
  app.decorate('i18n', i18n)
}, { name: 'i18n' })
