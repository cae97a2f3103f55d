// Object schemas shared by several resources (SPEC §6), so every route answers the same shapes.
import { Type } from 'typebox'

export const RoleSchema = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member'), Type.Literal('guest')])

export const UserSchema = Type.Object({
  user_id: Type.Integer(),
  email: Type.String(),
  full_name: Type.String(),
  role: RoleSchema,
  is_admin: Type.Boolean(),
  is_bot: Type.Boolean(),
  is_active: Type.Boolean(),
  date_joined: Type.Integer({ description: 'Unix seconds' }),
  avatar_url: Type.String(),
  bot_owner_id: Type.Optional(Type.Integer()),
  bot_type: Type.Optional(Type.String())
})

export const Empty = Type.Object({})

export const UserId = Type.Integer({ minimum: 1, description: 'A user id' })
export const FullName = Type.String({ minLength: 1, maxLength: 100 })

export const StreamId = Type.Integer({ minimum: 1, description: 'A stream id' })
export const MessageId = Type.Integer({ minimum: 1, description: 'A message id' })

export const StreamSchema = Type.Object({
  stream_id: Type.Integer(),
  name: Type.String(),
  description: Type.String(),
  invite_only: Type.Boolean(),
  date_created: Type.Integer({ description: 'Unix seconds' })
})

export const DisplayRecipientSchema = Type.Object({
  id: Type.Integer(),
  email: Type.String(),
  full_name: Type.String()
})

export const MessageSchema = Type.Object({
  id: Type.Integer(),
  sender_id: Type.Integer(),
  sender_email: Type.String(),
  sender_full_name: Type.String(),
  type: Type.Union([Type.Literal('stream'), Type.Literal('direct')]),
  stream_id: Type.Optional(Type.Integer({ description: 'Stream messages only' })),
  display_recipient: Type.Union([Type.String(), Type.Array(DisplayRecipientSchema)], {
    description: 'The stream name, or every participant of a direct message (sender included)'
  }),
  topic: Type.String({ description: 'Empty for direct messages' }),
  content: Type.String({ description: 'Rendered HTML' }),
  content_markdown: Type.String({ description: 'The Markdown source' }),
  timestamp: Type.Integer({ description: 'Unix seconds' }),
  last_edit_timestamp: Type.Union([Type.Integer(), Type.Null()], { description: 'Unix seconds; null until edited' }),
  client: Type.String(),
  flags: Type.Array(Type.Literal('read'), { description: 'The caller\'s flags: `["read"]`, or `[]` while the message is unread for the caller' })
})

const NarrowOperand = Type.Union([Type.Integer(), Type.String(), Type.Array(Type.Union([Type.Integer(), Type.String()]))])

/** `[{operator, operand, negated?}]` or `[[operator, operand]]` (SPEC §6), as GET /messages and POST /register take it. */
export const NarrowSchema = Type.Array(Type.Union([
  Type.Object({ operator: Type.String(), operand: NarrowOperand, negated: Type.Optional(Type.Boolean()) }),
  Type.Tuple([Type.String(), NarrowOperand])
]), { description: 'Operators: stream (id or name), topic, sender (id or email), dm (user ids or emails), search (words)' })

export const PresenceSchema = Type.Object({
  status: Type.Union([Type.Literal('active'), Type.Literal('idle')]),
  timestamp: Type.Integer({ description: 'Unix seconds' })
})

export const MessageIds = Type.Array(MessageId, { maxItems: 5000 })

/** `unread_msgs` of POST /register (Zulip's shape). */
export const UnreadMsgsSchema = Type.Object({
  count: Type.Integer({ description: 'Unread messages in all the lists below' }),
  streams: Type.Array(Type.Object({ stream_id: Type.Integer(), topic: Type.String(), unread_message_ids: Type.Array(Type.Integer()) }), {
    description: 'By stream and topic (topics that differ only in letter case are one)'
  }),
  pms: Type.Array(Type.Object({ other_user_id: Type.Integer(), unread_message_ids: Type.Array(Type.Integer()) }), {
    description: 'One-to-one conversations; a conversation with oneself has oneself as other_user_id'
  }),
  huddles: Type.Array(Type.Object({ user_ids_string: Type.String(), unread_message_ids: Type.Array(Type.Integer()) }), {
    description: 'Conversations of three or more: every participant\'s id, sorted, joined by commas'
  }),
  mentions: Type.Array(Type.Integer(), { description: 'Always empty: Parley has no mentions yet' }),
  old_unreads_missing: Type.Boolean({ description: 'True when there were more unread messages than listed (the newest 50,000 are)' })
})
