// Typing notifications: /typing (SPEC §6). Nothing is stored; the other participants get a `typing` event.
import { Type } from 'typebox'
import { resource, verb, type Resource } from '../../plugins/app/http/rest.js'
import { TOPIC_MAX } from '../../plugins/app/stores/messages.js'
import { errors } from '../../plugins/app/errors.js'
import { Empty, StreamId, UserId } from './schemas.js'

export const typing = resource('/typing', {
  POST: verb({
    summary: 'Send a typing notification',
    description: 'Tells the other participants that the caller started (`op=start`) or stopped (`op=stop`) typing. ' +
      '`type=direct` (default): `to` is the list of user ids of the conversation (forms send it as JSON text, `to=[3,4]`); an unknown or deactivated user is 400 naming `to`; ' +
      'the event lists every participant in `recipients`, the caller included. `type=stream`: `stream_id` and `topic`; a stream the caller cannot see is 404; ' +
      'its subscribers get the event. The caller\'s own queues never do. Nothing is stored.',
    params: Type.Object({
      op: Type.Union([Type.Literal('start'), Type.Literal('stop')]),
      type: Type.Union([Type.Literal('direct'), Type.Literal('stream'), Type.Literal('private'), Type.Literal('channel')], {
        default: 'direct', description: '`private` and `channel` are Zulip\'s other names for `direct` and `stream`'
      }),
      to: Type.Optional(Type.Array(UserId, { maxItems: 1000 })),
      stream_id: Type.Optional(StreamId),
      topic: Type.Optional(Type.String({ maxLength: TOPIC_MAX * 2, description: `At most ${TOPIC_MAX} characters` }))
    }),
    response: Empty,
    handler: async ({ app, params, user }) => {
      if (params.type === 'stream' || params.type === 'channel') {
        if (params.stream_id === undefined) throw errors.missing('stream_id')
        if (params.topic === undefined) throw errors.missing('topic')
        await app.messages.typing.doSendTyping(user, { op: params.op, type: 'stream', streamId: params.stream_id, topic: params.topic })
      } else {
        if (params.to === undefined) throw errors.missing('to')
        await app.messages.typing.doSendTyping(user, { op: params.op, type: 'direct', to: params.to })
      }
      return {}
    }
  })
})

export const typingResources: Resource[] = [typing]
