// Placeholder: the messages store (issue 3) replaces this file.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

export default fp(async function messagesPlugin (_app: FastifyInstance) {}, { name: 'messages', dependencies: ['db', 'bus', 'users'] })
