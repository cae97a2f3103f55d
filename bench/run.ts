// `npm run bench`: runs every bench/*.bench.ts module (compiled next to this file)
// in turn and prints one table. Options: --rounds N --seconds S --warmup S
// --connections C --profile --keep, and benchmark names to run only those.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { fmtMs, fmtRps, type Benchmark, type Row } from './harness.js'
import { hasWrk } from './wrk.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false }
  }
})

function positive (name: string, raw: string): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench: --${name} must be a positive integer (got "${raw}")\n`)
    process.exit(2)
  }
  return n
}

if (!hasWrk()) {
  process.stderr.write('bench: wrk is not installed. Install it with `apt-get install wrk` (Debian/Ubuntu), then run `npm run bench` again.\n')
  process.exit(1)
}

const here = dirname(fileURLToPath(import.meta.url))
const benchmarks: Benchmark[] = []
for (const file of readdirSync(here).filter((f) => f.endsWith('.bench.js')).sort()) {
  const mod = await import(pathToFileURL(join(here, file)).href) as { default?: Benchmark }
  const b = mod.default
  if (b === undefined || typeof b.run !== 'function' || typeof b.name !== 'string') {
    throw new Error(`${file} does not default-export a Benchmark { name, description, run }`)
  }
  benchmarks.push(b)
}
const unknown = positionals.filter((p) => !benchmarks.some((b) => b.name === p))
if (unknown.length > 0) {
  process.stderr.write(`bench: no benchmark named ${unknown.join(', ')}; there are: ${benchmarks.map((b) => b.name).join(', ')}\n`)
  process.exit(2)
}
const chosen = positionals.length === 0 ? benchmarks : benchmarks.filter((b) => positionals.includes(b.name))

const wrkVersion = spawnSync('wrk', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? 'wrk'
const rounds = positive('rounds', values.rounds)
const seconds = positive('seconds', values.seconds)
const warmupSeconds = positive('warmup', values.warmup)
const connections = positive('connections', values.connections)
console.log(`Parley benchmarks on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, ${wrkVersion.trim()}`)
console.log(`wrk -t1 -c${connections}, warm-up ${warmupSeconds} s, then ${rounds} rounds of ${seconds} s per contender, alternating`)
// Figures from a busy machine are not comparable with a quiet one's: show how busy it was.
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ')
console.log(`load average before: ${load()}\n`)

const rows: Row[] = []
let failed = false
for (const b of chosen) {
  console.log(`${b.name}: ${b.description}`)
  const dir = mkdtempSync(join(tmpdir(), `parley-bench-${b.name}-`))
  try {
    rows.push(...await b.run({ rounds, seconds, warmupSeconds, connections, profile: values.profile, dir, log: (line) => { console.log(line) } }))
  } catch (err) {
    failed = true
    console.error(`  ${b.name} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  } finally {
    if (values.keep) console.log(`  kept ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
  console.log('')
}

const width = Math.max(10, ...rows.map((r) => `${r.benchmark} / ${r.contender}`.length))
console.log(`${'benchmark / contender'.padEnd(width)}  ${'req/s'.padStart(7)}  ${'p99'.padStart(10)}  ratio  95 % interval`)
for (const r of rows) {
  const ratio = r.ratio === undefined ? '     ' : `${r.ratio.toFixed(2)}×`
  const interval = r.ratioInterval === undefined ? (r.ratio === undefined ? '' : '  (too few rounds)') : `  ${r.ratioInterval[0].toFixed(2)}–${r.ratioInterval[1].toFixed(2)}`
  console.log(`${`${r.benchmark} / ${r.contender}`.padEnd(width)}  ${fmtRps(r.rps)}  ${fmtMs(r.p99Ms)}  ${ratio}${interval}${r.warning === '' ? '' : `  INVALID: ${r.warning}`}`)
}
console.log(`\nload average after: ${load()}`)
// Exit explicitly: a benchmark may leave an idle handle (a sweeper timer) behind.
process.exit(failed ? 1 : 0)
