// Presence: /users/me/presence and /realm/presence (SPEC §6).
import { Type } from 'typebox'
import { resource, verb, type Resource } from '../../plugins/app/http/rest.js'
import { Empty, PresenceSchema } from './schemas.js'

export const myPresence = resource('/users/me/presence', {
  POST: verb({
    summary: 'Report own presence',
    description: 'Records that the caller is `active` or `idle` now. Others learn of it through `presence` events (on a change of status, or when the last news is stale) and GET /realm/presence.',
    params: Type.Object({ status: PresenceSchema.properties.status }),
    response: Empty,
    handler: async ({ app, params, user }) => {
      await app.presence.doUpdatePresence(user, params.status)
      return {}
    }
  })
})

export const realmPresence = resource('/realm/presence', {
  GET: verb({
    summary: 'Get everyone\'s presence',
    description: 'The last reported status and time of every active user who has reported one, keyed by user id.',
    response: Type.Object({ presences: Type.Record(Type.String(), PresenceSchema) }),
    handler: async ({ app }) => ({ presences: await app.presence.all() })
  })
})

export const presenceResources: Resource[] = [myPresence, realmPresence]
