// @fastify/view with Eta: auto-escaping templates from templates/, compiled once and
// kept (production mode always: a template change needs a restart, like a code change).
import fp from 'fastify-plugin'
import view from '@fastify/view'
import { Eta } from 'eta'
import type { FastifyInstance } from 'fastify'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** templates/ beside the sources, or two levels up when running from dist/. */
export const TEMPLATES_DIR = ['../../templates', '../../../templates']
  .map((p) => fileURLToPath(new URL(p, import.meta.url)))
  .find((p) => existsSync(p)) ?? fileURLToPath(new URL('../../templates', import.meta.url))

export default fp(async function viewPlugin (app: FastifyInstance) {
  // Without a `locals` decorator of ours, @fastify/view adds a global onRequest hook
  // (`reply.locals = {}`) that every API request would run; pages pass their data.
  if (!app.hasReplyDecorator('locals')) app.decorateReply('locals', null)
  await app.register(view, {
    engine: { eta: new Eta({ views: TEMPLATES_DIR, cache: true, autoEscape: true }) },
    root: TEMPLATES_DIR,
    production: true,
    viewExt: 'eta'
  })
}, { name: 'view' })
