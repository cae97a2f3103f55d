// Anonymous resources: /server_settings and /fetch_api_key (SPEC §4, §6).
import { Type } from 'typebox'
import { resource, verb } from '../../plugins/app/http/rest.js'
import { errors } from '../../plugins/app/errors.js'
import { verifyPassword } from '../../plugins/app/http/credentials.js'
import { VERSION } from '../../plugins/app/version.js'

export const serverSettings = resource('/server_settings', {
  GET: verb({
    summary: 'Server settings',
    description: 'What a client needs before logging in. Answers 200 once the server is ready.',
    access: 'anonymous',
    response: Type.Object({
      realm_name: Type.String(),
      version: Type.String(),
      authentication_methods: Type.Object({ password: Type.Boolean(), api_key: Type.Boolean() })
    }),
    handler: ({ app }) => ({
      realm_name: app.config.realmName,
      version: VERSION,
      authentication_methods: { password: true, api_key: true }
    })
  })
})

export const fetchApiKey = resource('/fetch_api_key', {
  POST: verb({
    summary: 'Fetch an API key',
    description: 'Exchanges an email and password for the API key. Five failures per username in 30 minutes are then refused with 429.',
    access: 'anonymous',
    params: Type.Object({
      username: Type.String({ maxLength: 254 }),
      password: Type.String({ maxLength: 1024 })
    }),
    response: Type.Object({ api_key: Type.String(), email: Type.String(), user_id: Type.Integer() }),
    handler: async ({ app, params }) => {
      await app.rateLimiter.assertAuthAllowed(params.username)
      const row = await app.users.getRowByEmail(params.username)
      const ok = await verifyPassword(params.password, row?.is_bot === 1 ? null : row?.password_hash ?? null)
      if (row === undefined || !ok) {
        await app.rateLimiter.recordAuthFailure(params.username)
        throw errors.unauthorized('error.wrong_password')
      }
      if (row.is_active !== 1) throw errors.deactivated()
      return { api_key: row.api_key, email: row.email, user_id: row.id }
    }
  })
})
