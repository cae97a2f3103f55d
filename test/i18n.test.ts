// SPEC §8: the locale files are complete and agree, every coded error has a translation,
// the language is negotiated by prefix, cookie, Accept-Language and default, and API
// error msgs follow the cookie and Accept-Language.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { body, build } from './helper.js'
import {
  I18n, LANGUAGE_CODES, PLURAL_SUFFIX, cookieValue, flatten, langOfTag, loadCatalogs, negotiate, prefixLang, type Lang
} from '../plugins/app/pages/i18n.js'
import { english, errors, ParleyError, type ErrorKey, type ReasonKey } from '../plugins/app/errors.js'

const catalogs = loadCatalogs()
const placeholders = (s: string): string[] => [...s.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1] as string).sort()

/** key without its plural suffix → the suffixes present ('' for a plain key) and the placeholders of all its forms. */
function shape (lang: Lang): Map<string, { forms: Set<string>, names: Set<string> }> {
  const out = new Map<string, { forms: Set<string>, names: Set<string> }>()
  for (const [key, text] of Object.entries(flatten(catalogs[lang]))) {
    const m = PLURAL_SUFFIX.exec(key)
    const base = m === null ? key : key.slice(0, m.index)
    let entry = out.get(base)
    if (entry === undefined) { entry = { forms: new Set(), names: new Set() }; out.set(base, entry) }
    entry.forms.add(m === null ? '' : m[1] as string)
    for (const n of placeholders(text)) entry.names.add(n)
  }
  return out
}

t.test('every locale has every key of every other, with the same placeholders, and the plural forms of its CLDR rules', async (t) => {
  const shapes = Object.fromEntries(LANGUAGE_CODES.map((l) => [l, shape(l)])) as Record<Lang, ReturnType<typeof shape>>
  const all = new Set(LANGUAGE_CODES.flatMap((l) => [...shapes[l].keys()]))
  t.ok(all.size > 100, 'a real catalog')
  for (const section of ['page', 'error']) t.ok([...all].some((k) => k.startsWith(section + '.')), `has the ${section} section`)
  for (const lang of LANGUAGE_CODES) {
    const categories = new Set(new Intl.PluralRules(lang).resolvedOptions().pluralCategories as string[])
    for (const key of all) {
      const here = shapes[lang].get(key)
      if (here === undefined) { t.fail(`${lang} lacks ${key}`); continue }
      const plural = [...LANGUAGE_CODES].some((l) => [...(shapes[l].get(key)?.forms ?? [])].some((f) => f !== ''))
      if (plural) {
        t.same([...here.forms].sort(), [...categories].sort(), `${lang} ${key} has the plural forms ${[...categories].join(', ')}`)
      } else {
        t.same([...here.forms], [''], `${lang} ${key} is not plural`)
      }
      const english = shapes.en.get(key)
      t.same([...here.names].sort(), [...(english?.names ?? [])].sort(), `${lang} ${key} has the placeholders of en`)
    }
  }
})

t.test('no translation is left empty or identical to a placeholder text', async (t) => {
  for (const lang of LANGUAGE_CODES) {
    for (const [key, text] of Object.entries(flatten(catalogs[lang]))) {
      if (text.trim() === '' || /TODO|FIXME|XXX/.test(text)) t.fail(`${lang} ${key} is empty or a placeholder`)
    }
  }
  // German and Chinese are translations, not copies of the English.
  const en = flatten(catalogs.en)
  for (const lang of ['de', 'zh-hans'] as const) {
    const own = flatten(catalogs[lang])
    const same = Object.keys(en).filter((k) => en[k] === own[k] && !/^(page\.site\.name|page\.nav\.api|page\.app\.title|page\.features\.(markdown|streams)_title|page\.api\.name)$/.test(k) && !k.startsWith('web.'))
    t.same(same, [], `${lang} translates every page and error string`)
  }
})

