// @fastify/formbody: application/x-www-form-urlencoded bodies, as Zulip clients send.
import fp from 'fastify-plugin'
import formbody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'

export default fp(async function formbodyPlugin (app: FastifyInstance) {
  await app.register(formbody, { bodyLimit: 1024 * 1024 })
}, { name: 'formbody' })
