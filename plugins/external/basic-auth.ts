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
    async validate (email, apiKey, request) {
      request.notes.user = toUser(await app.users.authenticate(email, apiKey))
    }
  })
}, { name: 'basic-auth' })
