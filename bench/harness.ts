// What a benchmark module is, and the alternating-rounds measurement they share:
// contenders take turns under wrk, so drift on a shared machine hits all alike.
import { runWrk, type WrkResult } from './wrk.js'

export interface BenchOptions {
  rounds: number
  seconds: number
  warmupSeconds: number
  connections: number
  /** Also profile the server under test for one extra round (`--profile`). */
  profile: boolean
  /** A fresh temporary directory owned by this benchmark. */
  dir: string
  log: (line: string) => void
}

/** One line of the final table: a contender's medians over the rounds. */
export interface Row {
  benchmark: string
  contender: string
  rps: number
  p99Ms: number
  /** req/s relative to the benchmark's baseline: the ratio of the two medians. */
  ratio: number | undefined
  /** Where the ratio lies with 95 % confidence, from its rounds (`ratioInterval`). */
  ratioInterval: readonly [number, number] | undefined
  /** Empty when the run is clean; otherwise why its figures must not be trusted. */
  warning: string
}

/**
 * A benchmark module: bench/<name>.bench.ts, default-exporting one of these.
 * run.ts finds every such file, so a new benchmark needs no change to the harness.
 */
export interface Benchmark {
  name: string
  description: string
  run: (opts: BenchOptions) => Promise<Row[]>
}

export interface Contender {
  name: string
  /** The URL given to wrk (its path is the request path unless the script overrides it). */
  url: string
  script?: string
  /** Arguments for the script of the n-th wrk run against this contender (0 is the warm-up). */
  scriptArgs?: (run: number) => string[]
}

export interface Measured {
  contender: Contender
  warmup: WrkResult | undefined
  rounds: WrkResult[]
  /** Every wrk run against it, warm-up included (what counts against rate limits). */
  totalRequests: number
  non2xx: number
  socketErrors: number
}

export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

export function fmtRps (n: number): string { return Math.round(n).toString().padStart(7) }
export function fmtMs (n: number): string { return `${n.toFixed(2).padStart(7)} ms` }

/** Warms each contender up, then runs `rounds` rounds in which each takes one turn; the first to go rotates. */
export async function alternate (contenders: Contender[], opts: BenchOptions): Promise<Measured[]> {
  const measured = contenders.map((contender): Measured => ({ contender, warmup: undefined, rounds: [], totalRequests: 0, non2xx: 0, socketErrors: 0 }))
  const once = async (m: Measured, seconds: number): Promise<WrkResult> => {
    const c = m.contender
    const run = m.rounds.length + (m.warmup === undefined ? 0 : 1)
    const r = await runWrk({
      url: c.url,
      seconds,
      connections: opts.connections,
      ...(c.script !== undefined ? { script: c.script } : {}),
      ...(c.scriptArgs !== undefined ? { scriptArgs: c.scriptArgs(run) } : {})
    })
    m.totalRequests += r.requests
    m.non2xx += r.non2xx
    m.socketErrors += r.socketErrors
    return r
  }
  const width = Math.max(...contenders.map((c) => c.name.length))
  for (const m of measured) {
    const r = await once(m, opts.warmupSeconds)
    m.warmup = r
    opts.log(`  warm-up  ${m.contender.name.padEnd(width)}  ${fmtRps(r.rps)} req/s  p99 ${fmtMs(r.p99Ms)}`)
  }
  for (let round = 0; round < opts.rounds; round++) {
    for (let i = 0; i < measured.length; i++) {
      const m = measured[(round + i) % measured.length] as Measured
      const r = await once(m, opts.seconds)
      m.rounds.push(r)
      const bad = r.non2xx + r.socketErrors > 0 ? `  (${r.non2xx} non-2xx, ${r.socketErrors} socket errors)` : ''
      opts.log(`  round ${round + 1}  ${m.contender.name.padEnd(width)}  ${fmtRps(r.rps)} req/s  p99 ${fmtMs(r.p99Ms)}${bad}`)
    }
  }
  return measured
}

/** A seeded generator (mulberry32): the same rounds give the same interval (and search-setup.ts the same history). */
export function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * A 95 % percentile-bootstrap interval for median(rps) / median(baseRps), the ratio the
 * table prints. Round i of both contenders ran in the same turn of the alternation, so
 * rounds are resampled as pairs. On a machine whose speed moves from second to second,
 * one run's ratio can land well away from the next run's; the interval says how far
 * (docs/performance.md). Undefined with fewer than three rounds.
 */
export function ratioInterval (rps: number[], baseRps: number[], resamples = 2000): readonly [number, number] | undefined {
  const n = Math.min(rps.length, baseRps.length)
  if (n < 3) return undefined
  const random = seeded(n * 7919 + resamples)
  const ratios: number[] = []
  const a: number[] = new Array<number>(n)
  const b: number[] = new Array<number>(n)
  for (let k = 0; k < resamples; k++) {
    for (let j = 0; j < n; j++) {
      const i = Math.floor(random() * n)
      a[j] = rps[i] as number
      b[j] = baseRps[i] as number
    }
    ratios.push(median(a) / median(b))
  }
  ratios.sort((x, y) => x - y)
  return [ratios[Math.floor(0.025 * resamples)] as number, ratios[Math.ceil(0.975 * resamples) - 1] as number]
}

export interface PairedRatio {
  /** median(xs) / median(base) */
  ratio: number
  /** Its 95 % bootstrap interval (`ratioInterval`); undefined with fewer than three pairs. */
  interval: readonly [number, number] | undefined
  /** The smallest and largest ratio of one pair (round i of xs to round i of base). */
  min: number
  max: number
}

/** The ratio of two contenders' medians of any figure (p50s, fan-out times) measured in alternating pairs, with its spread. */
export function pairedRatio (xs: number[], base: number[]): PairedRatio {
  const n = Math.min(xs.length, base.length)
  const each = Array.from({ length: n }, (_, i) => (xs[i] as number) / (base[i] as number))
  return { ratio: median(xs) / median(base), interval: ratioInterval(xs, base), min: Math.min(...each), max: Math.max(...each) }
}

/** `1.23× (95 % interval 1.10–1.40; single pairs 1.05–1.52×)`. */
export function fmtRatio (r: PairedRatio): string {
  const interval = r.interval === undefined ? 'no interval with fewer than 3 pairs' : `95 % interval ${r.interval[0].toFixed(2)}–${r.interval[1].toFixed(2)}`
  return `${r.ratio.toFixed(2)}× (${interval}; single pairs ${r.min.toFixed(2)}–${r.max.toFixed(2)}×)`
}

/** Medians of each contender, with req/s relative to `baseline` (the first contender by default). */
export function summarize (benchmark: string, measured: Measured[], baseline = measured[0]): Row[] {
  const baseRounds = baseline?.rounds.map((r) => r.rps)
  const baseRps = baseRounds === undefined ? undefined : median(baseRounds)
  return measured.map((m) => {
    const rounds = m.rounds.map((r) => r.rps)
    const rps = median(rounds)
    const warnings: string[] = []
    if (m.non2xx > 0) warnings.push(`${m.non2xx} non-2xx answers`)
    if (m.socketErrors > 0) warnings.push(`${m.socketErrors} socket errors`)
    return {
      benchmark,
      contender: m.contender.name,
      rps,
      p99Ms: median(m.rounds.map((r) => r.p99Ms)),
      ratio: baseRps === undefined || m === baseline ? undefined : rps / baseRps,
      ratioInterval: baseRounds === undefined || m === baseline ? undefined : ratioInterval(rounds, baseRounds),
      warning: warnings.join(', ')
    }
  })
}
