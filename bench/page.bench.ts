// Issue 14 point 9 (b): a rendered page (`/de/features`) from `npm start`'s app against a
// bare Fastify route sending the very same bytes and headers (captured from the app
// first; bytes-server.ts), in alternating rounds. Target: the app ≥ 0.5× the bare route.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { rawGet, startChild, startParley, type Server } from './children.js'
import { alternate, summarize, type Benchmark } from './harness.js'
import { ACCEPT_ENCODING } from './static.bench.js'
import { headersScript } from './wrk.js'

const PATH = '/de/features'
/** Headers that belong to the connection or are recomputed per answer, not to the page. */
const PER_ANSWER = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'])

const page: Benchmark = {
  name: 'page',
  description: `GET ${PATH} (rendered, logged out, access log at info) vs bare Fastify sending the same bytes and headers`,
  async run (opts) {
    const servers: Server[] = []
    try {
      const parley = await startParley({
        name: 'parley', dir: opts.dir, dataDir: join(opts.dir, 'data'), adminEmail: 'owner@example.com', adminPassword: 'bench-owner-password', rateLimit: true
      })
      servers.push(parley)
      // The request wrk sends: a browser's Accept-Language and Accept-Encoding.
      const headers = { 'Accept-Language': 'de-DE,de;q=0.9,en;q=0.8', 'Accept-Encoding': ACCEPT_ENCODING, Accept: 'text/html' }
      const answer = await rawGet(parley.url + PATH, headers)
      const kept: Record<string, string> = {}
      for (const [k, v] of Object.entries(answer.headers)) {
        if (!PER_ANSWER.has(k) && v !== undefined) kept[k] = Array.isArray(v) ? v.join(', ') : v
      }
      const bodyFile = join(opts.dir, 'page.body')
      const headFile = join(opts.dir, 'page.head.json')
      writeFileSync(bodyFile, answer.body)
      writeFileSync(headFile, JSON.stringify({ status: answer.status, headers: kept }))
      if (answer.status !== 200) opts.log(`  note: ${PATH} answers ${answer.status} (the page is not built yet); both contenders send that answer`)
      opts.log(`  ${PATH}: ${answer.status}, ${answer.body.length} bytes, headers ${Object.keys(kept).join(', ')}`)

      const bare = await startChild({
        name: 'bare-fastify',
        script: fileURLToPath(new URL('bytes-server.js', import.meta.url)),
        args: [bodyFile, headFile, PATH],
        dir: opts.dir,
        env: {},
        urlPattern: /^listening (http:\/\/\S+)$/m
      })
      servers.push(bare)
      const same = await rawGet(bare.url + PATH, headers)
      if (same.status !== answer.status || !same.body.equals(answer.body)) throw new Error('the baseline answers differently from Parley')

      const script = headersScript(join(opts.dir, 'page-headers.lua'), headers)
      const measured = await alternate([
        { name: 'bare fastify', url: bare.url + PATH, script },
        { name: 'parley', url: parley.url + PATH, script }
      ], opts)
      return summarize(page.name, measured)
    } finally {
      await Promise.all(servers.map(async (s) => { await s.stop() }))
    }
  }
}

export default page
