// The initial state POST /register answers beside the queue id, and the interface both event-queue services share.
import type { FastifyInstance } from 'fastify'
import type { ServerResponse } from 'node:http'
import type { Batch, EventQueue } from './events-queue.js'
import type { NarrowTerm } from './events-narrow.js'
import type { User } from '../stores/users.js'

export interface RegisterOptions { eventTypes: string[] | null, narrow: NarrowTerm[], lifespanSecs: number }

export type Registered = { queue_id: string, last_event_id: number } & Record<string, unknown>

/** What the routes use: queues in this process (events.ts) or in Redis (events-redis.ts). */
export interface EventsService {
  register: (user: User, opts: RegisterOptions) => Promise<Registered>
  /** GET /events; may throw at once (in-process) or reject (Redis) for a queue that is not the caller's. */
  get: (user: User, queueId: string, lastEventId: number | undefined, dontBlock: boolean, res: ServerResponse) => Promise<Batch>
  delete: (user: User, queueId: string) => void | Promise<void>
  /** For tests and diagnostics: the queue as this process knows it, if it does. */
  queue: (queueId: string) => EventQueue | undefined
  /** For tests and diagnostics: the JSON of a queue's pending events, wherever the queue lives ([] if none). */
  pendingJson: (queueId: string) => Promise<string[]>
}

/** Initial state per event type, as POST /register returns it. */
export async function initialState (app: FastifyInstance, user: User, wants: (type: string) => boolean): Promise<Record<string, unknown>> {
  const state: Record<string, unknown> = {}
  const [realmUsers, subscriptions, streams, presences, maxId, unread] = await Promise.all([
    wants('realm_user') ? app.users.list(false) : undefined,
    wants('subscription') ? app.streams.subscriptionsOf(user.user_id) : undefined,
    wants('stream') ? app.streams.visibleTo(user) : undefined,
    wants('presence') ? app.presence.all() : undefined,
    wants('message') ? app.messages.maxId() : undefined,
    // Zulip sends it with either type: a client that follows flag changes needs the counts they change.
    wants('message') || wants('update_message_flags') ? app.messages.unreadState(user) : undefined
  ])
  if (realmUsers !== undefined) state.realm_users = realmUsers
  if (subscriptions !== undefined) state.subscriptions = subscriptions
  if (streams !== undefined) state.streams = streams
  if (presences !== undefined) state.presences = presences
  if (maxId !== undefined) state.max_message_id = maxId
  if (unread !== undefined) state.unread_msgs = unread
  return state
}
