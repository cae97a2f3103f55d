// Bots: /bots (SPEC §6). A bot is a user with is_bot and an owner.
import { Type } from 'typebox'
import { resource, verb } from '../../plugins/app/http/rest.js'
import { FullName, UserSchema } from './schemas.js'

export const bots = resource('/bots', {
  GET: verb({
    summary: 'List own bots',
    description: 'The active bots owned by the caller, each with its `api_key` (the owner configures them: an incoming-webhook bot\'s URL carries it).',
    response: Type.Object({ bots: Type.Array(Type.Object({ ...UserSchema.properties, api_key: Type.String() })) }),
    handler: async ({ app, user }) => ({ bots: await app.users.listBots(user.user_id) })
  }),
  POST: verb({
    summary: 'Create a bot',
    description: 'Creates a bot owned by the caller, with email `<short_name>-bot@<domain>`, and returns its API key. Bots and guests may not create bots (403). An `incoming_webhook` bot may call only the webhook endpoints (`/api/v1/external/…`) and `POST /messages`.',
    params: Type.Object({
      full_name: FullName,
      short_name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,39}$', description: 'lowercase letters, digits, - and _' }),
      bot_type: Type.Union([Type.Literal('generic'), Type.Literal('incoming_webhook')], { default: 'generic' }),
      webhook_secret: Type.Optional(Type.String({
        minLength: 1,
        maxLength: 255,
        description: 'incoming_webhook bots only: deliveries must then carry `X-Hub-Signature-256` (HMAC-SHA256 of the body with this secret, as GitHub signs)'
      }))
    }),
    response: Type.Object({ user_id: Type.Integer(), email: Type.String(), api_key: Type.String() }),
    handler: async ({ app, params, user }) => {
      const bot = await app.users.doCreateBot(user, params)
      return { user_id: bot.id, email: bot.email, api_key: bot.api_key }
    }
  })
})
