// Incoming webhooks (SPEC §10): the one dispatcher behind every integration of
// routes/webhooks/. Each integration is mounted at POST /api/v1/external/<name>; here,
// once for all of them: the key (query or HTTP Basic), the per-bot rate limit, the
// signature, the raw body, the URL parameters, and what is sent where. What a payload
// means is the integration's (plugins/app/webhooks/integration.ts runs it).
import fp from 'fastify-plugin'
import { createHmac } from 'node:crypto'
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify'
import { Type } from 'typebox'
import { BoundedMap } from '../bounded-map.js'
import { errors, localizedMessage, ParleyError } from '../errors.js'
import { safeEqual } from '../http/credentials.js'
import { RULES } from '../http/ratelimit.js'
import { declareMethodAnswers, IGNORED, inSequence, parseParams, planParams } from '../http/rest.js'
import { toUser, type User } from '../stores/users.js'
import { EventFilter, processDelivery, readPayload, type CompiledIntegration, type WebhookMessage } from './integration.js'

export const WEBHOOK_PREFIX = '/api/v1/external'

/** The URL parameters of every integration; anything else is the integration's own or ignored. */
const WebhookParams = Type.Object({
  api_key: Type.Optional(Type.String()),
  stream: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })], {
    description: 'A stream id or name; none sends a direct message to the bot\'s owner'
  })),
  topic: Type.Optional(Type.String({ description: 'Overrides the integration\'s topic' })),
  only_events: Type.Optional(Type.Array(Type.String(), { description: 'Event types to send (JSON list, `*` wildcards)' })),
  exclude_events: Type.Optional(Type.Array(Type.String(), { description: 'Event types not to send (JSON list, `*` wildcards)' }))
})

/** How often a bot's owner is told that the bot's stream does not exist (Zulip: once per 10 minutes). */
const NOTICE_EVERY_MS = 10 * 60 * 1000
const SIGNATURE_HEADER = 'x-hub-signature-256'

/** GitHub's signature: `sha256=` and the hex HMAC-SHA256 of the raw body, keyed by the secret. */
export function signature (secret: string, body: Buffer): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex')
}

/** The client a webhook's messages carry, as Zulip's `Zulip<Name>Webhook`: `GitHubWebhook`, `JSONFormatterWebhook`. */
export function clientName (integration: CompiledIntegration): string {
  const words = integration.displayName.split(/[^A-Za-z0-9]+/).filter((w) => w !== '')
  return words.map((w) => (w[0] ?? '').toUpperCase() + w.slice(1)).join('') + 'Webhook'
}

class Dispatcher {
  /** When each bot's owner was last told about a missing stream. */
  private readonly noticed = new BoundedMap<number, number>(10_000)

  constructor (private readonly app: FastifyInstance) {}

  /**
   * The key: `api_key` in the query, else HTTP Basic (`email:api_key`). Any failure is 401
   * INVALID_API_KEY (SPEC §10), a deactivated user 401 USER_DEACTIVATED; then the per-user
   * rate limit, as for any API call.
   */
  identify (): onRequestHookHandler {
    const app = this.app
    const limit: onRequestHookHandler = function (request, reply, done) {
      try {
        const pending = app.rateLimiter.check(request, reply, RULES.user, (request.notes.user as User).user_id)
        if (pending === undefined) done()
        else pending.then(() => { done() }, done)
      } catch (err) {
        done(err as Error)
      }
    }
    const byKey: onRequestHookHandler = function (request, reply, done) {
      const key = (request.query as Record<string, unknown>).api_key
      if (key === undefined) {
        if (request.headers.authorization === undefined) { done(errors.invalidApiKey()); return }
        app.basicIdentify(request, reply, (err?: Error) => {
          const code = (err as { code?: string } | undefined)?.code
          done(code === 'UNAUTHORIZED' || code === 'FST_BASIC_AUTH_MISSING_OR_BAD_AUTHORIZATION_HEADER' ? errors.invalidApiKey() : err)
        })
        return
      }
      if (typeof key !== 'string') { done(errors.invalidApiKey()); return }
      app.users.byApiKey(key).then((row) => {
        // The index found it by the key itself; compare anyway, in constant time.
        if (row === undefined || !safeEqual(row.api_key, key)) throw errors.invalidApiKey()
        if (row.is_active !== 1) throw errors.deactivated()
        request.notes.user = toUser(row)
        done()
      }).catch(done)
    }
    return inSequence([byKey, limit]) as onRequestHookHandler
  }

