// Real-time events (SPEC §7): POST /register, GET /events (long-poll), DELETE /events.
import { Type } from 'typebox'
import { resource, verb, type Resource } from '../../plugins/app/http/rest.js'
import { parseNarrow } from '../../plugins/app/events/events-narrow.js'
import { serializeBatchEnvelope } from '../../plugins/app/events/events-queue.js'
import { Empty, UnreadMsgsSchema } from './schemas.js'

const QueueId = Type.String({ minLength: 1, maxLength: 100, description: 'The id POST /register returned' })

const EventSchema = Type.Object({
  id: Type.Integer({ description: 'Per-queue, increasing from 0' }),
  type: Type.String({ description: 'message, update_message, delete_message, update_message_flags, typing, realm_user, stream, subscription, presence, heartbeat, restart' })
}, { additionalProperties: true })

export const register = resource('/register', {
  POST: verb({
    summary: 'Register an event queue',
    description: 'Creates an event queue for the caller and returns it with the initial state of the requested event types ' +
      '(`realm_users`, `subscriptions`, `streams`, `presences`, `max_message_id`; `unread_msgs` for `message` or `update_message_flags`). `event_types` absent means every type; ' +
      '`narrow` limits which `message` events the queue receives; `queue_lifespan_secs` overrides the idle timeout.',
    params: Type.Object({
      event_types: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100 })),
      narrow: Type.Array(Type.Unknown(), { default: [], maxItems: 20 }),
      queue_lifespan_secs: Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600, default: 0 })
    }),
    response: Type.Object({
      queue_id: Type.String(),
      last_event_id: Type.Integer(),
      realm_users: Type.Optional(Type.Array(Type.Unknown())),
      subscriptions: Type.Optional(Type.Array(Type.Unknown())),
      streams: Type.Optional(Type.Array(Type.Unknown())),
      presences: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      max_message_id: Type.Optional(Type.Integer()),
      unread_msgs: Type.Optional(UnreadMsgsSchema)
    }),
    handler: async ({ app, params, user }) => await app.events.register(user, {
      eventTypes: params.event_types ?? null,
      narrow: parseNarrow(params.narrow),
      lifespanSecs: params.queue_lifespan_secs
    })
  })
})

export const events = resource('/events', {
  GET: verb({
    summary: 'Get events (long-poll)',
    description: 'Acknowledges the events with `id <= last_event_id` and returns those still pending. With none pending and ' +
      '`dont_block` false the request is held until an event arrives, or answered with a `heartbeat` event after ' +
      'PARLEY_HEARTBEAT_SECONDS; a newer GET on the same queue answers the older one with no events. ' +
      'An unknown, expired or foreign queue is 400 BAD_EVENT_QUEUE_ID.',
    params: Type.Object({
      queue_id: QueueId,
      last_event_id: Type.Optional(Type.Integer({ minimum: -1 })),
      dont_block: Type.Boolean({ default: false })
    }),
    response: Type.Object({ events: Type.Array(EventSchema), queue_id: Type.String() }),
    handler: ({ app, params, user, reply }) => {
      // Not async: an unknown queue throws here, before the serializer below is set, and an
      // answered poll reaches the reply through as few promise layers as possible.
      const batch = app.events.get(user, params.queue_id, params.last_event_id, params.dont_block, reply.raw)
      // Events are stored serialized once for all their queues; the envelope splices them in.
      reply.type('application/json; charset=utf-8').serializer(serializeBatchEnvelope as (payload: unknown) => string)
      return batch as never
    }
  }),
  DELETE: verb({
    summary: 'Delete an event queue',
    description: 'Drops the queue (answering its held poll, if any). An unknown, expired or foreign queue is 400 BAD_EVENT_QUEUE_ID.',
    params: Type.Object({ queue_id: QueueId }),
    response: Empty,
    handler: ({ app, params, user }) => {
      // In-process the queue is gone now; in Redis once the promise settles.
      const deleted = app.events.delete(user, params.queue_id)
      return deleted === undefined ? {} : deleted.then(() => ({}))
    }
  })
})

export const eventsResources: Resource[] = [register, events]
