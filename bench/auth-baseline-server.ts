// The reference of issue 2's budget: Fastify with @fastify/basic-auth and a Map
// look-up (no logger, no other plugin), answering a given JSON document on one
// GET route; run as a child by children.ts. The issue measured this at 0.94× bare
// Fastify when it set users-me's target; users-me.bench.ts measures it again in
// the same run, so the budget's premise is checked on the machine at hand.
import Fastify from 'fastify'
import basicAuth from '@fastify/basic-auth'
import { readFileSync } from 'node:fs'

const [payloadFile, usersFile, path] = process.argv.slice(2)
if (payloadFile === undefined || usersFile === undefined || path === undefined) {
  process.stderr.write('usage: auth-baseline-server.js <payload.json> <users.json: {email: apiKey}> <path>\n')
  process.exit(2)
}
const payload: unknown = JSON.parse(readFileSync(payloadFile, 'utf8'))
const keys = new Map(Object.entries(JSON.parse(readFileSync(usersFile, 'utf8')) as Record<string, string>))

const app = Fastify({ logger: false })
await app.register(basicAuth, {
  validate (email, apiKey, _request, _reply, done) {
    done(keys.get(email) === apiKey ? undefined : new Error('Invalid API key or email'))
  }
})
app.addHook('onRequest', app.basicAuth)
app.get(path, async () => payload)
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening ${url}\n`)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
