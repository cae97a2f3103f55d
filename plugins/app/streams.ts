// Placeholder: the streams store (issue 3) replaces this file.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

export default fp(async function streamsPlugin (_app: FastifyInstance) {}, { name: 'streams', dependencies: ['db', 'bus', 'users'] })
