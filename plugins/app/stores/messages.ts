// The messages store: sending, reading pages through narrows, editing and deleting,
// each change in one transaction and published on the bus after commit (with REDIS_URL, its
// event also written to the outbox in that transaction: docs/events.md, "The outbox").
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Selectable, Transaction } from 'kysely'
import type { Database, DB, MessageTable } from '../db/db.js'
import type { Audience, BusEvent, EventBus } from '../events/bus.js'
import { errors } from '../errors.js'
import { Prepared, PreparedByShape, type Placeholders } from '../db/compiled.js'
import { firstUnreadValues, pageShape, pageValues, prepareFirstUnread, preparePage, readableBy, selectMessages, unreadFlag, type Anchor, type PageValues, type Row } from './message-query.js'
import { renderMarkdown, warmMarkdown } from './markdown.js'
import { memberKey, resolveNarrow, searchText, topicKey, type NarrowFilter, type NarrowTerm } from './narrow.js'
import type { StreamStore } from './streams.js'
import { UnreadStore, type UnreadMsgs } from './unread.js'
import { TypingNotifier } from '../events/typing.js'
import { emailKey, isAdmin, now, type User } from './users.js'

export const CONTENT_MAX = 10000
export const TOPIC_MAX = 60
/** Largest page a client may ask for on either side of the anchor. */
export const NUM_MAX = 5000

import type { DisplayRecipient, Flag, FlaggedMessage, Message } from './message-shape.js'
export type { DisplayRecipient, Flag, FlaggedMessage, Message }

export interface Outgoing {
  type: 'stream' | 'direct'
  to: number | string | Array<number | string>
  topic?: string | undefined
  content: string
  client: string
}

export type { Anchor }

export interface Page {
  messages: FlaggedMessage[]
  found_anchor: boolean
  found_newest: boolean
  found_oldest: boolean
}

type Db = DB | Transaction<Database>

type NewMessage = Omit<Selectable<MessageTable>, 'id'>

/** The columns of a new message, in the order of the insert's column list. */
const MESSAGE_COLUMNS = ['sender_id', 'content', 'content_markdown', 'timestamp', 'last_edit_timestamp', 'client',
  'type', 'stream_id', 'dm_group_id', 'topic', 'topic_key', 'search_text'] as const satisfies ReadonlyArray<keyof NewMessage>

function chars (s: string): number { return [...s].length }

function checkContent (content: string): string {
  if (content.trim() === '') throw errors.invalid('content', 'error.why.empty')
  if (chars(content) > CONTENT_MAX) throw errors.invalid('content', 'error.why.at_most_characters', { count: CONTENT_MAX })
  return content
}

export function checkTopic (topic: string): string {
  const t = topic.trim()
  if (t === '') throw errors.invalid('topic', 'error.why.empty')
  if (chars(t) > TOPIC_MAX) throw errors.invalid('topic', 'error.why.at_most_characters', { count: TOPIC_MAX })
  return t
}

export class MessageStore {
  /** Compiled once per app: building and compiling cost more than SQLite inserting the row. */
  private readonly insertMessage = new Prepared(MESSAGE_COLUMNS, (db: DB, p: Placeholders<NewMessage>) =>
    db.insertInto('messages').values(p).returning('id'))

  /** Page queries by narrow shape and anchor kind. */
  private readonly pages = new PreparedByShape<Database, PageValues, Row>()
  /** The oldest unread message of a narrow, by narrow shape (anchor `first_unread`). */
  private readonly firstUnread = new PreparedByShape<Database, PageValues, { id: number }>()

  readonly unread: UnreadStore
  /** Typing notifications: about the messages being written, so beside them (nothing is stored). */
  readonly typing: TypingNotifier

  constructor (private readonly db: DB, private readonly bus: EventBus, private readonly streams: StreamStore) {
    this.unread = new UnreadStore(db)
    this.typing = new TypingNotifier(db, bus, streams, checkTopic)
  }

  /** The highest message id, or -1 when there are none. */
  async maxId (): Promise<number> {
    const r = await this.db.selectFrom('messages').select((eb) => eb.fn.max('id').as('max')).executeTakeFirst()
    return r?.max === null || r?.max === undefined ? -1 : Number(r.max)
  }

  /** Participants of direct conversations, in one query for a whole page. */
  private async participants (db: Db, groupIds: number[]): Promise<Map<number, DisplayRecipient[]>> {
    const map = new Map<number, DisplayRecipient[]>()
    if (groupIds.length === 0) return map
    const rows = await db.selectFrom('dm_group_members').innerJoin('users', 'users.id', 'dm_group_members.user_id')
      .select(['dm_group_members.group_id', 'users.id', 'users.email', 'users.full_name'])
      .where('dm_group_members.group_id', 'in', [...new Set(groupIds)]).orderBy('users.id').execute()
    for (const r of rows) {
      const list = map.get(r.group_id) ?? []
      list.push({ id: r.id, email: r.email, full_name: r.full_name })
      map.set(r.group_id, list)
    }
    return map
  }

