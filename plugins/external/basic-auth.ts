// @fastify/basic-auth parses `Authorization: Basic email:api_key` for /api/v1;
// the users store checks the pair. No challenge header here: our coded errors carry it.
import fp from 'fastify-plugin'
import basicAuth from '@fastify/basic-auth'
import type { FastifyInstance } from 'fastify'
import { toUser } from '../app/users.js'

export default fp(async function basicAuthPlugin (app: FastifyInstance) {
  await app.register(basicAuth, {
    authenticate: false,
    utf8: true,
    // Not async: a fresh cached look-up answers without a promise (docs/performance.md);
    // only a cache miss waits for the database.
    validate (email, apiKey, request, _reply, done) {
      let cached
      try {
        cached = app.users.authenticateCached(email, apiKey)
      } catch (err) {
        done(err as Error)
        return
      }
      if (cached !== undefined) {
        request.notes.user = cached.user
        done()
        return
      }
      app.users.authenticate(email, apiKey).then((row) => {
        request.notes.user = toUser(row)
        done()
      }, done)
    }
  })
}, { name: 'basic-auth' })
