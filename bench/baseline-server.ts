// The baseline: bare Fastify (no logger, no plugins) with one GET route that
// answers a given JSON document; run as a child by children.ts.
import Fastify from 'fastify'
import { readFileSync } from 'node:fs'

const [payloadFile, path] = process.argv.slice(2)
if (payloadFile === undefined || path === undefined) {
  process.stderr.write('usage: baseline-server.js <payload.json> <path>\n')
  process.exit(2)
}
// Parsed and served as an object, so Fastify serializes it per request as it would a handler's result.
const payload: unknown = JSON.parse(readFileSync(payloadFile, 'utf8'))

const app = Fastify({ logger: false })
app.get(path, async () => payload)
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening ${url}\n`)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
