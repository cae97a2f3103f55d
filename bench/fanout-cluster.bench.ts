// Fan-out over two processes (issue 16, point 7): two Parley processes on one PostgreSQL and one
// Redis; N users subscribed to one stream, each holding a GET /events long-poll, the first half
// registered and held on process A, the second half on B; one message sent to A, and the time
// until the last poll (on either process) is answered. Each run alternates with one of the
// single-process fan-out of bench/fanout.ts (SQLite, the same client, warm-up and N), so a slow
// moment of the shared machine falls on both. Sizes: FANOUT_CLUSTER_N (5000), FANOUT_RUNS (5).
import { join } from 'node:path'
import { openPostgres } from '../plugins/app/db/db.js'
import { fmtRatio, pairedRatio, type Benchmark } from './harness.js'
import {
  callEach, fanout, FIRST_MESSAGE_BODY, inScope, measure, medianBy, registerQueues, seedFans, startServer, WARM_QUEUES, warmRounds,
  type Child, type Measured as FanMeasured, type Seeded
} from './fanout.js'
import { createPostgres, databaseName, deleteRedisKeys, dropPostgres, missing, postgresMissing, redisMissing, redisPrefix, REDIS_URL } from './engines.js'

const TARGET_MS = 300

/** Users [from, from + count) each with a queue on `server`; their polls, to that server. */
async function queuesOn (server: Child, agent: Parameters<typeof registerQueues>[0], seeded: Seeded, count: number, from: number): Promise<Array<{ queue: string, user: number, port: number }>> {
  const queues = await registerQueues(agent, server.port, seeded, count, from)
  return queues.map((queue, i) => ({ queue, user: from + i, port: server.port }))
}

/**
 * One measurement: a copy of the seeded database, a Redis prefix of its own, two fresh
 * processes; warm-up fan-outs as in fanout.ts (their queues split over both), then N queues
 * split over both, and one message sent to A. The database and the keys go afterwards.
 */
async function clusterFanout (n: number, template: string, seeded: Seeded, run: number, log: (line: string) => void): Promise<FanMeasured> {
  const label = `fanout-cluster N=${n}`
  return await inScope('parley-fanout-cluster-', label, n, log, async ({ dir, agent, sockets, started }) => {
    const name = databaseName(`fan${run}`)
    const prefix = redisPrefix(`fanout${run}`)
    const servers: Child[] = []
    try {
      const env = { DATABASE_URL: await createPostgres(name, template), REDIS_URL, PARLEY_REDIS_PREFIX: prefix }
      // A first (it finds the schema migrated already), then B.
      for (const tag of ['a', 'b']) servers.push(started(await startServer(dir, join(dir, `data-${tag}`), `fanout-cluster-${tag}`, env)))
      const [a, b] = servers as [Child, Child]
      for (const s of servers) await callEach(agent, s.port, 1, () => ({ method: 'POST', path: '/api/v1/messages', auth: seeded.senderAuth, body: FIRST_MESSAGE_BODY }))

      // Warm-up: the same rounds as the single process's, half the queues on each process.
      const warm = Math.min(n, WARM_QUEUES)
      const half = Math.floor(warm / 2)
      const warmQueues = [...await queuesOn(a, agent, seeded, half, 0), ...await queuesOn(b, agent, seeded, warm - half, half)]
      await warmRounds(agent, a.port, [a.pid, b.pid], (round) => warmQueues.map((q) => ({ path: `/api/v1/events?queue_id=${q.queue}&last_event_id=${round - 1}`, auth: seeded.auth[q.user] as string, port: q.port })), seeded.senderAuth, (round) => `round ${round}`)
      for (const s of servers) {
        const mine = warmQueues.filter((q) => q.port === s.port)
        await callEach(agent, s.port, mine.length, (i) => ({ method: 'DELETE', path: `/api/v1/events?queue_id=${(mine[i] as { queue: string }).queue}`, auth: seeded.auth[(mine[i] as { user: number }).user] as string }))
      }

      log(`${label}: pids ${a.pid} (port ${a.port}) and ${b.pid} (port ${b.port}); registering ${n} queues, half on each`)
      const halfN = Math.floor(n / 2)
      const queues = [...await queuesOn(a, agent, seeded, halfN, 0), ...await queuesOn(b, agent, seeded, n - halfN, halfN)]
      const polls = queues.map((q) => ({ path: `/api/v1/events?queue_id=${q.queue}&last_event_id=-1`, auth: seeded.auth[q.user] as string, port: q.port }))
      const m = await measure(servers, agent, polls, seeded.senderAuth, sockets, log, label)
      if (m.answered !== n) throw new Error(`${label}: ${m.answered} of ${n} polls answered with the message`)
      return m
    } finally {
      await Promise.all(servers.map(async (s) => { await s.stop() }))
      await dropPostgres(name)
      await deleteRedisKeys(prefix)
    }
  })
}

