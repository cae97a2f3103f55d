// The bench harness's summary: medians, the ratio to the baseline, and the interval
// that says how far another run's ratio could land (bench/harness.ts).
import t from 'tap'
import { median, ratioInterval, summarize, type Measured } from '../bench/harness.js'
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
