// @fastify/static: files under static/ served at /static/. A missing file falls through
// to the app's own 404 page; dotfiles are never served.
import fp from 'fastify-plugin'
import fastifyStatic from '@fastify/static'
import type { FastifyError, FastifyInstance } from 'fastify'
import { errors, sendError } from '../app/errors.js'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** static/ beside the sources, or two levels up when running from dist/. */
export const STATIC_ROOT = ['../../static', '../../../static']
  .map((p) => fileURLToPath(new URL(p, import.meta.url)))
  .find((p) => existsSync(p)) ?? fileURLToPath(new URL('../../static', import.meta.url))

export default fp(async function staticPlugin (app: FastifyInstance) {
  // Its own scope, so its error handler covers only static files: @fastify/static refuses
  // `..` and `%2e%2e` with 400/403, and outside static/ there is simply nothing to find.
  await app.register(async (scope) => {
    scope.setErrorHandler((error: FastifyError, request, reply) => {
      if (error.statusCode !== undefined && error.statusCode < 500) return sendError(request, reply, errors.notFound('Page not found'))
      throw error
    })
    await scope.register(fastifyStatic, {
      root: STATIC_ROOT,
      prefix: '/static/',
      dotfiles: 'ignore',
      decorateReply: false,
      index: false,
      wildcard: true
    })
  })
}, { name: 'static', dependencies: ['errors'] })