  /** A bot with a webhook secret accepts signed deliveries only (GitHub's X-Hub-Signature-256). */
  async checkSignature (user: User, request: FastifyRequest, body: Buffer): Promise<void> {
    const row = await this.app.users.getRow(user.user_id)
    const secret = row?.webhook_secret ?? null
    if (secret === null) return
    const sent = request.headers[SIGNATURE_HEADER]
    if (typeof sent !== 'string' || sent === '') throw errors.unauthorized('error.webhook_signature_missing')
    if (!safeEqual(sent.trim().toLowerCase(), signature(secret, body))) throw errors.unauthorized('error.webhook_signature_wrong')
  }

  /** Sends a formatted message: to `stream`, or to the bot's owner directly. */
  async send (integration: CompiledIntegration, sender: User, stream: number | string | undefined, message: WebhookMessage): Promise<void> {
    const client = clientName(integration)
    const ownerId = sender.bot_owner_id ?? sender.user_id
    if (stream === undefined) {
      await this.app.messages.doSendMessage(sender, { type: 'direct', to: [ownerId], content: message.content, client })
      return
    }
    try {
      await this.app.streams.findVisible(sender, stream)
    } catch (err) {
      if (!(err instanceof ParleyError) || err.code !== 'NOT_FOUND') throw err
      // As Zulip: the sender is told success (it could do nothing else), the owner is told why nothing came.
      await this.noticeMissingStream(sender, ownerId, stream, client)
      return
    }
    await this.app.messages.doSendMessage(sender, { type: 'stream', to: stream, topic: message.topic, content: message.content, client })
  }

  private async noticeMissingStream (bot: User, ownerId: number, stream: number | string, client: string): Promise<void> {
    const last = this.noticed.get(bot.user_id)
    if (last !== undefined && Date.now() - last < NOTICE_EVERY_MS) return
    this.noticed.set(bot.user_id, Date.now())
    const which = typeof stream === 'number' ? `with id ${stream}` : `\`${stream.replace(/`/g, "'")}\``
    const content = `Your bot **${bot.full_name.replace(/[*_`[\]\\]/g, '\\$&')}** tried to send a message to the stream ${which}, ` +
      'but that stream does not exist or the bot may not post to it. Create the stream (and subscribe the bot if it is private), ' +
      'or change the `stream` parameter of the webhook URL.'
    await this.app.messages.doSendMessage(bot, { type: 'direct', to: [ownerId], content, client })
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every incoming-webhook integration, as mounted (read by the /integrations page). */
    integrations: CompiledIntegration[]
  }
}

export default fp(async function webhooksPlugin (app: FastifyInstance, opts: { integrations: CompiledIntegration[] }) {
  app.decorate('integrations', opts.integrations)
  const dispatcher = new Dispatcher(app)
  const identify = dispatcher.identify()
  const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024

  await app.register(async function external (scope) {
    // The body is the sender's, in the sender's format: kept as bytes (the signature is
    // over the bytes) and read by readPayload whatever the declared type.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => { done(null, body) })

    for (const integration of opts.integrations) {
      const url = `/${integration.name}`
      const route = WEBHOOK_PREFIX + url
      const plan = planParams(WebhookParams, url)
      const guard: onRequestHookHandler = function (request, _reply, done) {
        request.notes.route = route
        done(Number(request.headers['content-length']) > bodyLimit ? errors.tooLarge() : undefined)
      }
      scope.route({
        method: 'POST',
        url,
        onRequest: inSequence([guard, identify]),
        handler: async function (request, reply) {
          const user = request.notes.user as User
          request.notes.client = clientName(integration)
          request.notes.clientVersion = ''
          const { params, ignored } = parseParams(plan, request, false)
          const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
          await dispatcher.checkSignature(user, request, body)
          const payload = readPayload(integration, body, request.headers['content-type'])
          const filter = new EventFilter(params.only_events as string[] | undefined, params.exclude_events as string[] | undefined)
          const outcome = processDelivery(integration, payload, { headers: request.headers }, { filter, topic: params.topic as string | undefined })
          const data: Record<string, unknown> = {}
          if (ignored.length > 0) data[IGNORED] = ignored
          reply.type('application/json; charset=utf-8')
          if (outcome.kind === 'unsupported') {
            const msg = localizedMessage(request, { key: 'error.unsupported_event', vars: { event: outcome.eventType, integration: integration.displayName } })
            return { result: 'success', msg, code: 'UNSUPPORTED_WEBHOOK_EVENT_TYPE', data }
          }
          if (outcome.kind === 'message') await dispatcher.send(integration, user, params.stream as number | string | undefined, outcome.message)
          return { result: 'success', msg: '', data }
        }
      })
      declareMethodAnswers(scope, url, ['POST'], guard)
    }
  }, { prefix: WEBHOOK_PREFIX })
}, { name: 'webhooks', dependencies: ['rest', 'auth', 'messages', 'streams', 'ratelimit'] })
