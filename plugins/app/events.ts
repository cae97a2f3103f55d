// Placeholder: the event queues (issue 3) replace this file.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

export default fp(async function eventsPlugin (_app: FastifyInstance) {}, { name: 'events', dependencies: ['bus', 'users', 'streams', 'messages', 'presence'] })
