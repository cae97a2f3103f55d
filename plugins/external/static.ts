// /static/: in development, @fastify/static over the checkout's static/ (files as they are,
// source maps included); in production, the build held in memory (plugins/app/pages/assets.ts).
// Either way a missing file is the app's own 404 page and dotfiles are never served.
import fp from 'fastify-plugin'
import fastifyStatic from '@fastify/static'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { noneMatch, pickVariant } from '../app/pages/assets.js'

export default fp(async function staticPlugin (app: FastifyInstance) {
  const { dir, manifest, files } = app.assets
  if (manifest !== undefined) {
    // A look-up in a Map of ready answers: nothing reaches the file system, so no spelling
    // of `..` can leave the build, and the answer costs little more than a JSON route
    // (@fastify/static's stat and stream per request measured 0.17× nginx; this ≥ 0.5×).
    app.get('/static/*', function serveBuilt (request: FastifyRequest, reply: FastifyReply) {
      const file = files.get((request.params as { '*': string })['*'])
      if (file === undefined) return reply.callNotFound()
      const v = pickVariant(file, request.headers['accept-encoding'])
      const inm = request.headers['if-none-match']
      if (inm !== undefined && noneMatch(inm, v.etag)) return reply.code(304).headers(v.notModified).send()
      return reply.headers(v.headers).send(v.body)
    })
    return
  }
  // Its own scope, so its error handler covers only static files: @fastify/static refuses
  // `..`, `%2e%2e` and NUL with 400/403; outside static/ there is simply nothing to find.
  await app.register(async (scope) => {
    scope.setErrorHandler((error: FastifyError, _request, reply) => {
      if (error.statusCode !== undefined && error.statusCode < 500) return reply.callNotFound()
      throw error
    })
    await scope.register(fastifyStatic, {
      root: dir,
      prefix: '/static/',
      dotfiles: 'ignore',
      decorateReply: false,
      index: false,
      wildcard: true
    })
  })
}, { name: 'static', dependencies: ['errors', 'assets'] })
