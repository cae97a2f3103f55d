// SPEC §9 production build (scripts/build-assets.ts): minified JS and CSS under
// content-hashed names and their original ones, a manifest, gzip and brotli siblings.
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { buildAssets } from '../scripts/build-assets.js'
import { buildWeb } from '../scripts/build-web.js'

// Big enough, and repetitive enough, that compression pays even after minification.
const RULES = Array.from({ length: 40 }, (_, i) => `.stream-${i} .topic   {\n  color: #336699;\n  margin: 0 auto;\n}\n`).join('')
const CSS = '/* the app */\nbody {\n  margin: 0;\n  color: #ff0000;\n}\n\n' + RULES
const LINES = Array.from({ length: 40 }, (_, i) => `greet("stream number ${i}")\n`).join('')
const JS = '// the web app\nexport function greet (name) {\n  const greeting = "Hello, " + name\n  return greeting\n}\n' + LINES + '//# sourceMappingURL=app.js.map\n'
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8">' + '<circle cx="4" cy="4" r="4" fill="#f00"/>'.repeat(10) + '</svg>\n'
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex')

function tree (files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-static-src-'))
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true })
    writeFileSync(join(dir, name), content)
  }
  return dir
}

function listing (dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => f.split('\\').join('/')).sort()
}

t.test('npm run build writes hashed, minified, precompressed copies with a manifest', async (t) => {
  const src = tree({
    'css/app.css': CSS,
    'js/app.js': JS,
    'js/app.js.map': '{"version":3}',
    'images/dot.svg': SVG,
    'images/pixel.png': PNG,
    '.env': 'SECRET=1',
    '.cache/x.css': 'a{}',
    'images/.DS_Store': 'x'
  })
  const out = mkdtempSync(join(tmpdir(), 'parley-static-out-'))
  t.teardown(() => { rmSync(src, { recursive: true, force: true }); rmSync(out, { recursive: true, force: true }) })
  writeFileSync(join(out, 'stale.txt'), 'from an earlier build')

  const manifest = await buildAssets(src, out)
  t.same(Object.keys(manifest).sort(), ['css/app.css', 'images/dot.svg', 'images/pixel.png', 'js/app.js'], 'every file but dotfiles and source maps')
  t.match(manifest['css/app.css'], /^css\/app\.[0-9a-f]{8}\.css$/)
  t.match(manifest['js/app.js'], /^js\/app\.[0-9a-f]{8}\.js$/)
  t.match(manifest['images/pixel.png'], /^images\/pixel\.[0-9a-f]{8}\.png$/)
  t.same(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')), manifest, 'manifest.json on disk')

  const files = listing(out)
  t.notOk(files.some((f) => f.split('/').some((p) => p.startsWith('.'))), 'no dotfiles copied')
  t.notOk(files.some((f) => f.endsWith('.map')), 'no source maps in production')
  t.notOk(files.includes('stale.txt'), 'the output directory is emptied first')

  const css = readFileSync(join(out, manifest['css/app.css'] as string), 'utf8')
  t.ok(css.length < CSS.length, 'CSS minified')
  t.notMatch(css, 'the app', 'CSS comments dropped')
  t.match(css, /color:(red|#f00)/)
  const js = readFileSync(join(out, manifest['js/app.js'] as string), 'utf8')
  t.ok(js.length < JS.length, 'JS minified')
  t.notMatch(js, 'sourceMappingURL', 'no link to a source map')
  t.match(js, 'Hello, ')

  for (const [name, hashed] of Object.entries(manifest)) {
    const content = readFileSync(join(out, hashed))
    t.same(readFileSync(join(out, name)), content, `${name}: the original name holds the same bytes`)
    if (name.endsWith('.png')) {
      t.notOk(existsSync(join(out, `${hashed}.gz`)) || existsSync(join(out, `${hashed}.br`)), `${name}: no siblings for a compressed format`)
      t.same(readFileSync(join(out, name)), PNG, 'binary files copied unchanged')
      continue
    }
    for (const f of [hashed, name]) {
      t.same(gunzipSync(readFileSync(join(out, `${f}.gz`))), content, `${f}.gz decompresses to the file`)
      t.same(brotliDecompressSync(readFileSync(join(out, `${f}.br`))), content, `${f}.br decompresses to the file`)
    }
  }
})

t.test('a hashed name changes with the content and only with it', async (t) => {
  const src = tree({ 'css/app.css': CSS })
  const out = mkdtempSync(join(tmpdir(), 'parley-static-out-'))
  t.teardown(() => { rmSync(src, { recursive: true, force: true }); rmSync(out, { recursive: true, force: true }) })
  const first = await buildAssets(src, out)
  const again = await buildAssets(src, out)
  t.equal(again['css/app.css'], first['css/app.css'], 'the same content, the same name')
  writeFileSync(join(src, 'css/app.css'), CSS.replace('#ff0000', '#00ff00'))
  const changed = await buildAssets(src, out)
  t.not(changed['css/app.css'], first['css/app.css'], 'new content, a new name')
  t.notOk(existsSync(join(out, first['css/app.css'] as string)), 'the old hashed file is gone from the new build')
})

// Regression: test/server.test.ts runs `npm run build` while the browser tests' server
// serves static/js/app.js; a bundle rewritten in place was once sent half-written.
t.test('rebuilding an unchanged web app leaves static/js/app.js untouched', async (t) => {
  await buildWeb()
  const before = statSync('static/js/app.js')
  await buildWeb()
  const after = statSync('static/js/app.js')
  t.equal(after.ino, before.ino, 'the same file')
  t.equal(after.mtimeMs, before.mtimeMs, 'not written again')
})
