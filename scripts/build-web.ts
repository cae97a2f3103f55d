// Bundles the web app (web/main.tsx, Preact) with esbuild into static/js/app.js + app.js.map:
// unminified, with source maps. `npm run build:web` runs it once; scripts/dev.ts calls
// watchWeb() to rebuild on change; the production build (scripts/build.ts) minifies the result.
import * as esbuild from 'esbuild'
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

/** One build; returns esbuild's result (with outputFiles when write is false). */
export async function buildWeb (opts: { minify?: boolean, write?: boolean } = {}): Promise<esbuild.BuildResult> {
  return await esbuild.build(webBuildOptions(opts))
}

/** Rebuilds on every change under web/ until the returned function is called. */
export async function watchWeb (onRebuild?: (errors: number) => void): Promise<() => Promise<void>> {
  const ctx = await esbuild.context({
    ...webBuildOptions(),
    plugins: [{
      name: 'report',
      setup (build) {
        build.onEnd((result) => { onRebuild?.(result.errors.length) })
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
