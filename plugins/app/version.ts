// The server's version, read once from package.json (two levels up from source, three from dist/).
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const file = ['../../package.json', '../../../package.json']
  .map((p) => fileURLToPath(new URL(p, import.meta.url)))
  .find((p) => existsSync(p))
export const VERSION: string = file === undefined ? '0.0.0' : (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
