// Where templates link static assets (SPEC §9), and what /static/ serves: the checkout's
// static/ as it is in development; in production, the build of scripts/build-assets.ts,
// linked by its content-hashed names and held in memory with its precompressed variants
// and validators (plugins/external/static.ts serves them).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BoundedMap } from '../bounded-map.js'

/** Original name (relative to static/, with `/`) → hashed name. */
export type Manifest = Record<string, string>

export const MANIFEST = 'manifest.json'

/**
 * The files of a static directory that are served or built: no dotfiles (nor anything
 * under a dot directory), no source maps (production ships none: the minified code would
 * not match them), no compressed siblings (they are variants of their file), no manifest.
 */
export function assetFiles (dir: string): string[] {
  const files: string[] = []
  for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const name = rel.split(sep).join('/')
    if (name.split('/').some((part) => part.startsWith('.'))) continue
    if (/\.(map|gz|br)$/.test(name) || name === MANIFEST) continue
    if (!statSync(join(dir, rel)).isFile()) continue
    files.push(name)
  }
  return files.sort()
}

/** One encoding of a file: the bytes and every header its answers carry. */
export interface Variant {
  body: Buffer
  etag: string
  /** For a 200: type, length-free (Fastify sets it), cache, validator, encoding, Vary. */
  headers: Record<string, string>
  /** For a 304: the same minus the type and encoding (RFC 9110 §15.4.5 keeps the validator, cache and Vary). */
  notModified: Record<string, string>
}

/** A built file and its precompressed variants, as read at boot. */
export interface StaticFile {
  identity: Variant
  gzip: Variant | undefined
  br: Variant | undefined
}

export interface Assets {
  /** The URL of a file under static/, e.g. url('css/parley.css'). */
  url: (name: string) => string
  /** The directory /static/ serves. */
  dir: string
  /** The build's manifest when `dir` is a production build; undefined when it is a checkout's static/. */
  manifest: Manifest | undefined
  /** Production only: every built file by its path under /static/, hashed and original names alike. */
  files: Map<string, StaticFile>
}

declare module 'fastify' {
  interface FastifyInstance {
    assets: Assets
  }
}

/** Content-hashed names never change: cached for a year and never revalidated. */
export const IMMUTABLE = 'public, max-age=31536000, immutable'
/** Original names change with each build: a short cache, then a revalidation by ETag. */
export const SHORT = 'public, max-age=300'

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.xml': 'application/xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/vnd.microsoft.icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2'
}

export function contentType (name: string): string {
  return TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream'
}

/**
 * The directory /static/ serves: PARLEY_STATIC_DIR when set (checked by config.ts), else
 * static/ three levels above this file — dist/static/ when running the build (`npm start`),
 * the checkout's static/ when running from source (`npm run dev`, tests); a dist/ without
 * built assets falls back to the checkout's.
 */
export function staticDir (configured: string | undefined): string {
  if (configured !== undefined) return configured
  const candidates = ['../../../static', '../../../../static'].map((p) => fileURLToPath(new URL(p, import.meta.url)))
  return candidates.find((p) => existsSync(p)) ?? (candidates[0] as string)
}

function variant (body: Buffer, tag: string, type: string, cache: string, encoding: string | undefined, vary: boolean): Variant {
  const etag = `"${tag}"`
  const notModified: Record<string, string> = { 'cache-control': cache, etag }
  if (vary) notModified.vary = 'Accept-Encoding'
  const headers: Record<string, string> = { 'content-type': type, ...notModified }
  if (encoding !== undefined) headers['content-encoding'] = encoding
  return { body, etag, headers, notModified }
}

