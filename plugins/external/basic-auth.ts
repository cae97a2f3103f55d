// @fastify/basic-auth parses `Authorization: Basic email:api_key` for /api/v1;
// the users store checks the pair. No challenge header here: our coded errors carry it.
import fp from 'fastify-plugin'
import basicAuth from '@fastify/basic-auth'
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify'
import { emailKey, toUser } from '../app/stores/users.js'
import { BoundedMap } from '../app/bounded-map.js'

/** How many distinct Authorization headers keep their decoded pair. */
const DECODED_MAX = 10_000

interface Credentials {
  email: string
  apiKey: string
  /** The users store's look-up key and the key's bytes, derived once. */
  key: string
  secret: Buffer
  /** The look-up this exact pair last matched (UserStore.authenticateCached). */
  verified?: object
}

declare module 'fastify' {
  interface FastifyInstance {
    /** `app.basicAuth` with each distinct header decoded once: the API's authentication hook. */
    basicIdentify: onRequestHookHandler
  }
}

export default fp(async function basicAuthPlugin (app: FastifyInstance) {
  // The plugin's parse (a regex, base64, two more regexes) is a pure function of the
  // header, and a client sends the same header on every request: the pairs it
  // produced are kept by header, so a known header goes straight to the check
  // below (docs/performance.md). A pair whose key has matched is not compared again
  // while the users store's look-up stays the same (UserStore.authenticateCached);
  // any other key is compared, in constant time.
  const decoded = new BoundedMap<string, Credentials>(DECODED_MAX)

  // Not async: a fresh cached look-up answers without a promise; only a cache miss
  // waits for the database.
  function validate (pair: Credentials, request: FastifyRequest, done: (err?: Error) => void): void {
    let cached
    try {
      cached = app.users.authenticateCached(pair.email, pair.secret, 'Basic', pair.key, pair)
    } catch (err) {
      done(err as Error)
      return
    }
    if (cached !== undefined) {
      request.notes.user = cached.user
      done()
      return
    }
    app.users.authenticate(pair.email, pair.apiKey).then((row) => {
      request.notes.user = toUser(row)
      done()
    }, done)
  }

  await app.register(basicAuth, {
    authenticate: false,
    utf8: true,
    validate (email, apiKey, request, _reply, done) {
      // The pair with what every request would derive from it again: the users
      // store's look-up key and the key's bytes for the constant-time comparison.
      const pair: Credentials = { email, apiKey, key: emailKey(email), secret: Buffer.from(apiKey) }
      const header = request.headers.authorization
      if (header !== undefined && !decoded.has(header)) decoded.set(header, pair)
      validate(pair, request, done)
    }
  })

  app.decorate('basicIdentify', function basicIdentify (request, reply, done) {
    const header = request.headers.authorization
    const pair = header === undefined ? undefined : decoded.get(header)
    if (pair === undefined) app.basicAuth(request, reply, done)
    else validate(pair, request, done)
  } satisfies onRequestHookHandler)
}, { name: 'basic-auth' })
