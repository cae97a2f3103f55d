// The web app's strings, through i18next as on the server (plugins/app/pages/i18n.ts): the page
// hands over the current language's `web` section of locales/<lang>.json in the bootstrap JSON;
// the English section is bundled as the fallback. Plural forms follow CLDR (`key_one`/`key_other`).
import i18next, { type i18n as I18next } from 'i18next'
import { web as en } from '../locales/en.json'

type Dict = Record<string, unknown>

let language = 'en'
let instance: I18next = make('en', undefined)

function make (lang: string, translations: Dict | undefined): I18next {
  const i = i18next.createInstance()
  const resources: Record<string, { translation: Dict }> = { en: { translation: en } }
  if (translations !== undefined && Object.keys(translations).length > 0) resources[lang] = { translation: translations }
  // Synchronous: in-memory resources and initAsync false. Preact escapes what it renders.
  i.init({ lng: lang, fallbackLng: 'en', lowerCaseLng: true, resources, initAsync: false, interpolation: { escapeValue: false } }).catch(() => {})
  return i
}

export function setupI18n (lang: string, translations: Dict | undefined): void {
  language = lang
  instance = make(lang, translations)
}

export const currentLanguage = (): string => language

/** The BCP 47 tag for Intl formatters. */
export const localeTag = (): string => language === 'zh-hans' ? 'zh-Hans' : language

/** Translates `key`; `vars.count` (a number) picks the plural form. */
export function t (key: string, vars: Record<string, string | number> = {}): string {
  return instance.t(key, vars)
}
