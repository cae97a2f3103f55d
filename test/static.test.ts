// SPEC §9 static files: served from static/ as they are in development and from the
// production build (hashed, immutable, precompressed, validated) after `npm run build`;
// a missing file is the app's HTML 404; dotfiles are never served; path traversal never
// leaves the directory (over a real socket: inject normalises `..`).
import t, { type Test } from 'tap'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import { build } from './helper.js'
import { buildAssets } from '../scripts/build-assets.js'
import { chooseCoding, noneMatch } from '../plugins/app/pages/assets.js'

interface Raw { status: number, headers: Record<string, string>, body: string }

/** One request with the path written byte for byte on the wire: no client-side normalisation at all. */
function rawGet (port: number, path: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
    })
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', reject)
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const [head = '', ...rest] = text.split('\r\n\r\n')
      const [statusLine = '', ...lines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const l of lines) {
        const i = l.indexOf(':')
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim()
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') })
    })
  })
}

/** Builds the app with PARLEY_STATIC_DIR set to `dir`. */
async function buildWith (t: Test, dir: string | undefined): Promise<FastifyInstance> {
  return (await build(t, dir === undefined ? {} : { PARLEY_STATIC_DIR: dir })).app
}

async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as AddressInfo).port
}

function tree (files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-static-'))
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true })
    writeFileSync(join(dir, name), content)
  }
  return dir
}

/** Every spelling of a way out of static/ tried on both servers: none may answer the file, none a 5xx. */
const TRAVERSALS = [
  '/static/../package.json',
  '/static/%2e%2e/package.json',
  '/static/%2E%2E/package.json',
  '/static/..%2fpackage.json',
  '/static/..%2Fpackage.json',
  '/static/%2e%2e%2fpackage.json',
  '/static/images/../../package.json',
  '/static/images/%2e%2e/%2e%2e/package.json',
  '/static/images/..%2f..%2fpackage.json',
  '/static/..%5cpackage.json',
  '/static/%5c..%5cpackage.json',
  '/static/..\\package.json',
  '/static/images/..\\..\\package.json',
  '/static/....//package.json',
  '/static//etc/passwd',
  '/static///etc/passwd',
  '//static/../package.json',
  '/static/%2f%2e%2e%2fpackage.json',
  '/static/%2fetc%2fpasswd',
  '/static/%00',
  '/static/images/avatar.svg%00.png',
  '/static/..%00/package.json',
  '/static/%c0%ae%c0%ae/package.json',
  '/static/..%252fpackage.json',
  '/static/.env',
  '/static/.git/config',
  '/static/images/.hidden.svg'
]

async function checkTraversals (t: Test, port: number): Promise<void> {
  const pkg = readFileSync('package.json', 'utf8')
  for (const path of TRAVERSALS) {
    const res = await rawGet(port, path)
    t.ok(res.status >= 400 && res.status < 500, `${path} answers ${res.status}, a 4xx`)
    if (res.status === 404) t.equal(res.headers['content-type'], 'text/html; charset=utf-8', `${path}: the HTML 404 page`)
    t.notOk(res.body.includes('"name": "parley"') || res.body.includes(pkg.slice(0, 40)) || res.body.includes('root:x:0:0'), `${path} leaks nothing`)
  }
}

t.test('development: static/ as it is, the 404 page and traversal attempts', async (t) => {
  const app = await buildWith(t, undefined)
  t.equal(app.assets.manifest, undefined, 'no manifest in the checkout: files served as they are')
  t.equal(app.assets.url('css/app.css'), '/static/css/app.css')
  const port = await listen(app)

  const avatar = await rawGet(port, '/static/images/avatar.svg')
  t.equal(avatar.status, 200)
  t.equal(avatar.headers['content-type'], 'image/svg+xml')
  t.match(avatar.body, '<svg')
  for (const emoji of ['smile', 'heart', 'thumbs_up', 'tada', 'check', 'eyes', 'rocket']) {
    const res = await rawGet(port, `/static/images/emoji/${emoji}.svg`)
    t.equal(res.status, 200, `emoji ${emoji}`)
    t.match(res.body, /^<svg /)
  }

  for (const path of ['/static/nope.css', '/static/', '/static', '/no-such-page']) {
    const res = await rawGet(port, path)
    t.equal(res.status, 404, `${path} is 404`)
    t.equal(res.headers['content-type'], 'text/html; charset=utf-8', `${path} answers the HTML page`)
  }
  await checkTraversals(t, port)
})

