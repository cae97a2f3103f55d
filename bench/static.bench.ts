// Issue 14 point 9 (a): a built, content-hashed asset served by `npm start`'s app against
// nginx serving the same file from the same build (deploy/nginx/parley.conf, one worker),
// in alternating rounds. Requests say `Accept-Encoding: gzip, deflate, br` as browsers do,
// so each server answers with the best precompressed file it has: brotli from the app,
// gzip from nginx (Debian's nginx has no brotli). Target: the app ≥ 0.5× nginx. Also bare
// Fastify sending the app's answer from one route (bytes-server.ts): the ceiling for any
// Fastify app on this machine, which says how much of the gap is the framework's.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { rawGet, startChild, startParley, type RawAnswer, type Server } from './children.js'
import { printProfiles, profiledRun } from './cpuprofile.js'
import { alternate, summarize, type Benchmark } from './harness.js'
import { headersScript } from './wrk.js'
import { NGINX, startNginx, type Nginx } from '../scripts/nginx.js'

/** The compiled tree this file runs from (dist/), whose static/ `npm run build` wrote. */
const DIST = fileURLToPath(new URL('..', import.meta.url))
export const ACCEPT_ENCODING = 'gzip, deflate, br'

function decoded (a: RawAnswer): Buffer {
  const enc = a.headers['content-encoding']
  return enc === 'br' ? brotliDecompressSync(a.body) : enc === 'gzip' ? gunzipSync(a.body) : a.body
}

/** The web app's bundle when the build has it, else its CSS, else the biggest file of the build. */
function chooseAsset (manifest: Record<string, string>): string {
  for (const name of ['js/app.js', 'css/app.css', 'css/parley.css']) if (manifest[name] !== undefined) return name
  const sizes = Object.keys(manifest).map((n) => [n, statSync(join(DIST, 'static', n)).size] as const)
  sizes.sort((a, b) => b[1] - a[1])
  const biggest = sizes[0]
  if (biggest === undefined) throw new Error('the build holds no static files')
  return biggest[0]
}

const staticAsset: Benchmark = {
  name: 'static',
  description: "a built, hashed asset (Accept-Encoding: gzip, deflate, br) from npm start's app vs nginx serving the same build with deploy/nginx/parley.conf",
  async run (opts) {
    if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: install Debian's nginx package`)
    const manifestFile = join(DIST, 'static', 'manifest.json')
    if (!existsSync(manifestFile)) throw new Error(`${manifestFile} is missing: run npm run build first (npm run bench does)`)
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Record<string, string>
    const name = chooseAsset(manifest)
    const path = `/static/${manifest[name] as string}`
    const file = readFileSync(join(DIST, 'static', manifest[name] as string))

    const servers: Server[] = []
    let nginx: Nginx | undefined
    const parleyOptions = { dir: opts.dir, adminEmail: 'owner@example.com', adminPassword: 'bench-owner-password', rateLimit: true }
    try {
      const parley = await startParley({ ...parleyOptions, name: 'parley', dataDir: join(opts.dir, 'data') })
      servers.push(parley)
      mkdirSync(join(opts.dir, 'nginx'))
      nginx = await startNginx({ dir: join(opts.dir, 'nginx'), upstream: new URL(parley.url).host, root: DIST })

      const fromApp = await rawGet(parley.url + path, { 'accept-encoding': ACCEPT_ENCODING })
      const fromNginx = await rawGet(nginx.url + path, { 'accept-encoding': ACCEPT_ENCODING })
      for (const [who, a] of [['parley', fromApp], ['nginx', fromNginx]] as const) {
        if (a.status !== 200 || !decoded(a).equals(file)) throw new Error(`${who} answered ${a.status} for ${path}, not the built file`)
        if (a.headers['cache-control'] !== 'public, max-age=31536000, immutable') throw new Error(`${who} answered Cache-Control: ${String(a.headers['cache-control'])}`)
      }
      opts.log(`  ${path}: ${file.length} bytes; parley sends ${fromApp.body.length} (${String(fromApp.headers['content-encoding'] ?? 'identity')}), nginx ${fromNginx.body.length} (${String(fromNginx.headers['content-encoding'] ?? 'identity')})`)

      const bodyFile = join(opts.dir, 'asset.body')
      const headFile = join(opts.dir, 'asset.head.json')
      writeFileSync(bodyFile, fromApp.body)
      const keep = ['content-type', 'cache-control', 'etag', 'vary', 'content-encoding']
      writeFileSync(headFile, JSON.stringify({ status: 200, headers: Object.fromEntries(keep.flatMap((h) => fromApp.headers[h] === undefined ? [] : [[h, fromApp.headers[h]]])) }))
      const bare = await startChild({
        name: 'bare-fastify', script: fileURLToPath(new URL('bytes-server.js', import.meta.url)), args: [bodyFile, headFile, path], dir: opts.dir, env: {}, urlPattern: /^listening (http:\/\/\S+)$/m
      })
      servers.push(bare)

      const script = headersScript(join(opts.dir, 'accept-encoding.lua'), { 'Accept-Encoding': ACCEPT_ENCODING })
      const measured = await alternate([
        { name: 'nginx', url: nginx.url + path, script },
        { name: 'parley', url: parley.url + path, script },
        { name: 'bare fastify, same bytes', url: bare.url + path, script }
      ], opts)
      const rows = summarize(staticAsset.name, measured)
      if (opts.profile) {
        const run = await profiledRun('parley', opts.dir, async (nodeArgs) => await startParley({ ...parleyOptions, name: 'parley-profiled', dataDir: join(opts.dir, 'data-profiled'), nodeArgs }),
          { path, seconds: opts.seconds, connections: opts.connections, script })
        opts.log(`  profiled parley: ${Math.round(run.result.rps)} req/s`)
        printProfiles(opts.log, [run])
      }
      return rows
    } finally {
      await nginx?.stop()
      await Promise.all(servers.map(async (s) => { await s.stop() }))
    }
  }
}

export default staticAsset
