// The web app's first load, JS + CSS, minified and brotli-compressed, stays ≤ 100 KB
// (issue 14 point 7; Zulip's web app is several megabytes). Deterministic: esbuild's
// minified output and brotli at quality 11 do not vary between runs.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { brotliCompressSync, constants } from 'node:zlib'
import * as esbuild from 'esbuild'
import { buildWeb } from '../../scripts/build-web.js'

const LIMIT = 100 * 1024
const brotli = (data: Uint8Array | string): number =>
  brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length

t.test('web app JS + CSS ≤ 100 KB brotli-compressed', async (t) => {
  const built = await buildWeb({ minify: true, write: false })
  const js = built.outputFiles?.find((f) => f.path.endsWith('.js'))
  t.ok(js, 'esbuild produced the bundle')
  const cssSource = readFileSync(fileURLToPath(new URL('../../static/css/app.css', import.meta.url)), 'utf8')
  const css = (await esbuild.transform(cssSource, { loader: 'css', minify: true })).code
  const jsBytes = js?.contents.length ?? 0
  const jsBr = brotli(js?.contents ?? new Uint8Array())
  const cssBr = brotli(css)
  t.comment(`JS ${jsBytes} B minified, ${jsBr} B brotli; CSS ${css.length} B minified, ${cssBr} B brotli; total ${jsBr + cssBr} B brotli (limit ${LIMIT})`)
  t.ok(jsBr + cssBr <= LIMIT, `${jsBr + cssBr} B ≤ ${LIMIT} B`)
})