t.test('development: the web bundle unminified, with its source map beside it', async (t) => {
  const js = 'export function hello () {\n  return "hello"\n}\n//# sourceMappingURL=app.js.map\n'
  const map = '{"version":3,"sources":["../../web/main.tsx"],"mappings":"AAAA"}'
  const dir = tree({ 'js/app.js': js, 'js/app.js.map': map, '.env': 'SECRET=1', 'images/.hidden.svg': '<svg/>' })
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const app = await buildWith(t, dir)
  t.equal(app.assets.dir, dir)
  const port = await listen(app)
  const res = await rawGet(port, '/static/js/app.js')
  t.equal(res.status, 200)
  t.equal(res.body, js, 'byte for byte as on disk')
  t.match(res.headers['content-type'], /javascript/)
  const mapRes = await rawGet(port, '/static/js/app.js.map')
  t.equal(mapRes.status, 200)
  t.equal(mapRes.body, map)
  for (const path of ['/static/.env', '/static/images/.hidden.svg']) {
    t.equal((await rawGet(port, path)).status, 404, `${path}: dotfiles are never served`)
  }
})

t.test('PARLEY_STATIC_DIR naming no directory stops the start, naming the variable', async (t) => {
  await t.rejects(buildWith(t, '/no/such/dir'), /PARLEY_STATIC_DIR/)
})

// Big and repetitive enough that the build writes .gz and .br siblings.
const CSS = Array.from({ length: 60 }, (_, i) => `.stream-${i} .topic {\n  color: #336699;\n  margin: 0 auto;\n}\n`).join('')
const JS = 'export function hello (name) {\n  return "hello " + name\n}\n' + Array.from({ length: 60 }, (_, i) => `hello("reader ${i}")\n`).join('') + '//# sourceMappingURL=app.js.map\n'
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex')