t.test('a missing key would be caught: the check itself fails on a broken catalog', async (t) => {
  const broken = structuredClone(catalogs)
  delete (broken.de.page as Record<string, Record<string, string>>).login?.failed
  const keysOf = (c: Record<string, unknown>): string[] => Object.keys(flatten(c)).map((k) => k.replace(PLURAL_SUFFIX, ''))
  const missing = keysOf(broken.en).filter((k) => !new Set(keysOf(broken.de)).has(k))
  t.same(missing, ['page.login.failed'])
})

t.test('every error msg is keyed where it is made: its English text from en.json, an unknown key or a missing variable refused', async (t) => {
  // A misspelled key fails tsc (ErrorKey is the catalog's keys); a key forced past the type throws.
  t.throws(() => errors.badRequest('error.no_such_key' as ErrorKey), /no error msg error\.no_such_key/)
  t.throws(() => errors.invalid('x', 'error.why.no_such_reason' as ReasonKey), /no error msg error\.why\.no_such_reason/)
  t.throws(() => errors.notFound('error.no_such_stream'), /needs the variable name/)
  t.throws(() => new ParleyError('BAD_REQUEST', 'Something nobody wrote down' as ErrorKey), /no error msg/)
  t.equal(errors.invalid('topic', 'error.why.at_most_characters', { count: 1 }).message, "Invalid 'topic': at most 1 character", 'English plurals')
  t.equal(english({ key: 'error.why.at_most_characters', vars: { count: 60 } }), 'at most 60 characters')
  t.equal(errors.csrf('error.why.csrf_missing').extra.reason, 'CSRF token missing.', 'the envelope\'s reason is English')
  // Every msg of the catalog renders in every language with its variables filled.
  const i18n = new I18n(catalogs)
  const keys = new Set(Object.keys(flatten(catalogs.en)).filter((k) => k.startsWith('error.') && !k.startsWith('error.why.')).map((k) => k.replace(PLURAL_SUFFIX, '')))
  t.ok(keys.size > 40)
  for (const key of keys) {
    const vars = { name: 'n', id: 7, email: 'e', type: 'x', integration: 'GitHub', header: 'X-GitHub-Event', event: 'star', reason: { key: 'error.why.csrf_missing', vars: {} }, why: { key: 'error.why.at_most_characters', vars: { count: 2 } } } as const
    const err = new ParleyError('BAD_REQUEST', key as ErrorKey, vars)
    for (const lang of LANGUAGE_CODES) {
      const text = i18n.errorMessage(lang, err)
      t.ok(text !== key && !text.includes('{{'), `${lang} ${key}: ${text}`)
    }
  }
})

t.test('errors translate with their variables and plurals; en is the text itself', async (t) => {
  const i18n = new I18n(catalogs)
  t.equal(i18n.errorMessage('de', errors.missing('topic')), 'Argument „topic“ fehlt')
  t.equal(i18n.errorMessage('zh-hans', errors.missing('topic')), '缺少参数“topic”')
  t.equal(i18n.errorMessage('de', errors.invalid('topic', 'error.why.at_most_characters', { count: 60 })), 'Ungültiges „topic“: höchstens 60 Zeichen')
  t.equal(i18n.errorMessage('de', errors.notFound('error.no_such_stream', { name: 'Dänemark' })), 'Der Stream „Dänemark“ existiert nicht')
  t.equal(i18n.errorMessage('de', errors.csrf('error.why.csrf_missing')), 'CSRF-Fehler: CSRF-Token fehlt.')
  const err = errors.badQueue('abc')
  t.equal(i18n.errorMessage('en', err), err.message)
  t.equal(i18n.t('en')('page.login.too_many', { count: 1 }), 'Too many failed attempts. Try again in 1 minute.')
  t.equal(i18n.t('en')('page.login.too_many', { count: 2 }), 'Too many failed attempts. Try again in 2 minutes.')
  t.equal(i18n.t('de')('page.api.summary', { count: 1 }), '1 Ressourcenpfad')
  t.equal(i18n.t('de')('page.api.summary', { count: 3 }), '3 Ressourcenpfade')
  t.equal(i18n.t('zh-hans')('page.api.summary', { count: 1 }), '共 1 个资源路径')
})

