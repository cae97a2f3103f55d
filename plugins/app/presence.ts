// Placeholder: the presence store (issue 3) replaces this file.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

export default fp(async function presencePlugin (_app: FastifyInstance) {}, { name: 'presence', dependencies: ['db', 'bus', 'users'] })
