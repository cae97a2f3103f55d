// The Parley app as a plugin: external plugins, then our own, then the routes. Never listens.
import { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Config } from './plugins/app/config.js'
import configPlugin from './plugins/app/config.js'
import notes, { RequestLog } from './plugins/app/notes.js'
import errorsPlugin from './plugins/app/errors.js'
import formbody from './plugins/external/formbody.js'
import basicAuth from './plugins/external/basic-auth.js'
import staticFiles from './plugins/external/static.js'
import assets from './plugins/app/pages/assets.js'
import db from './plugins/app/db.js'
import bus from './plugins/app/bus.js'
import users from './plugins/app/users.js'
import sessions from './plugins/app/sessions.js'
import ratelimit from './plugins/app/ratelimit.js'
import auth from './plugins/app/auth.js'
import streams from './plugins/app/streams.js'
import messages from './plugins/app/messages.js'
import presence from './plugins/app/presence.js'
import events from './plugins/app/events.js'
import rest from './plugins/app/rest.js'
import openapi from './plugins/app/openapi.js'
import { resources } from './routes/api/index.js'

export interface AppOptions { config: Config }

/** Server options shared by server.ts and test/helper.ts, so tests run the app as served. */
export function serverOptions (logger: FastifyServerOptions['logger']): FastifyServerOptions {
  return {
    logger,
    // Begins each request's notes and writes its one access line (plugins/app/notes.ts);
    // Fastify's own request lines stay off.
    logController: new RequestLog(),
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    // Held long-polls must not keep a stopping server open.
    forceCloseConnections: true
  }
}

// Plugins are imported explicitly rather than autoloaded: the order is visible
// here, and the same files load under tsx, tap and the compiled dist/.
export default async function parley (app: FastifyInstance, opts: AppOptions): Promise<void> {
  await app.register(configPlugin, { config: opts.config })
  await app.register(notes)
  await app.register(errorsPlugin)

  // @fastify/multipart and @fastify/cookie are registered by the verb table
  // (plugins/app/rest.ts) in the scopes that use them.
  await app.register(formbody)
  await app.register(basicAuth)

  await app.register(db)
  await app.register(bus)
  await app.register(users)
  await app.register(sessions)
  await app.register(ratelimit)
  await app.register(auth)
  await app.register(streams)
  await app.register(messages)
  await app.register(presence)
  await app.register(events)

  await app.register(rest, { resources })
  await app.register(openapi)
  await app.register(assets)
  await app.register(staticFiles)
}
