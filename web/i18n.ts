// The web app's strings: the page hands over the current language's `web` section in the
// bootstrap JSON; the bundled English is the fallback. Keys and placeholders follow i18next
// (`{{name}}`, plural forms as `key_one`/`key_other`…), so the lead can fold web/locales/*.json
// into locales/<lang>.json under `web`; until a page hands them over (an empty section), the
// bundled copy of the same language is used. Plural categories come from Intl.PluralRules (CLDR).
import en from './locales/en.json'
import de from './locales/de.json'
import zhHans from './locales/zh-hans.json'

type Dict = Record<string, unknown>

const BUNDLED: Record<string, Dict> = { en, de, 'zh-hans': zhHans }

let strings: Dict = en
let language = 'en'
let plurals = new Intl.PluralRules('en')

export function setupI18n (lang: string, translations: Dict | undefined): void {
  language = lang
  strings = translations !== undefined && Object.keys(translations).length > 0 ? translations : BUNDLED[lang] ?? en
  try {
    plurals = new Intl.PluralRules(lang === 'zh-hans' ? 'zh-Hans' : lang)
  } catch {
    plurals = new Intl.PluralRules('en')
  }
}

export const currentLanguage = (): string => language

/** The BCP 47 tag for Intl formatters. */
export const localeTag = (): string => language === 'zh-hans' ? 'zh-Hans' : language

/** A nested key (`sidebar.streams`), as i18next reads the locale files. */
function lookup (dict: Dict, key: string): string | undefined {
  let v: unknown = dict
  for (const part of key.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined
    v = (v as Dict)[part]
  }
  return typeof v === 'string' ? v : undefined
}

function find (key: string): string | undefined {
  return lookup(strings, key) ?? lookup(en, key)
}

/** Translates `key`; `vars.count` (a number) picks the plural form. */
export function t (key: string, vars: Record<string, string | number> = {}): string {
  let text: string | undefined
  if (typeof vars.count === 'number') {
    text = lookup(strings, `${key}_${plurals.select(vars.count)}`) ?? lookup(strings, `${key}_other`) ??
      lookup(en, `${key}_${vars.count === 1 ? 'one' : 'other'}`)
  }
  text ??= find(key) ?? key
  return text.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name: string) => {
    const v = vars[name]
    return v === undefined ? whole : String(v)
  })
}
