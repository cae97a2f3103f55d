// The baselines, run as children by children.ts: bare Fastify (no logger, no plugins)
// with one GET route that answers a given JSON document. Given a users file
// ({email: apiKey}), also @fastify/basic-auth validating each pair against a Map:
// issue 2's reference for users-me's budget (it measured 0.94× bare Fastify when
// the target was set; users-me.bench.ts measures it again in the same run).
import Fastify from 'fastify'
import basicAuth from '@fastify/basic-auth'
import { readFileSync } from 'node:fs'

const [payloadFile, path, usersFile] = process.argv.slice(2)
if (payloadFile === undefined || path === undefined) {
  process.stderr.write('usage: baseline-server.js <payload.json> <path> [users.json: {email: apiKey}]\n')
  process.exit(2)
}
// Parsed and served as an object, so Fastify serializes it per request as it would a handler's result.
const payload: unknown = JSON.parse(readFileSync(payloadFile, 'utf8'))

const app = Fastify({ logger: false })
if (usersFile !== undefined) {
  const keys = new Map(Object.entries(JSON.parse(readFileSync(usersFile, 'utf8')) as Record<string, string>))
  await app.register(basicAuth, {
    validate (email, apiKey, _request, _reply, done) {
      done(keys.get(email) === apiKey ? undefined : new Error('Invalid API key or email'))
    }
  })
  app.addHook('onRequest', app.basicAuth)
}
app.get(path, async () => payload)
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening ${url}\n`)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
