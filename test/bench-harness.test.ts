// The bench harness's summary: medians, the ratio to the baseline, and the interval
// that says how far another run's ratio could land (bench/harness.ts).
import t from 'tap'
import { fmtRatio, median, pairedRatio, ratioInterval, summarize, type Measured } from '../bench/harness.js'
import { databaseName, missing, postgresMissing, redisMissing, redisPrefix } from '../bench/engines.js'
import { freePort } from '../scripts/nginx.js'
import type { WrkResult } from '../bench/wrk.js'

function measured (name: string, rps: number[]): Measured {
  const rounds = rps.map((r): WrkResult => ({ rps: r, requests: r, p50Ms: 1, p99Ms: 2, non2xx: 0, socketErrors: 0 }))
  return { contender: { name, url: 'http://x' }, warmup: undefined, rounds, totalRequests: 0, non2xx: 0, socketErrors: 0 }
}

t.test('the interval holds the ratio of medians, and is the same for the same rounds', async (t) => {
  const base = [100, 120, 90, 110, 105, 95, 115, 100]
  const parley = [78, 95, 70, 82, 80, 74, 90, 77]
  const interval = ratioInterval(parley, base)
  if (interval === undefined) throw new Error('no interval for eight rounds')
  const ratio = median(parley) / median(base)
  t.ok(interval[0] <= ratio && ratio <= interval[1], `${ratio} in ${interval.join('–')}`)
  t.ok(interval[0] < interval[1], 'rounds that differ give an interval of some width')
  t.same(ratioInterval(parley, base), interval, 'seeded: the same rounds give the same interval')
})

t.test('identical ratios in every round give a zero-width interval', async (t) => {
  const base = [100, 200, 150, 120]
  t.same(ratioInterval(base.map((b) => b * 0.8), base), [0.8, 0.8])
})

t.test('noisier rounds give a wider interval', async (t) => {
  const base = [100, 100, 100, 100, 100, 100, 100, 100, 100]
  const steady = ratioInterval([79, 81, 80, 80, 79, 81, 80, 80, 80], base)
  const noisy = ratioInterval([60, 100, 80, 70, 90, 65, 95, 80, 85], base)
  if (steady === undefined || noisy === undefined) throw new Error('no interval')
  t.ok(noisy[1] - noisy[0] > steady[1] - steady[0], `${noisy.join('–')} wider than ${steady.join('–')}`)
})

t.test('fewer than three rounds give no interval', async (t) => {
  t.equal(ratioInterval([80, 90], [100, 100]), undefined)
})

t.test('summarize: the baseline has no ratio; the others have their ratio and its interval', async (t) => {
  const rows = summarize('b', [measured('base', [100, 110, 90]), measured('other', [50, 66, 45])])
  t.equal(rows[0]?.ratio, undefined)
  t.equal(rows[0]?.ratioInterval, undefined)
  t.equal(rows[1]?.rps, 50)
  t.equal(rows[1]?.ratio, 0.5)
  const interval = rows[1]?.ratioInterval
  t.ok(interval !== undefined && interval[0] <= 0.5 && interval[1] >= 0.5, `0.5 in ${String(interval)}`)
})

t.test('pairedRatio: the ratio of the medians, its interval, and the range of the pairs\' own ratios', async (t) => {
  // p50s of PostgreSQL and SQLite in four alternating rounds.
  const r = pairedRatio([6, 8, 9, 12], [2, 2, 3, 3])
  t.equal(r.ratio, 8.5 / 2.5)
  t.equal(r.min, 3)
  t.equal(r.max, 4)
  t.same(r.interval, ratioInterval([6, 8, 9, 12], [2, 2, 3, 3]))
  t.equal(fmtRatio(r), `3.40× (95 % interval ${(r.interval?.[0] ?? NaN).toFixed(2)}–${(r.interval?.[1] ?? NaN).toFixed(2)}; single pairs 3.00–4.00×)`)
  const two = pairedRatio([300, 500], [100, 100])
  t.equal(two.interval, undefined)
  t.equal(fmtRatio(two), '4.00× (no interval with fewer than 3 pairs; single pairs 3.00–5.00×)')
})

t.test('an engine that does not answer gives the reason a benchmark prints when it skips', async (t) => {
  const port = await freePort()
  const pg = await postgresMissing(`postgres://postgres@127.0.0.1:${port}/postgres`)
  t.match(pg, new RegExp(`^PostgreSQL at postgres://postgres@127\\.0\\.0\\.1:${port}/postgres does not answer \\(.*ECONNREFUSED`))
  const redis = await redisMissing(`redis://127.0.0.1:${port}`)
  t.match(redis, new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${port} does not answer \\(.*ECONNREFUSED`))
  t.equal(await missing(undefined, Promise.resolve(undefined)), undefined, 'nothing missing')
  t.equal(await missing(undefined, Promise.resolve('b'), 'c'), 'b', 'the first reason')
})

t.test('the bench\'s databases and Redis keys are named inside its own prefixes', async (t) => {
  t.equal(databaseName(), `parley_bench_${process.pid}`)
  t.equal(databaseName('get'), `parley_bench_${process.pid}_get`)
  t.equal(redisPrefix('fanout0'), `parley-bench-${process.pid}-fanout0:`)
})
