// Reads a V8 .cpuprofile (node --cpu-prof) into the top self-time functions and
// the share of time per package, which is what docs/performance.md reports.
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
}

interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

export interface SelfTime { name: string, where: string, percent: number }

/** `file:///…/node_modules/fastify/lib/route.js` → `fastify`; `…/dist/plugins/app/notes.js` → `parley`. */
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

export function summarizeProfile (file: string, top = 15): { functions: SelfTime[], packages: SelfTime[], busyPercent: number } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  // Self time of a sample is the delta to the next sample.
  const self = new Map<number, number>()
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0
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
    const f = fns.get(key) ?? { name, where, percent: 0 }
    f.percent += t
    fns.set(key, f)
    const pkgName = functionName.startsWith('(') ? functionName : owner(url)
    const p = pkgs.get(pkgName) ?? { name: pkgName, where: '', percent: 0 }
    p.percent += t
    pkgs.set(pkgName, p)
  }
  const pct = (xs: Iterable<SelfTime>): SelfTime[] =>
    [...xs].map((x) => ({ ...x, percent: total === 0 ? 0 : 100 * x.percent / total })).sort((a, b) => b.percent - a.percent)
  return {
    functions: pct(fns.values()).slice(0, top),
    packages: pct(pkgs.values()).slice(0, top),
    busyPercent: total === 0 ? 0 : 100 * (total - idle) / total
  }
}
