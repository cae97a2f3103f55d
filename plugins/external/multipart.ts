// @fastify/multipart: multipart/form-data bodies (the official Zulip clients' default).
// Fields become plain body values; the same 1 MiB limit as other bodies applies.
import fp from 'fastify-plugin'
import multipart from '@fastify/multipart'
import type { FastifyInstance } from 'fastify'

export default fp(async function multipartPlugin (app: FastifyInstance) {
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fieldSize: 1024 * 1024, fields: 200, fileSize: 1024 * 1024, files: 10, parts: 210 }
  })
}, { name: 'multipart' })