  private async toMessages (db: Db, rows: Row[]): Promise<FlaggedMessage[]> {
    const groups = await this.participants(db, rows.flatMap((r) => r.dm_group_id === null ? [] : [r.dm_group_id]))
    return rows.map((r) => {
      const m: FlaggedMessage = {
        id: r.id,
        sender_id: r.sender_id,
        sender_email: r.sender_email,
        sender_full_name: r.sender_full_name,
        type: r.type,
        ...(r.stream_id === null ? {} : { stream_id: r.stream_id }),
        display_recipient: r.type === 'stream' ? r.stream_name ?? '' : groups.get(r.dm_group_id ?? -1) ?? [],
        topic: r.topic,
        content: r.content,
        content_markdown: r.content_markdown,
        timestamp: r.timestamp,
        last_edit_timestamp: r.last_edit_timestamp,
        client: r.client,
        // SQLite answers EXISTS as 0/1.
        flags: r.unread === 1 || r.unread === true ? [] : ['read']
      }
      return m
    })
  }

  /** One message the user may read; anything else is 404 (no existence leak). */
  async getVisible (user: User, id: number, db: Db = this.db): Promise<FlaggedMessage> {
    const row = await selectMessages(db).select(unreadFlag(user.user_id, 'messages.id')).where('messages.id', '=', id).where(readableBy(user.user_id)).executeTakeFirst()
    if (row === undefined) throw errors.notFound('error.invalid_messages')
    const [m] = await this.toMessages(db, [row])
    return m as FlaggedMessage
  }

  /** Who receives a message's events: the stream's subscribers plus the sender, or the conversation. */
  private async audienceOf (m: Message, db: Db): Promise<Audience> {
    if (m.type === 'direct') return { kind: 'users', userIds: (m.display_recipient as DisplayRecipient[]).map((u) => u.id) }
    const ids = await this.streams.subscriberIds(m.stream_id as number, db)
    if (!ids.includes(m.sender_id)) ids.push(m.sender_id)
    return { kind: 'users', userIds: ids }
  }

  /** Resolves direct-message recipients (ids or emails) to active users; 400 naming `to` otherwise. */
  private async recipients (db: Db, to: Outgoing['to']): Promise<DisplayRecipient[]> {
    const list = Array.isArray(to) ? to : typeof to === 'number' ? [to] : to.split(',').map((s) => s.trim()).filter((s) => s !== '')
    if (list.length === 0) throw errors.invalid('to', 'error.why.no_recipients')
    const found: DisplayRecipient[] = []
    for (const who of list) {
      const q = db.selectFrom('users').select(['id', 'email', 'full_name']).where('is_active', '=', 1)
      const row = typeof who === 'number' ? await q.where('id', '=', who).executeTakeFirst() : await q.where('email_key', '=', emailKey(who)).executeTakeFirst()
      if (row === undefined) throw errors.invalid('to', 'error.why.no_such_user', { id: String(who) })
      found.push(row)
    }
    return found
  }

