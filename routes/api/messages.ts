// Messages: /messages (send, read a page through a narrow) and /messages/{message_id} (SPEC §6).
import { Type } from 'typebox'
import { resource, verb, type Resource } from '../../plugins/app/http/rest.js'
import { CONTENT_MAX, NUM_MAX, TOPIC_MAX } from '../../plugins/app/stores/messages.js'
import { errors } from '../../plugins/app/errors.js'
import { Empty, MessageId, MessageIds, MessageSchema, NarrowSchema } from './schemas.js'

const Content = Type.String({ minLength: 1, maxLength: CONTENT_MAX * 2, description: `Markdown, at most ${CONTENT_MAX} characters` })
const Topic = Type.String({ maxLength: TOPIC_MAX * 2, description: `At most ${TOPIC_MAX} characters` })
const Count = Type.Integer({ minimum: 0, maximum: NUM_MAX })

export const messages = resource('/messages', {
  GET: verb({
    summary: 'Get messages',
    description: 'A page of the messages the caller may read around `anchor` (a message id, `newest`, `oldest`, or `first_unread`: the oldest message of the narrow unread for the caller, else as `newest`), filtered by `narrow`: up to `num_before` older, the anchor itself, up to `num_after` newer, oldest first. Each message carries the caller\'s `flags`. `found_anchor` says whether the anchor message is included; `found_oldest`/`found_newest` whether the page reaches the first/last matching message.',
    params: Type.Object({
      anchor: Type.Union([Type.Integer(), Type.Literal('newest'), Type.Literal('oldest'), Type.Literal('first_unread')], { default: 'newest' }),
      num_before: Count,
      num_after: Count,
      narrow: Type.Optional(NarrowSchema)
    }),
    response: Type.Object({
      messages: Type.Array(MessageSchema),
      found_anchor: Type.Boolean(),
      found_newest: Type.Boolean(),
      found_oldest: Type.Boolean()
    }),
    serializer: 'json',
    handler: async ({ app, params, user }) =>
      await app.messages.fetchPage(user, params.anchor, params.num_before, params.num_after, params.narrow ?? [])
  }),
  POST: verb({
    summary: 'Send a message',
    description: 'Sends a message to a stream (`to`: its id or name; `topic` required) or a direct message (`to`: a list of user ids or emails). `content` is Markdown, rendered to safe HTML. Not idempotent: a repeat is a second message. A stream the caller may not see is 404; an unknown recipient is 400 naming `to`.',
    params: Type.Object({
      type: Type.Union([Type.Literal('stream'), Type.Literal('direct'), Type.Literal('channel'), Type.Literal('private')], {
        description: '`channel` and `private` are Zulip\'s other names for `stream` and `direct`'
      }),
      to: Type.Union([Type.Integer(), Type.String(), Type.Array(Type.Union([Type.Integer(), Type.String()]), { maxItems: 1000 })]),
      topic: Type.Optional(Topic),
      content: Content
    }),
    response: Type.Object({ id: Type.Integer() }),
    webhookBots: true,
    handler: async ({ app, params, user, request }) => {
      const type = params.type === 'channel' ? 'stream' : params.type === 'private' ? 'direct' : params.type
      const sent = await app.messages.doSendMessage(user, {
        type, to: params.to, topic: params.topic, content: params.content, client: request.notes.client
      })
      return { id: sent.id }
    }
  })
})

export const flags = resource('/messages/flags', {
  POST: verb({
    summary: 'Update message flags',
    description: 'Adds (`op=add`) or removes (`op=remove`) the `read` flag of the caller on `messages` (a list of ids; forms send it as JSON text, `messages=[1,2]`). ' +
      'Answers the ids whose flag changed, ascending: a second identical call answers `[]`. Ids of messages the caller cannot read are ignored; `remove` applies only to messages the caller received ' +
      '(direct messages they take part in, messages of streams they are subscribed to). When something changed, the caller\'s own queues get an `update_message_flags` event.',
    params: Type.Object({
      messages: MessageIds,
      op: Type.Union([Type.Literal('add'), Type.Literal('remove')]),
      flag: Type.String({ maxLength: 100, description: 'Only `read` is supported (Zulip\'s `starred`, `mentioned` … are not)' })
    }),
    response: Type.Object({ messages: Type.Array(Type.Integer(), { description: 'The ids whose flag changed' }) }),
    handler: async ({ app, params, user }) => {
      if (params.flag !== 'read') throw errors.invalid('flag', 'error.why.unsupported_flag', { flag: params.flag })
      return { messages: await app.messages.doUpdateMessageFlags(user, params.op, params.flag, params.messages) }
    }
  })
})

export const message = resource('/messages/:message_id', {
  GET: verb({
    summary: 'Get a message',
    description: 'One message the caller may read, with the caller\'s `flags`; any other id is 404.',
    params: Type.Object({ message_id: MessageId }),
    response: Type.Object({ message: MessageSchema }),
    serializer: 'json',
    handler: async ({ app, params, user }) => ({ message: await app.messages.getVisible(user, params.message_id) })
  }),
  PATCH: verb({
    summary: 'Edit a message',
    description: 'Changes `content` and/or `topic` (stream messages only) of a message (its sender, or an administrator; 403 for others who can read it). Sets `last_edit_timestamp`. The same edit twice succeeds twice.',
    params: Type.Object({
      message_id: MessageId,
      content: Type.Optional(Content),
      topic: Type.Optional(Topic)
    }),
    response: Empty,
    handler: async ({ app, params, user }) => {
      await app.messages.doUpdateMessage(user, params.message_id, { content: params.content, topic: params.topic })
      return {}
    }
  }),
  DELETE: verb({
    summary: 'Delete a message',
    description: 'Deletes a message for everyone (its sender, or an administrator; 403 for others who can read it). The message is gone: a second DELETE is 404.',
    params: Type.Object({ message_id: MessageId }),
    response: Empty,
    handler: async ({ app, params, user }) => {
      await app.messages.doDeleteMessage(user, params.message_id)
      return {}
    }
  })
})

export const messagesResources: Resource[] = [messages, flags, message]
