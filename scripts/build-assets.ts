// The production copy of static/ (SPEC §9), written by `npm run build` after the server:
// JS and CSS minified, every file under a content-hashed name and its original one,
// manifest.json (original → hashed), and .gz/.br siblings that nginx's gzip_static and
// the app's own static server (plugins/external/static.ts) hand out as they are.
import { transform } from 'esbuild'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, extname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { assetFiles, MANIFEST, type Manifest } from '../plugins/app/pages/assets.js'

/** Text formats worth compressing; images other than SVG and fonts are compressed already. */
export const COMPRESSIBLE = new Set(['.js', '.mjs', '.css', '.svg', '.json', '.txt', '.html', '.xml', '.ico', '.webmanifest'])

/** `css/app.css` + content → `css/app.3f2a1b9c.css`. */
export function hashedName (name: string, content: Buffer): string {
  const hash = createHash('sha256').update(content).digest('hex').slice(0, 8)
  const ext = extname(name)
  return `${name.slice(0, name.length - ext.length)}.${hash}${ext}`
}

async function minify (name: string, content: Buffer): Promise<Buffer> {
  const ext = extname(name)
  const loader = ext === '.css' ? 'css' : ext === '.js' || ext === '.mjs' ? 'js' : undefined
  if (loader === undefined) return content
  // A transform, not a bundle: the web app is bundled already (scripts/build-web.ts);
  // this only shrinks it. Its `//# sourceMappingURL` comment goes with the whitespace.
  const out = await transform(content.toString('utf8'), { loader, minify: true, legalComments: 'none', sourcemap: false })
  return Buffer.from(out.code)
}

interface Encoded { content: Buffer, gz: Buffer | undefined, br: Buffer | undefined }

function encode (name: string, content: Buffer): Encoded {
  if (!COMPRESSIBLE.has(extname(name))) return { content, gz: undefined, br: undefined }
  // Maximum effort: this runs once per build, and every client gets the result.
  const gz = gzipSync(content, { level: 9 })
  const br = brotliCompressSync(content, {
    params: { [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY, [constants.BROTLI_PARAM_SIZE_HINT]: content.length }
  })
  // A sibling only when it saves bytes; servers then fall back to the file itself.
  return { content, gz: gz.length < content.length ? gz : undefined, br: br.length < content.length ? br : undefined }
}

function write (out: string, name: string, e: Encoded): void {
  const file = join(out, name)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, e.content)
  if (e.gz !== undefined) writeFileSync(`${file}.gz`, e.gz)
  if (e.br !== undefined) writeFileSync(`${file}.br`, e.br)
}

/** Builds `src` (the checkout's static/) into `out` (emptied first); returns the manifest it wrote. */
export async function buildAssets (src: string, out: string): Promise<Manifest> {
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  const manifest: Manifest = {}
  for (const name of assetFiles(src)) {
    const content = await minify(name, readFileSync(join(src, name)))
    const hashed = hashedName(name, content)
    manifest[name] = hashed
    const encoded = encode(name, content)
    // The original name too: links from outside the app (an old page, an email) keep working.
    write(out, name, encoded)
    write(out, hashed, encoded)
  }
  writeFileSync(join(out, MANIFEST), JSON.stringify(manifest, null, 2) + '\n')
  return manifest
}

const entry = process.argv[1]
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const started = Date.now()
  const manifest = await buildAssets('static', join('dist', 'static'))
  process.stdout.write(`built dist/static/ (${Object.keys(manifest).length} files) in ${Date.now() - started} ms\n`)
}