t.test('production: the build held in memory', async (t) => {
  const src = tree({ 'css/app.css': CSS, 'js/app.js': JS, 'js/app.js.map': '{}', 'images/pixel.png': PNG, '.env': 'SECRET=1' })
  const out = mkdtempSync(join(tmpdir(), 'parley-static-build-'))
  t.teardown(() => { rmSync(src, { recursive: true, force: true }); rmSync(out, { recursive: true, force: true }) })
  const manifest = await buildAssets(src, out)
  const app = await buildWith(t, out)
  const cssName = manifest['css/app.css'] as string
  const css = readFileSync(join(out, cssName))

  t.test('pages link the hashed names from the manifest', async (t) => {
    t.same(app.assets.manifest, manifest)
    t.equal(app.assets.url('css/app.css'), `/static/${cssName}`)
    t.equal(app.assets.url('js/app.js'), `/static/${manifest['js/app.js'] as string}`)
    t.equal(app.assets.url('css/none.css'), '/static/css/none.css', 'a name the build lacks is linked as it is')
  })

  t.test('a hashed file: immutable, brotli preferred over gzip, with Vary', async (t) => {
    const br = await app.inject({ url: `/static/${cssName}`, headers: { 'accept-encoding': 'gzip, deflate, br, zstd' } })
    t.equal(br.statusCode, 200)
    t.equal(br.headers['cache-control'], 'public, max-age=31536000, immutable')
    t.equal(br.headers['content-type'], 'text/css; charset=utf-8')
    t.equal(br.headers['content-encoding'], 'br')
    t.equal(br.headers.vary, 'Accept-Encoding')
    t.match(br.headers.etag, /^"[^"]+"$/, 'a strong ETag')
    t.same(brotliDecompressSync(br.rawPayload), css, 'decompresses to the minified file')
    t.equal(Number(br.headers['content-length']), br.rawPayload.length)

    const gz = await app.inject({ url: `/static/${cssName}`, headers: { 'accept-encoding': 'gzip' } })
    t.equal(gz.headers['content-encoding'], 'gzip')
    t.equal(gz.headers.vary, 'Accept-Encoding')
    t.same(gunzipSync(gz.rawPayload), css)
    t.not(gz.headers.etag, br.headers.etag, 'each encoding has its own ETag')

    const plain = await app.inject({ url: `/static/${cssName}` })
    t.equal(plain.headers['content-encoding'], undefined, 'no Accept-Encoding: the file itself')
    t.equal(plain.headers.vary, 'Accept-Encoding')
    t.same(plain.rawPayload, css)

    const refused = await app.inject({ url: `/static/${cssName}`, headers: { 'accept-encoding': 'br;q=0, gzip;q=0.5' } })
    t.equal(refused.headers['content-encoding'], 'gzip', 'br;q=0 refuses brotli')
  })

  t.test('a conditional GET with the ETag answers 304', async (t) => {
    const first = await app.inject({ url: `/static/${cssName}`, headers: { 'accept-encoding': 'br' } })
    const etag = first.headers.etag as string
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const res = await app.inject({ url: `/static/${cssName}`, headers: { 'accept-encoding': 'br', 'if-none-match': inm } })
      t.equal(res.statusCode, 304, `If-None-Match: ${inm}`)
      t.equal(res.payload, '')
      t.equal(res.headers.etag, etag)
      t.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable')
      t.equal(res.headers.vary, 'Accept-Encoding')
    }
    const other = await app.inject({ url: `/static/${cssName}`, headers: { 'accept-encoding': 'gzip', 'if-none-match': etag } })
    t.equal(other.statusCode, 200, "the brotli variant's tag does not validate the gzip one")
    const stale = await app.inject({ url: `/static/${cssName}`, headers: { 'if-none-match': '"stale"' } })
    t.equal(stale.statusCode, 200)
  })

  t.test('HEAD answers the headers without the body', async (t) => {
    const get = await app.inject({ url: `/static/${cssName}`, headers: { 'accept-encoding': 'br' } })
    const head = await app.inject({ method: 'HEAD', url: `/static/${cssName}`, headers: { 'accept-encoding': 'br' } })
    t.equal(head.statusCode, 200)
    t.equal(head.payload, '')
    for (const h of ['content-type', 'content-encoding', 'content-length', 'etag', 'cache-control', 'vary']) t.equal(head.headers[h], get.headers[h], h)
  })

  t.test('the original names keep working, with a short cache and the same ETag', async (t) => {
    const hashed = await app.inject({ url: `/static/${cssName}`, headers: { 'accept-encoding': 'br' } })
    const res = await app.inject({ url: '/static/css/app.css', headers: { 'accept-encoding': 'br' } })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'public, max-age=300')
    t.equal(res.headers.etag, hashed.headers.etag)
    t.same(brotliDecompressSync(res.rawPayload), css)
    const again = await app.inject({ url: '/static/css/app.css', headers: { 'accept-encoding': 'br', 'if-none-match': res.headers.etag as string } })
    t.equal(again.statusCode, 304)
  })

  t.test('an image: no compressed variant, no Vary', async (t) => {
    const res = await app.inject({ url: `/static/${manifest['images/pixel.png'] as string}`, headers: { 'accept-encoding': 'br, gzip' } })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['content-type'], 'image/png')
    t.equal(res.headers['content-encoding'], undefined)
    t.equal(res.headers.vary, undefined)
    t.same(res.rawPayload, PNG)
  })

  t.test('misses, source maps, the manifest and dotfiles answer the HTML 404 page', async (t) => {
    for (const url of ['/static/css/nope.css', '/static/js/app.js.map', '/static/manifest.json', '/static/.env', `/static/${cssName}.br`, '/static/']) {
      const res = await app.inject({ url, headers: { 'accept-encoding': 'br' } })
      t.equal(res.statusCode, 404, url)
      t.equal(res.headers['content-type'], 'text/html; charset=utf-8', `${url}: the HTML page`)
    }
  })

  t.test('traversal over a real socket', async (t) => {
    await checkTraversals(t, await listen(app))
  })
})

t.test('Accept-Encoding and If-None-Match parsing', async (t) => {
  t.equal(chooseCoding(undefined), 'identity')
  t.equal(chooseCoding(''), 'identity')
  t.equal(chooseCoding('gzip, deflate, br'), 'br')
  t.equal(chooseCoding('BR;Q=1.0'), 'br')
  t.equal(chooseCoding('gzip'), 'gzip')
  t.equal(chooseCoding('x-gzip'), 'gzip')
  t.equal(chooseCoding('br;q=0, gzip'), 'gzip')
  t.equal(chooseCoding('*'), 'br')
  t.equal(chooseCoding('*;q=0, gzip'), 'gzip')
  t.equal(chooseCoding('identity'), 'identity')
  t.equal(chooseCoding('br;q=0, gzip;q=0'), 'identity')
  t.equal(chooseCoding('deflate, zstd'), 'identity')
  t.ok(noneMatch('"a", "b"', '"b"'))
  t.ok(noneMatch('W/"b"', '"b"'))
  t.notOk(noneMatch('"a"', '"b"'))
})
