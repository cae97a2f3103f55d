// Where templates link static assets: `/static/<name>` from the checkout in development,
// the content-hashed name from the build's manifest in production (SPEC §9).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

export interface Assets {
  /** The URL of a file under static/, e.g. url('css/parley.css'). */
  url: (name: string) => string
}

declare module 'fastify' {
  interface FastifyInstance {
    assets: Assets
  }
}

export default fp(async function assetsPlugin (app: FastifyInstance) {
  app.decorate('assets', { url: (name: string) => `/static/${name}` })
}, { name: 'assets' })
