// Typing notifications (SPEC §6, §7): nothing stored, one `typing` event to the other
// participants of a direct conversation or to the subscribers of a stream (Zulip's do_send_typing_notification).
import type { DB } from '../db/db.js'
import type { EventBus } from './bus.js'
import { errors } from '../errors.js'
import type { StreamStore } from '../stores/streams.js'
import type { User } from '../stores/users.js'

export type TypingInput = { op: 'start' | 'stop' } & (
  | { type: 'direct', to: number[] }
  | { type: 'stream', streamId: number, topic: string }
)

interface Person { user_id: number, email: string }

export class TypingNotifier {
  constructor (private readonly db: DB, private readonly bus: EventBus, private readonly streams: StreamStore,
    private readonly checkTopic: (topic: string) => string) {}

  /** Active users by id, sorted; any unknown or deactivated id is 400 naming `to`. */
  private async people (ids: number[]): Promise<Person[]> {
    const unique = [...new Set(ids)]
    const rows = await this.db.selectFrom('users').select(['id as user_id', 'email'])
      .where('id', 'in', unique).where('is_active', '=', 1).orderBy('id').execute()
    if (rows.length !== unique.length) {
      const missing = unique.find((id) => !rows.some((r) => r.user_id === id))
      throw errors.invalid('to', 'error.why.no_such_user', { id: String(missing) })
    }
    return rows
  }

  /**
   * Direct: `recipients` lists every participant, the sender included (as Zulip does, so each
   * receiver finds the conversation by the same set); the event goes to the others. Stream: a
   * stream the sender cannot see is 404; the event goes to its subscribers but the sender.
   */
  async doSendTyping (sender: User, input: TypingInput): Promise<void> {
    const from: Person = { user_id: sender.user_id, email: sender.email }
    if (input.type === 'stream') {
      const topic = this.checkTopic(input.topic)
      const stream = await this.streams.findVisible(sender, input.streamId)
      const to = (await this.streams.subscriberIds(stream.id)).filter((id) => id !== sender.user_id)
      if (to.length === 0) return
      this.bus.publish({ type: 'typing', op: input.op, message_type: 'stream', sender: from, stream_id: stream.id, topic }, { kind: 'users', userIds: to })
      return
    }
    if (input.to.length === 0) throw errors.invalid('to', 'error.why.no_recipients')
    const recipients = await this.people([...input.to, sender.user_id])
    const to = recipients.flatMap((p) => p.user_id === sender.user_id ? [] : [p.user_id])
    if (to.length === 0) return
    this.bus.publish({ type: 'typing', op: input.op, message_type: 'direct', sender: from, recipients }, { kind: 'users', userIds: to })
  }
}
