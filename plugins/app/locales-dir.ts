// Where locales/ is, for the two modules that read it: the error factories (English
// msgs, plugins/app/errors.ts) and the translations (plugins/app/pages/i18n.ts).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** locales/ at the root: two levels above this module in the sources, three when running from dist/. */
export const LOCALES_DIR = ['../../locales', '../../../locales']
  .map((p) => fileURLToPath(new URL(p, import.meta.url)))
  .find((p) => existsSync(p)) ?? fileURLToPath(new URL('../../locales', import.meta.url))