  /** do_send_message: not idempotent (a repeat is a second message); the event goes to who may see it. */
  async doSendMessage (sender: User, input: Outgoing): Promise<Message> {
    const content = checkContent(input.content)
    const html = renderMarkdown(content)
    const t = now()
    const { message, audience, outboxId } = await this.db.transaction().execute(async (trx) => {
      const base = { sender_id: sender.user_id, content: html, content_markdown: content, timestamp: t, last_edit_timestamp: null, client: input.client }
      const from = { sender_id: sender.user_id, sender_email: sender.email, sender_full_name: sender.full_name }
      if (input.type === 'stream') {
        if (input.topic === undefined) throw errors.missing('topic')
        const topic = checkTopic(input.topic)
        let to = input.to
        if (Array.isArray(to)) {
          if (to.length !== 1) throw errors.invalid('to', 'error.why.one_stream')
          to = to[0] as number | string
        }
        const stream = await this.streams.findVisible(sender, to, trx)
        const row = await this.insert(trx, {
          ...base, type: 'stream', stream_id: stream.id, dm_group_id: null, topic, topic_key: topicKey(topic), search_text: searchText(topic, content)
        })
        const message: Message = { id: row.id, ...from, type: 'stream', stream_id: stream.id, display_recipient: stream.name, topic, content: html, content_markdown: content, timestamp: t, last_edit_timestamp: null, client: input.client }
        const audience = await this.audienceOf(message, trx)
        // Unread for every subscriber at send time but the sender (Zulip's UserMessage rows).
        await this.unread.addRecipients(trx, row.id, { stream_id: stream.id, dm_group_id: 0 }, audience.kind === 'users' ? audience.userIds.filter((id) => id !== sender.user_id) : [])
        return { message, audience, outboxId: await this.bus.outbox?.add(trx, { type: 'message', message }, audience) }
      }
      const others = await this.recipients(trx, input.to)
      const people = new Map<number, DisplayRecipient>([[sender.user_id, { id: sender.user_id, email: sender.email, full_name: sender.full_name }]])
      for (const u of others) people.set(u.id, u)
      const participants = [...people.values()].sort((a, b) => a.id - b.id)
      const groupId = await this.dmGroup(trx, participants.map((u) => u.id))
      const row = await this.insert(trx, {
        ...base, type: 'direct', stream_id: null, dm_group_id: groupId, topic: '', topic_key: '', search_text: searchText('', content)
      })
      const message: Message = { id: row.id, ...from, type: 'direct', display_recipient: participants, topic: '', content: html, content_markdown: content, timestamp: t, last_edit_timestamp: null, client: input.client }
      await this.unread.addRecipients(trx, row.id, { stream_id: 0, dm_group_id: groupId }, participants.flatMap((u) => u.id === sender.user_id ? [] : [u.id]))
      const audience: Audience = { kind: 'users', userIds: participants.map((u) => u.id) }
      return { message, audience, outboxId: await this.bus.outbox?.add(trx, { type: 'message', message }, audience) }
    })
    this.bus.publish({ type: 'message', message }, audience, outboxId)
    return message
  }

  private async insert (trx: Db, values: NewMessage): Promise<{ id: number }> {
    const row = await this.insertMessage.executeTakeFirst(trx, values)
    if (row === undefined) throw new Error('insert into messages returned no row')
    return row
  }

  /** The conversation of exactly these participants, created on its first message. */
  private async dmGroup (trx: Db, ids: number[]): Promise<number> {
    const key = memberKey(ids)
    const existing = await trx.selectFrom('dm_groups').select('id').where('member_key', '=', key).executeTakeFirst()
    if (existing !== undefined) return existing.id
    // Two first messages at once (PostgreSQL, two connections): the second insert waits for the
    // first's commit and inserts nothing; the conversation is then the first one's.
    const group = await trx.insertInto('dm_groups').values({ member_key: key }).onConflict((oc) => oc.column('member_key').doNothing())
      .returning('id').executeTakeFirst()
    if (group === undefined) return (await trx.selectFrom('dm_groups').select('id').where('member_key', '=', key).executeTakeFirstOrThrow()).id
    await trx.insertInto('dm_group_members').values(ids.map((id) => ({ group_id: group.id, user_id: id }))).execute()
    return group.id
  }

  /**
   * One page around an anchor, Zulip's semantics: up to numBefore messages older than the
   * anchor, the anchor itself when it matches, up to numAfter newer. One extra row on each
   * side tells whether the page reaches the oldest/newest matching message.
   */
  async fetchPage (user: User, requested: Anchor | 'first_unread', numBefore: number, numAfter: number, narrow: NarrowTerm[]): Promise<Page> {
    const filters: NarrowFilter[] = await resolveNarrow(this.db, this.streams, user, narrow)
    // first_unread: the oldest unread message of the narrow, else as newest (Zulip's semantics).
    const anchor = requested === 'first_unread' ? await this.firstUnreadId(user, filters) ?? 'newest' : requested
    const query = this.pages.get(pageShape(anchor, filters), () => preparePage(anchor, filters))
    const rows = await query.execute(this.db, pageValues(user.user_id, anchor, numBefore, numAfter, filters))
    const anchorId = typeof anchor === 'number' ? anchor : null
    const older = rows.filter((r) => anchorId === null ? anchor === 'newest' : r.id < anchorId).sort((a, b) => a.id - b.id)
    const exact = rows.filter((r) => r.id === anchorId)
    const newer = rows.filter((r) => anchorId === null ? anchor === 'oldest' : r.id > anchorId).sort((a, b) => a.id - b.id)
    const keptOlder = older.slice(Math.max(0, older.length - numBefore))
    const keptNewer = newer.slice(0, numAfter)
    return {
      messages: await this.toMessages(this.db, [...keptOlder, ...exact, ...keptNewer]),
      found_anchor: exact.length === 1,
      found_newest: anchor === 'newest' || newer.length <= numAfter,
      found_oldest: anchor === 'oldest' || older.length <= numBefore
    }
  }

