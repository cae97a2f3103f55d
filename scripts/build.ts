// `npm run build`: transpiles the server, scripts and benchmarks to dist/ with esbuild
// (about a second; tsc needs ~30 s here), then writes the production copy of static/ to
// dist/static/ (scripts/build-assets.ts). Type checking is `npm run typecheck`'s job.
// package.json runs the web app's bundle (`build:web`, into static/js/) before this.
import { build } from 'esbuild'
import { buildAssets } from './build-assets.js'
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const DIRS = ['plugins', 'routes', 'migrations', 'scripts', 'bench']

function sources (): string[] {
  const files = ['app.ts', 'server.ts']
  for (const dir of DIRS) {
    for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
      if (f.endsWith('.ts') && !f.endsWith('.d.ts')) files.push(join(dir, f))
    }
  }
  return files
}

rmSync('dist', { recursive: true, force: true })
const started = Date.now()
await build({
  entryPoints: sources(),
  outdir: 'dist',
  outbase: '.',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning'
})
process.stdout.write(`built dist/ in ${Date.now() - started} ms\n`)
const assetsStarted = Date.now()
const manifest = await buildAssets('static', join('dist', 'static'))
process.stdout.write(`built dist/static/ (${Object.keys(manifest).length} files, hashed, minified, precompressed) in ${Date.now() - assetsStarted} ms\n`)
