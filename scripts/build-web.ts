// Bundles the web app (web/main.tsx, Preact) with esbuild into static/js/app.js + app.js.map:
// unminified, with source maps. `npm run build:web` runs it once; scripts/dev.ts calls
// watchWeb() to rebuild on change; the production build (scripts/build.ts) minifies the result.
import * as esbuild from 'esbuild'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** esbuild's options for the web app; `minify` for size measurements only. */
export function webBuildOptions (opts: { minify?: boolean, write?: boolean } = {}): esbuild.BuildOptions {
  return {
    absWorkingDir: ROOT,
    entryPoints: ['web/main.tsx'],
    outfile: 'static/js/app.js',
    bundle: true,
    format: 'esm',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    sourcemap: opts.minify === true ? false : 'linked',
    minify: opts.minify === true,
    write: opts.write ?? true,
    logLevel: 'warning',
    legalComments: 'none'
  }
}

/**
 * Writes a build's files as a server reading them at the same moment should see them: an
 * unchanged file is not touched, a changed one is written beside it and renamed into place.
 * A server (the dev server, or a test's) serving static/js/app.js while `npm run build`
 * runs elsewhere would otherwise send a truncated bundle.
 */
function writeOutputs (files: esbuild.OutputFile[] | undefined): void {
  for (const f of files ?? []) {
    if (existsSync(f.path) && readFileSync(f.path).equals(f.contents)) continue
    const tmp = `${f.path}.${process.pid}.tmp`
    mkdirSync(dirname(f.path), { recursive: true })
    writeFileSync(tmp, f.contents)
    renameSync(tmp, f.path)
  }
}

/** One build; returns esbuild's result (with outputFiles when write is false). */
export async function buildWeb (opts: { minify?: boolean, write?: boolean } = {}): Promise<esbuild.BuildResult> {
  const result = await esbuild.build(webBuildOptions({ ...opts, write: false }))
  if (opts.write ?? true) writeOutputs(result.outputFiles)
  return result
}

/** Rebuilds on every change under web/ until the returned function is called. */
export async function watchWeb (onRebuild?: (errors: number) => void): Promise<() => Promise<void>> {
  const ctx = await esbuild.context({
    ...webBuildOptions({ write: false }),
    plugins: [{
      name: 'report',
      setup (build) {
        build.onEnd((result) => {
          if (result.errors.length === 0) writeOutputs(result.outputFiles)
          onRebuild?.(result.errors.length)
        })
      }
    }]
  })
  await ctx.watch()
  return async () => { await ctx.dispose() }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now()
  await buildWeb()
  console.log(`web app built: static/js/app.js (${Date.now() - started} ms)`)
}
