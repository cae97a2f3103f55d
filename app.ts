// The Parley app as a plugin: external plugins, then our own, then the routes. Never listens.
import { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Config } from './plugins/app/config.js'
import configPlugin from './plugins/app/config.js'
import notes, { RequestLog } from './plugins/app/http/notes.js'
import errorsPlugin, { clientErrorHandler, errors, sendError } from './plugins/app/errors.js'
import formbody from './plugins/external/formbody.js'
import basicAuth from './plugins/external/basic-auth.js'
import staticFiles from './plugins/external/static.js'
import assets from './plugins/app/pages/assets.js'
import redis from './plugins/app/shared/redis.js'
import invalidation from './plugins/app/shared/invalidation.js'
import db from './plugins/app/db/db.js'
import bus from './plugins/app/events/bus.js'
import users from './plugins/app/stores/users.js'
import sessions from './plugins/app/http/sessions.js'
import ratelimit from './plugins/app/http/ratelimit.js'
import auth from './plugins/app/http/auth.js'
import streams from './plugins/app/stores/streams.js'
import messages from './plugins/app/stores/messages.js'
import presence from './plugins/app/stores/presence.js'
import events from './plugins/app/events/events.js'
import rest from './plugins/app/http/rest.js'
import openapi from './plugins/app/http/openapi.js'
import view from './plugins/external/view.js'
import i18n from './plugins/app/pages/i18n.js'
import pagesPlugin from './plugins/app/pages/pages.js'
import webhooks from './plugins/app/webhooks/webhooks.js'
import { resources } from './routes/api/index.js'
import { integrations } from './routes/webhooks/index.js'
import { pages, actions } from './routes/pages/index.js'

export interface AppOptions { config: Config }

/** Server options shared by server.ts and test/helper.ts, so tests run the app as served. */
export function serverOptions (logger: FastifyServerOptions['logger']): FastifyServerOptions {
  return {
    logger,
    // Begins each request's notes and writes its one access line (plugins/app/http/notes.ts);
    // Fastify's own request lines stay off.
    logController: new RequestLog(),
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    // Held long-polls must not keep a stopping server open.
    forceCloseConnections: true,
    // Behind the front server of deploy/nginx/ (on this machine) the client's address is in
    // X-Forwarded-For: per-IP rate limits count clients, not the proxy. Only a proxy on
    // loopback is believed, so a remote client cannot choose its own address.
    trustProxy: 'loopback',
    // A URL whose percent-encoding does not decode never reaches the router: the
    // envelope under /api/v1 and /json, the HTML error page elsewhere.
    frameworkErrors (error, request, reply) {
      Promise.resolve(sendError(request, reply, error.code === 'FST_ERR_BAD_URL' ? errors.badUrl() : errors.badRequest('error.bad_request')))
        .catch((err: unknown) => { request.log.error({ err }, 'error page failed') })
    },
    clientErrorHandler
  }
}

// Plugins are imported explicitly rather than autoloaded: the order is visible
// here, and the same files load under tsx, tap and the compiled dist/.
export default async function parley (app: FastifyInstance, opts: AppOptions): Promise<void> {
  await app.register(configPlugin, { config: opts.config })
  await app.register(notes)
  await app.register(errorsPlugin)

  // @fastify/multipart and @fastify/cookie are registered by the verb table
  // (plugins/app/http/rest.ts) in the scopes that use them.
  await app.register(formbody)
  await app.register(basicAuth)

  // The shared Redis (REDIS_URL) before everything that may share through it: the bus, rate
  // limits, cache invalidation. Without REDIS_URL, app.redis is null and all stays in-process.
  await app.register(redis)
  await app.register(db)
  await app.register(bus)
  await app.register(users)
  await app.register(sessions)
  await app.register(ratelimit)
  await app.register(auth)
  await app.register(streams)
  await app.register(invalidation)
  await app.register(messages)
  await app.register(presence)
  await app.register(events)

  await app.register(rest, { resources })
  // Incoming webhooks (SPEC §10): routes that are not REST, beside the verb table.
  await app.register(webhooks, { integrations })
  await app.register(openapi)
  await app.register(assets)
  await app.register(staticFiles)

  // Pages (SPEC §8, §9): templates, languages, then the pages mounted unprefixed and under each language.
  await app.register(view)
  await app.register(i18n)
  await app.register(pagesPlugin, { pages, actions })
}
