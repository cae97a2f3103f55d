// Issue 15, point 7: a GitHub `push` of 20 commits end to end (read the body, check the
// payload, format, store, fan out to a stream of SUBSCRIBERS) on the compiled Parley, p50
// < 5 ms. The baseline, in the same run on the same server: POST /api/v1/messages of the
// very Markdown the webhook produces, so the ratio is what the webhook adds to a send.
// Rate limits on and the access log at info, as in the messages benchmark.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { RULES } from '../plugins/app/http/ratelimit.js'
import { processDelivery } from '../plugins/app/webhooks/integration.js'
import { github } from '../routes/webhooks/github.js'
import { startParley } from './children.js'
import { alternate, median, summarize, type Benchmark, type Measured } from './harness.js'
import { keyBlocks, seed, STREAM, SUBSCRIBERS } from './messages-setup.js'
import { rotationScript, runWrk } from './wrk.js'

const CONNECTIONS = 8
const PER_KEY = Math.floor(Math.min(...RULES.user.map((r) => r.limit)) * 0.9)
/** An upper bound for Parley's req/s on either path here: the key blocks are sized from it. */
const MAX_RPS = 4000
const TARGET_MS = 5
const FIXTURE = join(process.cwd(), 'test', 'fixtures', 'webhooks', 'github', 'push__20_commits.json')
const ADMIN_EMAIL = 'owner@example.com'
const ADMIN_PASSWORD = 'bench-owner-password'

function fmt (ms: number): string { return `${ms.toFixed(2)} ms` }

const webhook: Benchmark = {
  name: 'webhook',
  description: `POST /api/v1/external/github, a push of 20 commits, to a stream of ${SUBSCRIBERS} subscribers, -c${CONNECTIONS}; rate limits on, access log at info; ` +
    'vs POST /api/v1/messages of the same Markdown on the same server',
  async run (opts) {
    const raw = readFileSync(FIXTURE, 'utf8')
    const outcome = processDelivery(github, JSON.parse(raw), { headers: { 'x-github-event': 'push' } })
    if (outcome.kind !== 'message') throw new Error(`the fixture formats to ${outcome.kind}`)
    const { topic, content } = outcome.message
    opts.log(`  payload: ${Buffer.byteLength(raw)} bytes of GitHub JSON → ${[...content].length} characters of Markdown, topic "${topic}"`)

    // Two contenders share the server's counters: each run of each gets its own keys.
    const { blockSizes, blockStart } = keyBlocks(opts, MAX_RPS, PER_KEY)
    const perContender = blockStart(blockSizes.length)
    const started = Date.now()
    const dataDir = join(opts.dir, 'data')
    const seeded = await seed(dataDir, Math.max(SUBSCRIBERS, 2 * perContender), 1000)
    opts.log(`  seeded ${seeded.keys.length} users in ${((Date.now() - started) / 1000).toFixed(1)} s`)

    // A webhook accepts the key by HTTP Basic as well (SPEC §10), so the same rotation serves
    // both paths. The body as GitHub sends it by default (application/json).
    const hookPath = `/api/v1/external/github?stream=${STREAM}`
    const hookScript = rotationScript(join(opts.dir, 'webhook.lua'), seeded.keys.slice(perContender), PER_KEY, 'POST', hookPath,
      raw, { 'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'User-Agent': 'GitHub-Hookshot/044aadd' })
    const sendPath = '/api/v1/messages'
    const sendScript = rotationScript(join(opts.dir, 'send.lua'), seeded.keys.slice(0, perContender), PER_KEY, 'POST', sendPath,
      new URLSearchParams({ type: 'stream', to: STREAM, topic, content }).toString())

    const parley = await startParley({ name: 'parley-webhook', dir: opts.dir, dataDir, adminEmail: ADMIN_EMAIL, adminPassword: ADMIN_PASSWORD, rateLimit: true })
    try {
      const args = (run: number): string[] => [String(blockStart(run)), String(blockSizes[run])]
      const measured = await alternate([
        { name: 'messages POST, same text', url: parley.url + sendPath, script: sendScript, scriptArgs: args },
        { name: 'github push webhook', url: parley.url + hookPath, script: hookScript, scriptArgs: args }
      ], { ...opts, connections: CONNECTIONS })
      const rows = summarize('webhook', measured)
      const [sendRun, hookRun] = measured as [Measured, Measured]

      // One request at a time: the path's own latency, on the blocks no other run used.
      const last = blockSizes.length - 1
      for (const [m, script] of [[sendRun, sendScript], [hookRun, hookScript]] as const) {
        const r = await runWrk({ url: m.contender.url, seconds: opts.seconds, connections: 1, script, scriptArgs: [String(blockStart(last)), String(blockSizes[last])] })
        const bad = r.non2xx + r.socketErrors > 0
        opts.log(`  -c1      ${m.contender.name.padEnd(25)} ${Math.round(r.rps)} req/s, p50 ${fmt(r.p50Ms)}, p99 ${fmt(r.p99Ms)}${bad ? ` (${r.non2xx} non-2xx, ${r.socketErrors} socket errors)` : ''}`)
      }

      const p50 = (m: Measured): number => median(m.rounds.map((r) => r.p50Ms))
      for (const m of measured) {
        const spread = m.rounds.map((r) => r.p50Ms)
        opts.log(`  median of ${opts.rounds} rounds at -c${CONNECTIONS}: ${m.contender.name.padEnd(25)} ${Math.round(median(m.rounds.map((r) => r.rps)))} req/s, ` +
          `p50 ${fmt(p50(m))} (rounds ${fmt(Math.min(...spread))}–${fmt(Math.max(...spread))})`)
      }
      const clean = rows.every((r) => r.warning === '')
      opts.log(`  target p50 < ${TARGET_MS} ms: ${p50(hookRun) < TARGET_MS ? 'MET' : 'NOT MET'} (webhook p50 ${fmt(p50(hookRun))}, ` +
        `${(p50(hookRun) / p50(sendRun)).toFixed(2)}× the plain send${clean ? '' : '; the run is INVALID'})`)
      return rows
    } finally {
      await parley.stop()
    }
  }
}

export default webhook