/** Reads a build (manifest and every file it lists, under both names, with their .gz/.br siblings) into memory. */
export function loadBuild (dir: string, manifest: Manifest): Map<string, StaticFile> {
  const hashed = new Set(Object.values(manifest))
  const files = new Map<string, StaticFile>()
  for (const name of assetFiles(dir)) {
    const body = readFileSync(join(dir, name))
    const sibling = (ext: string): Buffer | undefined => existsSync(join(dir, name + ext)) ? readFileSync(join(dir, name + ext)) : undefined
    const gz = sibling('.gz')
    const br = sibling('.br')
    const type = contentType(name)
    const cache = hashed.has(name) ? IMMUTABLE : SHORT
    // One tag per content: the hashed and the original name of a file share it, as they share the bytes.
    const tag = createHash('sha256').update(body).digest('base64url').slice(0, 22)
    const vary = gz !== undefined || br !== undefined
    files.set(name, {
      identity: variant(body, tag, type, cache, undefined, vary),
      gzip: gz === undefined ? undefined : variant(gz, `${tag}-gz`, type, cache, 'gzip', vary),
      br: br === undefined ? undefined : variant(br, `${tag}-br`, type, cache, 'br', vary)
    })
  }
  return files
}

export type Coding = 'br' | 'gzip' | 'identity'
const codings = new BoundedMap<string, Coding>(200)

/**
 * The coding to answer with for an Accept-Encoding header (RFC 9110 §12.5.3): br over
 * gzip when both are acceptable (brotli files are smaller), a `q=0` or absence refusing
 * one, `*` standing for the ones not named. Clients send a handful of distinct
 * headers, so each is parsed once.
 */
export function chooseCoding (header: string | undefined): Coding {
  if (header === undefined || header === '') return 'identity'
  let coding = codings.get(header)
  if (coding === undefined) {
    const q: Record<string, number> = {}
    for (const part of header.split(',')) {
      const [token, ...params] = part.split(';')
      const name = (token ?? '').trim().toLowerCase()
      if (name === '') continue
      let weight = 1
      for (const p of params) {
        const m = /^\s*q\s*=\s*([\d.]+)\s*$/i.exec(p)
        if (m !== null) weight = Number(m[1])
      }
      q[name] = Number.isNaN(weight) ? 0 : weight
    }
    const accepts = (name: string): boolean => (q[name] ?? q['*'] ?? 0) > 0
    coding = accepts('br') ? 'br' : accepts('gzip') || accepts('x-gzip') ? 'gzip' : 'identity'
    codings.set(header, coding)
  }
  return coding
}

/** The variant of `file` to send for an Accept-Encoding header. */
export function pickVariant (file: StaticFile, acceptEncoding: string | undefined): Variant {
  if (file.gzip === undefined && file.br === undefined) return file.identity
  const coding = chooseCoding(acceptEncoding)
  if (coding === 'br') return file.br ?? file.gzip ?? file.identity
  if (coding === 'gzip') return file.gzip ?? file.identity
  return file.identity
}

/** If-None-Match (RFC 9110 §13.1.2): `*`, or any listed tag equal to ours under weak comparison. */
export function noneMatch (header: string, etag: string): boolean {
  if (header.trim() === '*') return true
  for (const part of header.split(',')) {
    let tag = part.trim()
    if (tag.startsWith('W/')) tag = tag.slice(2)
    if (tag === etag) return true
  }
  return false
}

/** The assets of `dir`: a production build when it holds a manifest, else files to serve as they are. */
export function loadAssets (dir: string): Assets {
  const manifestFile = join(dir, MANIFEST)
  if (!existsSync(manifestFile)) {
    return { dir, manifest: undefined, files: new Map(), url: (name) => `/static/${name}` }
  }
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest
  const files = loadBuild(dir, manifest)
  return {
    dir,
    manifest,
    files,
    // A name missing from the manifest is linked as it is: it answers the 404 page, visibly.
    url: (name) => `/static/${manifest[name] ?? name}`
  }
}

export default fp(async function assetsPlugin (app: FastifyInstance) {
  app.decorate('assets', loadAssets(staticDir(app.config.staticDir)))
}, { name: 'assets' })
