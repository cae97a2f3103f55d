// Streams and subscriptions: /streams, /streams/{stream_id}, /users/me/subscriptions[/{stream_id}] (SPEC §6).
import { Type } from 'typebox'
import { resource, verb, type Resource } from '../../plugins/app/http/rest.js'
import { STREAM_DESCRIPTION_MAX, STREAM_NAME_MAX, toStream } from '../../plugins/app/stores/streams.js'
import { Empty, StreamId, StreamSchema } from './schemas.js'

const StreamName = Type.String({ minLength: 1, maxLength: STREAM_NAME_MAX * 2, description: `At most ${STREAM_NAME_MAX} characters` })
const Description = Type.String({ maxLength: STREAM_DESCRIPTION_MAX })

export const streams = resource('/streams', {
  GET: verb({
    summary: 'List streams',
    description: 'The streams the caller may see: every public stream and the private ones they are subscribed to. Archived streams are not listed.',
    response: Type.Object({ streams: Type.Array(StreamSchema) }),
    handler: async ({ app, user }) => ({ streams: await app.streams.visibleTo(user) })
  }),
  PUT: verb({
    summary: 'Create a stream',
    description: 'Creates a stream and subscribes the creator (and `principals`, user ids or emails, if given: the way to share a private stream). Names are unique in any letter case: a taken name is 409 ALREADY_EXISTS and changes nothing.',
    params: Type.Object({
      name: StreamName,
      description: Type.Optional(Description),
      invite_only: Type.Boolean({ default: false }),
      principals: Type.Optional(Type.Array(Type.Union([Type.Integer({ minimum: 1 }), Type.String()]), { maxItems: 1000 }))
    }),
    response: Type.Object({ stream_id: Type.Integer() }),
    handler: async ({ app, params, user }) => {
      const created = await app.streams.doCreateStream(user, {
        name: params.name,
        description: params.description ?? '',
        invite_only: params.invite_only,
        principals: params.principals
      })
      return { stream_id: created.stream_id }
    }
  })
})

export const stream = resource('/streams/:stream_id', {
  GET: verb({
    summary: 'Get a stream',
    description: 'One stream the caller may see; a private stream they are not subscribed to, or an archived one, is 404.',
    params: Type.Object({ stream_id: StreamId }),
    response: Type.Object({ stream: StreamSchema }),
    handler: async ({ app, params, user }) => ({ stream: toStream(await app.streams.findVisible(user, params.stream_id)) })
  }),
  PATCH: verb({
    summary: 'Update a stream',
    description: 'Renames a stream (`new_name`) or changes its `description` (administrators only; 403 for others who can see it). The same edit twice succeeds twice. A name taken by another stream is 409 ALREADY_EXISTS.',
    params: Type.Object({
      stream_id: StreamId,
      new_name: Type.Optional(StreamName),
      description: Type.Optional(Description)
    }),
    response: Empty,
    handler: async ({ app, params, user }) => {
      await app.streams.doUpdateStream(user, params.stream_id, { new_name: params.new_name, description: params.description })
      return {}
    }
  }),
  DELETE: verb({
    summary: 'Archive a stream',
    description: 'Archives a stream (administrators only): it vanishes from lists and lookups and its name becomes free. A second DELETE is 409 NO_CHANGE.',
    params: Type.Object({ stream_id: StreamId }),
    response: Empty,
    handler: async ({ app, params, user }) => {
      await app.streams.doArchiveStream(user, params.stream_id)
      return {}
    }
  })
})

export const subscriptions = resource('/users/me/subscriptions', {
  GET: verb({
    summary: 'List own subscriptions',
    description: 'The streams the caller is subscribed to (archived ones excluded).',
    response: Type.Object({ subscriptions: Type.Array(StreamSchema) }),
    handler: async ({ app, user }) => ({ subscriptions: await app.streams.subscriptionsOf(user.user_id) })
  })
})

export const subscription = resource('/users/me/subscriptions/:stream_id', {
  PUT: verb({
    summary: 'Subscribe to a stream',
    description: 'Subscribes the caller to a stream they may see (a private stream they are not in is 404). Already subscribed: 409 ALREADY_EXISTS.',
    params: Type.Object({ stream_id: StreamId }),
    response: Type.Object({ stream: StreamSchema }),
    handler: async ({ app, params, user }) => ({ stream: await app.streams.doSubscribe(user, params.stream_id) })
  }),
  DELETE: verb({
    summary: 'Unsubscribe from a stream',
    description: 'Unsubscribes the caller. Not subscribed: 409 NO_CHANGE. Leaving a private stream makes it invisible to the caller.',
    params: Type.Object({ stream_id: StreamId }),
    response: Empty,
    handler: async ({ app, params, user }) => {
      await app.streams.doUnsubscribe(user, params.stream_id)
      return {}
    }
  })
})

export const streamsResources: Resource[] = [streams, stream, subscriptions, subscription]
