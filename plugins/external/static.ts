// @fastify/static: files under static/ served at /static/. A missing file falls through
// to the app's own 404 page; dotfiles are never served.
import fp from 'fastify-plugin'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** static/ beside the sources, or two levels up when running from dist/. */
export const STATIC_ROOT = ['../../static', '../../../static']
  .map((p) => fileURLToPath(new URL(p, import.meta.url)))
  .find((p) => existsSync(p)) ?? fileURLToPath(new URL('../../static', import.meta.url))

export default fp(async function staticPlugin (app: FastifyInstance) {
  await app.register(fastifyStatic, {
    root: STATIC_ROOT,
    prefix: '/static/',
    dotfiles: 'ignore',
    decorateReply: false,
    index: false,
    wildcard: true
  })
}, { name: 'static' })
