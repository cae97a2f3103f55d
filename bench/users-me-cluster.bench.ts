// users-me over the front (issue 16, point 7): authenticated GET /api/v1/users/me through nginx
// (deploy/nginx/parley.conf, scripts/nginx.ts) to two Parley processes (upstream of 2, round
// robin) against the same nginx in front of one process, all on PostgreSQL + Redis, rate limits
// on (counters in Redis) and keys rotated as in users-me, in alternating rounds. On this
// two-core machine wrk, nginx and the node processes share the cores: the ratio says what a
// second process buys here, not what it buys on a machine with a core per process.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openPostgres } from '../plugins/app/db/db.js'
import { RULES } from '../plugins/app/http/ratelimit.js'
import { startNginx, type Nginx } from '../scripts/nginx.js'
import { startParley, type Server } from './children.js'
import { createPostgres, databaseName, deleteRedisKeys, dropPostgres, missing, nginxMissing, postgresMissing, redisMissing, redisPrefix, REDIS_URL } from './engines.js'
import { alternate, summarize, type Benchmark, type Row } from './harness.js'
import { keyBlocks, seedDatabase, seedPlan } from './messages-setup.js'
import { rotationScript } from './wrk.js'

const PATH = '/api/v1/users/me'
const PER_KEY = Math.floor(Math.min(...RULES.user.map((r) => r.limit)) * 0.9)
/** An upper bound for req/s through the front: the key blocks are sized from it. */
const MAX_RPS = 25_000
/** dist/, which holds static/ for nginx's root. */
const dist = fileURLToPath(new URL('..', import.meta.url))

async function get (url: string, authorization: string): Promise<{ status: number, text: string }> {
  const res = await fetch(url, { headers: { authorization } })
  return { status: res.status, text: await res.text() }
}

const usersMeCluster: Benchmark = {
  name: 'users-me-cluster',
  description: 'GET /api/v1/users/me (Basic auth, rate limits on in Redis, access log at info) through nginx to two Parley processes (round robin) vs the same nginx to one, on PostgreSQL + Redis. The machine\'s cores are shared by wrk, nginx, the node processes, PostgreSQL and Redis: on 2 cores the second process has no core of its own',
  async run (opts) {
    const why = await missing(postgresMissing(), redisMissing(), nginxMissing())
    if (why !== undefined) {
      opts.log(`  skipped: ${why}`)
      return []
    }
    const { blockSizes, blockStart } = keyBlocks(opts, MAX_RPS, PER_KEY)
    const started = Date.now()
    const name = databaseName('usersme')
    // One database for both fronts; a Redis prefix of each front's own, so its rate-limit counters
    // (and every other shared state) are its own: each run gets a fresh block of keys on either.
    const prefixes = [redisPrefix('usersme1'), redisPrefix('usersme2')]
    const servers: Server[] = []
    const fronts: Nginx[] = []
    try {
      const url = await createPostgres(name)
      const plan = seedPlan(blockStart(blockSizes.length), 0)
      const seeded = await seedDatabase(await openPostgres(url), plan)
      opts.log(`  seeded ${seeded.keys.length} users on PostgreSQL (database ${name}) in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      const common = { dir: opts.dir, adminEmail: 'owner@example.com', adminPassword: 'bench-owner-password', rateLimit: true }
      const start = async (tag: string, prefix: string): Promise<Server> => {
        const s = await startParley({ ...common, name: `parley-${tag}`, dataDir: join(opts.dir, `data-${tag}`), env: { DATABASE_URL: url, REDIS_URL, PARLEY_REDIS_PREFIX: prefix } })
        servers.push(s)
        return s
      }
      const hostOf = (s: Server): string => new URL(s.url).host
      const one = await start('one', prefixes[0] as string)
      const two = [await start('two-a', prefixes[1] as string), await start('two-b', prefixes[1] as string)]
      fronts.push(await startNginx({ dir: join(opts.dir, 'nginx-one'), upstream: [hostOf(one)], root: dist, accessLog: false }))
      fronts.push(await startNginx({ dir: join(opts.dir, 'nginx-two'), upstream: two.map(hostOf), root: dist, accessLog: false }))
      const [frontOne, frontTwo] = fronts as [Nginx, Nginx]

      // The last key is used by no wrk run but the last one: a few requests more stay under the limit.
      const sample = seeded.keys[seeded.keys.length - 1] as string
      const answers = [await get(frontOne.url + PATH, sample), await get(frontTwo.url + PATH, sample), await get(frontTwo.url + PATH, sample)]
      if (answers.some((a) => a.status !== 200 || a.text !== answers[0]?.text)) {
        throw new Error(`users/me through the fronts answered ${answers.map((a) => `${a.status} ${a.text.slice(0, 200)}`).join(' / ')}`)
      }
      opts.log(`  payload: ${Buffer.byteLength(answers[0]?.text ?? '')} bytes of JSON, identical through both fronts (and from both processes behind the second)`)

      const script = rotationScript(join(opts.dir, 'rotate-keys.lua'), seeded.keys, PER_KEY, 'GET', PATH)
      const rotated = (run: number): string[] => [String(blockStart(run)), String(blockSizes[run])]
      const measured = await alternate([
        { name: 'nginx → 1 process', url: frontOne.url + PATH, script, scriptArgs: rotated },
        { name: 'nginx → 2 processes', url: frontTwo.url + PATH, script, scriptArgs: rotated }
      ], opts)
      const rows: Row[] = summarize(usersMeCluster.name, measured)
      const ratio = rows[1]?.ratio
      if (ratio !== undefined) {
        const interval = rows[1]?.ratioInterval
        opts.log(`  2 processes ÷ 1 process, req/s: ${ratio.toFixed(2)}× (${interval === undefined ? 'no interval with fewer than 3 rounds' : `95 % interval ${interval[0].toFixed(2)}–${interval[1].toFixed(2)}`})`)
      }
      return rows
    } finally {
      await Promise.all(fronts.map(async (f) => { await f.stop() }))
      await Promise.all(servers.map(async (s) => { await s.stop() }))
      await dropPostgres(name)
      for (const p of prefixes) await deleteRedisKeys(p)
    }
  }
}

export default usersMeCluster