function fmt (ms: number): string { return `${ms.toFixed(1)} ms` }

const fanoutCluster: Benchmark = {
  name: 'fanout-cluster',
  description: `fan-out of one message to N held polls over two Parley processes (PostgreSQL + Redis, half the polls on each, the message sent to one), alternating with the single-process fan-out on SQLite (bench/fanout.ts); N = FANOUT_CLUSTER_N (5,000), FANOUT_RUNS runs (5); target at 5,000: last poll < ${TARGET_MS} ms. Client, both processes, PostgreSQL and Redis share the machine's cores`,
  run: async (opts) => {
    const why = await missing(postgresMissing(), redisMissing())
    if (why !== undefined) {
      opts.log(`  skipped: ${why}`)
      return []
    }
    const n = Number(process.env.FANOUT_CLUSTER_N ?? 5000)
    const runs = Number(process.env.FANOUT_RUNS ?? 5)
    if (!Number.isInteger(n) || n < 2 || !Number.isInteger(runs) || runs < 1) throw new Error('FANOUT_CLUSTER_N must be an integer ≥ 2 and FANOUT_RUNS ≥ 1')
    const template = databaseName('fan')
    const started = Date.now()
    const seeded = await seedFans(await openPostgres(await createPostgres(template)), n)
    opts.log(`  seeded ${n} users subscribed to one stream on PostgreSQL (database ${template}) in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    const single: FanMeasured[] = []
    const cluster: FanMeasured[] = []
    try {
      for (let i = 0; i < runs; i++) {
        // The order alternates too, so neither always goes first after the other's clean-up.
        const one = async (): Promise<void> => {
          const r = await fanout(n)
          single.push(r)
          opts.log(`  run ${i + 1}/${runs}  one process (SQLite)           last poll ${fmt(r.lastMs).padStart(10)}, first ${fmt(r.firstMs)}, RSS ${r.rssMiB.toFixed(1)} MiB, CPU server ${r.serverCpuMs.toFixed(0)} ms / client ${r.clientCpuMs.toFixed(0)} ms`)
        }
        const two = async (): Promise<void> => {
          const r = await clusterFanout(n, template, seeded, i, () => {})
          cluster.push(r)
          opts.log(`  run ${i + 1}/${runs}  two processes (PG + Redis)     last poll ${fmt(r.lastMs).padStart(10)}, first ${fmt(r.firstMs)}, RSS ${r.rssMiB.toFixed(1)} MiB (largest), CPU servers ${r.serverCpuMs.toFixed(0)} ms / client ${r.clientCpuMs.toFixed(0)} ms`)
        }
        if (i % 2 === 0) { await one(); await two() } else { await two(); await one() }
      }
    } finally {
      await dropPostgres(template)
    }
    const s = medianBy(single)
    const c = medianBy(cluster)
    opts.log(`  N=${n}, last poll answered, median of ${runs} (min–max):`)
    opts.log(`    one process (SQLite, in-process events)   ${fmt(s.median.lastMs).padStart(10)} (${s.min.toFixed(0)}–${s.max.toFixed(0)} ms); p50 poll ${fmt(s.median.p50Ms)}`)
    opts.log(`    two processes (PostgreSQL + Redis)        ${fmt(c.median.lastMs).padStart(10)} (${c.min.toFixed(0)}–${c.max.toFixed(0)} ms); p50 poll ${fmt(c.median.p50Ms)}`)
    // Run i of each went one after the other: the pairs of pairedRatio.
    opts.log(`    two ÷ one: ${fmtRatio(pairedRatio(cluster.map((r) => r.lastMs), single.map((r) => r.lastMs)))}`)
    if (n === 5000) opts.log(`    target < ${TARGET_MS} ms at N=5,000 over two processes: ${c.median.lastMs < TARGET_MS ? 'MET' : 'NOT MET'} (median; slowest run ${fmt(c.max)})`)
    return []
  }
}

export default fanoutCluster