  private async firstUnreadId (user: User, filters: NarrowFilter[]): Promise<number | undefined> {
    const query = this.firstUnread.get(pageShape('newest', filters), () => prepareFirstUnread(filters))
    return (await query.executeTakeFirst(this.db, firstUnreadValues(user.user_id, filters)))?.id
  }

  /**
   * do_update_message_flags for `read`: `add` marks read, `remove` unread again. Ids the user
   * cannot read are ignored (as unknown ones: nothing leaks); the answer and the event list
   * only the ids whose flag changed, and nothing is published when none did.
   */
  async doUpdateMessageFlags (user: User, op: 'add' | 'remove', flag: Flag, ids: number[]): Promise<number[]> {
    const unique = [...new Set(ids)]
    const changed = op === 'add' ? await this.unread.markRead(user.user_id, unique) : await this.unread.markUnread(user.user_id, unique)
    if (changed.length > 0) {
      this.bus.publish({ type: 'update_message_flags', op, flag, messages: changed, all: false }, { kind: 'users', userIds: [user.user_id] })
    }
    return changed
  }

  /** `unread_msgs` of POST /register. */
  async unreadState (user: User): Promise<UnreadMsgs> {
    return await this.unread.state(user.user_id)
  }

  /**
   * do_update_message (sender, or admin): new content and/or topic (stream messages only).
   * Idempotent: the same edit twice succeeds twice, each time stamping the edit.
   */
  async doUpdateMessage (actor: User, id: number, changes: { content?: string | undefined, topic?: string | undefined }): Promise<Message> {
    if (changes.content === undefined && changes.topic === undefined) throw errors.badRequest('error.nothing_to_change')
    const content = changes.content === undefined ? undefined : checkContent(changes.content)
    const topic = changes.topic === undefined ? undefined : checkTopic(changes.topic)
    const html = content === undefined ? undefined : renderMarkdown(content)
    const t = now()
    const { message, event, audience, outboxId } = await this.db.transaction().execute(async (trx) => {
      const m = await this.getVisible(actor, id, trx)
      if (m.sender_id !== actor.user_id && !isAdmin(actor)) throw errors.forbidden('error.cannot_edit_message')
      if (topic !== undefined && m.type !== 'stream') throw errors.invalid('topic', 'error.why.dm_no_topic')
      const newTopic = topic ?? m.topic
      const newMarkdown = content ?? m.content_markdown
      await trx.updateTable('messages').set({
        content: html ?? m.content,
        content_markdown: newMarkdown,
        topic: newTopic,
        topic_key: m.type === 'stream' ? topicKey(newTopic) : '',
        search_text: searchText(newTopic, newMarkdown),
        last_edit_timestamp: t
      }).where('id', '=', id).execute()
      const message: Message = { ...m, topic: newTopic, content: html ?? m.content, content_markdown: newMarkdown, last_edit_timestamp: t }
      const event: BusEvent = { type: 'update_message', message_id: id, edit_timestamp: t, user_id: actor.user_id }
      if (content !== undefined) { event.content = content; event.rendered_content = html }
      if (topic !== undefined) event.topic = topic
      const audience = await this.audienceOf(message, trx)
      return { message, event, audience, outboxId: await this.bus.outbox?.add(trx, event, audience) }
    })
    this.bus.publish(event, audience, outboxId)
    return message
  }

  /** do_delete_message (sender, or admin): the message is gone, so a second DELETE is 404. */
  async doDeleteMessage (actor: User, id: number): Promise<void> {
    const { event, audience, outboxId } = await this.db.transaction().execute(async (trx) => {
      const message = await this.getVisible(actor, id, trx)
      if (message.sender_id !== actor.user_id && !isAdmin(actor)) throw errors.forbidden('error.cannot_delete_message')
      const audience = await this.audienceOf(message, trx)
      // Its unread rows first: on PostgreSQL no foreign key cascades them (migrations/007).
      await trx.deleteFrom('unread').where('message_id', '=', id).execute()
      await trx.deleteFrom('messages').where('id', '=', id).execute()
      const event: BusEvent = { type: 'delete_message', message_id: id, message_type: message.type }
      if (message.type === 'stream') { event.stream_id = message.stream_id; event.topic = message.topic }
      return { event, audience, outboxId: await this.bus.outbox?.add(trx, event, audience) }
    })
    this.bus.publish(event, audience, outboxId)
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    messages: MessageStore
  }
}

export default fp(async function messagesPlugin (app: FastifyInstance) {
  app.decorate('messages', new MessageStore(app.db, app.bus, app.streams))
  // Right after start, off the path of readiness and of the first request.
  app.addHook('onReady', async () => { setImmediate(warmMarkdown).unref() })
}, { name: 'messages', dependencies: ['db', 'bus', 'users', 'streams'] })
