// CPU profiles of a server under wrk (node --cpu-prof): self time per function
// and per package, per request, which is what docs/performance.md reports.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Server } from './children.js'
import { runWrk, type WrkOptions, type WrkResult } from './wrk.js'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
}

interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

/** Self time of a function or package, in µs over the window. */
export interface SelfTime { name: string, where: string, micros: number }

export interface ProfileSummary {
  functions: SelfTime[]
  packages: SelfTime[]
  /** µs sampled in the window, idle included. */
  totalMicros: number
  idleMicros: number
}

/** `file:///…/node_modules/fastify/lib/route.js` → `fastify`; `…/dist/plugins/app/http/notes.js` → `parley`. */
function owner (url: string): string {
  if (url === '') return '(native/V8)'
  if (url.startsWith('node:')) return 'node core'
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (m !== null) return m[1] as string
  return url.includes('/dist/') ? 'parley' : url
}

function shortWhere (url: string, line: number): string {
  const m = /node_modules\/(.+)$/.exec(url) ?? /\/dist\/(.+)$/.exec(url)
  const file = m === null ? url.replace(/^file:\/\//, '') : m[1] as string
  return file === '' ? '' : `${file}:${line + 1}`
}

/**
 * Self time per function and per package, counting only samples taken between
 * `fromMs` and `toMs` after the profile started (so start-up and shut-down are left out).
 */
export function summarizeProfile (file: string, fromMs = 0, toMs = Infinity): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  let at = 0
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0
    // Self time of a sample is the delta to the next sample.
    const dt = profile.timeDeltas[i + 1] ?? 0
    if (at < fromMs * 1000 || at > toMs * 1000) continue
    const id = profile.samples[i] as number
    self.set(id, (self.get(id) ?? 0) + dt)
    total += dt
  }
  const fns = new Map<string, SelfTime>()
  const pkgs = new Map<string, SelfTime>()
  let idle = 0
  for (const [id, t] of self) {
    const node = byId.get(id)
    if (node === undefined) continue
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === '(idle)') idle += t
    const name = functionName === '' ? '(anonymous)' : functionName
    const where = shortWhere(url, lineNumber)
    const key = `${name} ${where}`
    const f = fns.get(key) ?? { name, where, micros: 0 }
    f.micros += t
    fns.set(key, f)
    const pkgName = functionName.startsWith('(') ? functionName : owner(url)
    const p = pkgs.get(pkgName) ?? { name: pkgName, where: '', micros: 0 }
    p.micros += t
    pkgs.set(pkgName, p)
  }
  const sorted = (xs: Iterable<SelfTime>): SelfTime[] => [...xs].sort((a, b) => b.micros - a.micros)
  return { functions: sorted(fns.values()), packages: sorted(pkgs.values()), totalMicros: total, idleMicros: idle }
}

export interface ProfiledRun {
  label: string
  result: WrkResult
  summary: ProfileSummary
  /** Requests answered inside the profile window (estimated from req/s). */
  requests: number
}

/** Starts a server under `--cpu-prof`, runs wrk against it once, stops it, and reads the profile of the wrk run only. */
export async function profiledRun (label: string, dir: string, start: (nodeArgs: string[]) => Promise<Server>, wrk: Omit<WrkOptions, 'url'> & { path: string }): Promise<ProfiledRun> {
  const profDir = mkdtempSync(join(dir, 'cpu-profile-'))
  const server = await start(['--cpu-prof', `--cpu-prof-dir=${profDir}`])
  let result: WrkResult
  let began: number
  let ended: number
  try {
    began = Date.now()
    result = await runWrk({ ...wrk, url: server.url + wrk.path })
    ended = Date.now()
  } finally {
    await server.stop()
  }
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error(`${label}: the profiled server wrote no .cpuprofile`)
  // The parent's and the child's clocks agree only roughly: leave half a second out at each end.
  const from = began - server.spawnedAt + 500
  const to = ended - server.spawnedAt - 500
  const summary = summarizeProfile(join(profDir, file), from, to)
  return { label, result, summary, requests: result.rps * (to - from) / 1000 }
}

function perRequest (micros: number, run: ProfiledRun): string {
  return (run.requests === 0 ? 0 : micros / run.requests).toFixed(1).padStart(8)
}

/**
 * Prints CPU µs per request by package for each run side by side, then the
 * functions whose self time per request grew most from the last run (the baseline) to the first.
 */
export function printProfiles (log: (line: string) => void, runs: ProfiledRun[], top = 20): void {
  const first = runs[0]
  const base = runs[runs.length - 1]
  if (first === undefined || base === undefined) return
  const names = [...new Set(runs.flatMap((r) => r.summary.packages.map((p) => p.name)))]
    .filter((n) => n !== '(idle)')
  const micros = (r: ProfiledRun, name: string): number => r.summary.packages.find((p) => p.name === name)?.micros ?? 0
  names.sort((a, b) => micros(first, b) - micros(first, a))
  const cols = (values: string[]): string => values.map((v) => v.padStart(14)).join('')
  log(`  CPU µs per request, self time while under wrk ${cols(runs.map((r) => r.label))}`)
  log(`    ${'all busy time'.padEnd(44)}${cols(runs.map((r) => perRequest(r.summary.totalMicros - r.summary.idleMicros, r)))}`)
  for (const name of names.slice(0, top)) {
    log(`    ${name.padEnd(44)}${cols(runs.map((r) => perRequest(micros(r, name), r)))}`)
  }
  const key = (f: SelfTime): string => `${f.name} ${f.where}`
  const baseFns = new Map(base.summary.functions.map((f) => [key(f), f.micros / Math.max(1, base.requests)]))
  const grown = first.summary.functions
    .filter((f) => f.name !== '(idle)')
    .map((f) => ({ f, mine: f.micros / Math.max(1, first.requests), theirs: baseFns.get(key(f)) ?? 0 }))
    .sort((a, b) => (b.mine - b.theirs) - (a.mine - a.theirs))
  log(`  functions by extra self time per request, ${first.label} minus ${base.label} (µs):`)
  for (const g of grown.slice(0, top)) {
    log(`    ${(g.mine - g.theirs).toFixed(1).padStart(7)}  (${g.mine.toFixed(1)} vs ${g.theirs.toFixed(1)})  ${g.f.name}  ${g.f.where}`)
  }
}
