// The `page` benchmark's baseline, run as a child: bare Fastify (no logger, no plugins)
// with one GET route answering given bytes with given status and headers (those Parley
// sent for the page, captured first), so the two differ only in how the answer is made.
import Fastify from 'fastify'
import { readFileSync } from 'node:fs'

const [bodyFile, headFile, path] = process.argv.slice(2)
if (bodyFile === undefined || headFile === undefined || path === undefined) {
  process.stderr.write('usage: bytes-server.js <body file> <head.json: {status, headers}> <path>\n')
  process.exit(2)
}
const body = readFileSync(bodyFile)
const head = JSON.parse(readFileSync(headFile, 'utf8')) as { status: number, headers: Record<string, string> }

const app = Fastify({ logger: false })
app.get(path, (_request, reply) => reply.code(head.status).headers(head.headers).send(body))
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening ${url}\n`)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
