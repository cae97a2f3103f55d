// The fan-out benchmark (bench/fanout.ts) as a module of `npm run bench`: its figures are
// times and RSS (with the bare Fastify baseline's and their ratio), not req/s, so it prints
// its own table and adds no rows to the req/s one.
import type { Benchmark } from './harness.js'
import { report, run } from './fanout.js'

const fanout: Benchmark = {
  name: 'fanout',
  description: 'N long-polls held on one stream that N users subscribe to, one message sent (targets at N=5,000: last poll < 300 ms, RSS < 200 MiB)',
  run: async (opts) => {
    const results = await run([1000, 5000], opts.log)
    for (const line of report(results).split('\n')) opts.log(`  ${line}`)
    return []
  }
}

export default fanout