t.test('Accept-Language tags map onto our languages, by q-value', async (t) => {
  const cases: Array<[string | undefined, Lang | undefined]> = [
    [undefined, undefined], ['', undefined], ['fr', undefined], ['*', undefined],
    ['de', 'de'], ['de-AT', 'de'], ['de-CH,en;q=0.5', 'de'], ['en-GB', 'en'],
    ['zh', 'zh-hans'], ['zh-CN', 'zh-hans'], ['zh-Hans', 'zh-hans'], ['zh-Hans-CN', 'zh-hans'], ['zh-SG', 'zh-hans'],
    ['zh-TW', undefined], ['zh-Hant', undefined], ['zh-TW,de;q=0.3', 'de'],
    ['fr, de-AT;q=0.8, zh;q=0.9', 'zh-hans'], ['en;q=0.1, de;q=0.2', 'de'], ['de;q=0, en;q=0.1', 'en'],
    ['en, de', 'en'], ['DE', 'de'], ['de;q=abc, en;q=0.5', 'en']
  ]
  for (const [header, want] of cases) t.equal(negotiate(header), want, String(header))
  t.equal(langOfTag(' ZH-cn '), 'zh-hans')
  t.equal(prefixLang('/de/features'), 'de')
  t.equal(prefixLang('/de'), 'de')
  t.equal(prefixLang('/deutsch'), undefined)
  t.equal(prefixLang('/zh-hans/?x'), 'zh-hans')
  const req = (cookie: string | undefined): FastifyRequest => ({ headers: cookie === undefined ? {} : { cookie } }) as unknown as FastifyRequest
  t.equal(cookieValue(req('a=1; parley_language=de; b=2'), 'parley_language'), 'de')
  t.equal(cookieValue(req('xparley_language=de'), 'parley_language'), undefined)
  t.equal(cookieValue(req(undefined), 'parley_language'), undefined)
  const parsed = { headers: { cookie: 'parley_language=de' }, cookies: { parley_language: 'zh-hans' } } as unknown as FastifyRequest
  t.equal(cookieValue(parsed, 'parley_language'), 'zh-hans', 'cookies @fastify/cookie parsed are not parsed again')
})

t.test('API error msgs follow the cookie, then Accept-Language; code never changes', async (t) => {
  const { app } = await build(t)
  const cases: Array<[Record<string, string>, string]> = [
    [{}, 'Not logged in: API authentication or user session required'],
    [{ 'accept-language': 'de' }, 'Nicht angemeldet: API-Authentifizierung oder Benutzersitzung erforderlich'],
    [{ 'accept-language': 'zh-CN,zh;q=0.9' }, '未登录：需要 API 认证或用户会话'],
    [{ 'accept-language': 'de', cookie: 'parley_language=zh-hans' }, '未登录：需要 API 认证或用户会话'],
    [{ 'accept-language': 'de', cookie: 'parley_language=en' }, 'Not logged in: API authentication or user session required'],
    [{ 'accept-language': 'de', cookie: 'parley_language=klingon' }, 'Nicht angemeldet: API-Authentifizierung oder Benutzersitzung erforderlich']
  ]
  for (const [headers, msg] of cases) {
    for (const url of ['/api/v1/users/me', '/json/users/me']) {
      const res = await app.inject({ url, headers })
      t.equal(res.statusCode, 401)
      t.same(body(res), { result: 'error', msg, code: 'UNAUTHORIZED' }, `${url} ${JSON.stringify(headers)}`)
    }
  }
  const missing = await app.inject({ method: 'POST', url: '/api/v1/fetch_api_key', headers: { 'accept-language': 'de' }, payload: { username: 'x@example.com' } })
  t.same(body(missing), { result: 'error', msg: 'Argument „password“ fehlt', code: 'REQUEST_VARIABLE_MISSING', var_name: 'password' })
  const notFound = await app.inject({ url: '/api/v1/nope', headers: { 'accept-language': 'zh-Hans' } })
  t.same(body(notFound), { result: 'error', msg: '未找到', code: 'NOT_FOUND' })
})
