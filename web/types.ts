// The shapes the web app reads from the /json API (SPEC §6, §7) and the page's bootstrap JSON.
import type { DisplayRecipient, Flag, Message as ApiMessage } from '../plugins/app/stores/message-shape.js'

export interface Bootstrap {
  user_id: number
  email: string
  full_name: string
  is_admin: boolean
  language: string
  languages: Array<{ code: string, name: string }>
  realm_name: string
  translations?: Record<string, unknown>
  /** The incoming-webhook integrations (routes/webhooks/index.ts) and the server's external URL, for the Bots panel. */
  integrations?: Array<{ name: string, display_name: string }>
  external_url?: string
}

/** A bot of GET /json/bots; `api_key` only for the caller's own bots. */
export interface Bot {
  user_id: number
  email: string
  full_name: string
  bot_type?: string
  api_key?: string
}

export interface User {
  user_id: number
  email: string
  full_name: string
  is_bot: boolean
  is_active: boolean
  avatar_url: string
}

export interface Stream {
  stream_id: number
  name: string
  description: string
  invite_only: boolean
}

export type Recipient = DisplayRecipient
export type { Flag }

/** A message of GET /json/messages (with the reader's flags) or of a `message` event (flags beside it). */
export interface Message extends ApiMessage {
  flags?: Flag[]
}

export interface Presence { status: 'active' | 'idle', timestamp: number }

export interface UnreadMsgs {
  count: number
  streams: Array<{ stream_id: number, topic: string, unread_message_ids: number[] }>
  pms: Array<{ other_user_id: number, unread_message_ids: number[] }>
  huddles: Array<{ user_ids_string: string, unread_message_ids: number[] }>
}

export interface RegisterResponse {
  queue_id: string
  last_event_id: number
  realm_users?: User[]
  subscriptions?: Stream[]
  presences?: Record<string, Presence>
  max_message_id?: number
  unread_msgs?: UnreadMsgs
}

export interface MessagesPage {
  messages: Message[]
  found_anchor: boolean
  found_newest: boolean
  found_oldest: boolean
}

/** What the message list shows. `dm` holds the other participants (just me for notes to self). */
export type Narrow =
  | { kind: 'all' }
  | { kind: 'stream', streamId: number }
  | { kind: 'topic', streamId: number, topic: string }
  | { kind: 'dm', userIds: number[] }
  | { kind: 'search', query: string }

export type ServerEvent = { id: number, type: string } & Record<string, unknown>
