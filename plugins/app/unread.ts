// Unread state per user (SPEC §7, docs/events.md "Unread messages"): the rows written when a
// message is sent, the `read` flag's changes, and the counts POST /register reports.
import type { Transaction } from 'kysely'
import type { Database, DB } from './db.js'
import { Prepared, type Placeholders } from './compiled.js'
import { readableBy } from './message-query.js'
import { streamVisibleTo } from './streams.js'

/** One unread message of one recipient; deleted when they flag it read (migrations/003_unread.ts). */
export interface UnreadTable {
  user_id: number
  message_id: number
  /** The message's stream, null for a direct message: an unsubscription deletes the stream's rows. */
  stream_id: number | null
}

// The table's type lives with its store; kysely reads the schema from this interface.
declare module './db.js' {
  interface Database {
    unread: UnreadTable
  }
}

type Db = DB | Transaction<Database>

/** The largest multi-row insert: 3 values a row stays far below SQLite's and PostgreSQL's limits. */
const CHUNK = 256

/** Zulip's cap on the unread messages /register reports (the newest ones); older are `old_unreads_missing`. */
export const MAX_UNREAD = 50_000

export interface UnreadMsgs {
  count: number
  streams: Array<{ stream_id: number, topic: string, unread_message_ids: number[] }>
  pms: Array<{ other_user_id: number, unread_message_ids: number[] }>
  huddles: Array<{ user_ids_string: string, unread_message_ids: number[] }>
  mentions: number[]
  old_unreads_missing: boolean
}

type RowValues = Record<string, number | null>

export class UnreadStore {
  /**
   * Multi-row inserts of 1, 2, 4 … CHUNK rows, each compiled once: n recipients take one
   * statement per set bit of n (plus one per full chunk), at most 9 distinct statements in all.
   */
  private readonly inserts = new Map<number, Prepared<Database, RowValues, unknown>>()

  constructor (private readonly db: DB) {}

  private insertOf (size: number): Prepared<Database, RowValues, unknown> {
    let p = this.inserts.get(size)
    if (p === undefined) {
      const names = ['message', 'stream', ...Array.from({ length: size }, (_, i) => `u${i}`)]
      p = new Prepared(names, (db: DB, v: Placeholders<RowValues>) => db.insertInto('unread')
        .values(Array.from({ length: size }, (_, i) => ({ user_id: v[`u${i}`] as number, message_id: v.message as number, stream_id: v.stream })))
      )
      this.inserts.set(size, p)
    }
    return p
  }

  /** Inside the send transaction: the message is unread for each of these users (the sender is never among them). */
  async addRecipients (trx: Db, messageId: number, streamId: number | null, userIds: number[]): Promise<void> {
    let at = 0
    while (at < userIds.length) {
      const left = userIds.length - at
      // The largest power of two that fits, up to CHUNK.
      const size = left >= CHUNK ? CHUNK : 2 ** Math.floor(Math.log2(left))
      const values: RowValues = { message: messageId, stream: streamId }
      for (let i = 0; i < size; i++) values[`u${i}`] = userIds[at + i] as number
      await this.insertOf(size).execute(trx, values)
      at += size
    }
  }

  /** Of these ids, the messages the user may read (subquery). */
  private readable (userId: number, ids: number[]) {
    return this.db.selectFrom('messages').leftJoin('streams', 'streams.id', 'messages.stream_id')
      .select('messages.id').where('messages.id', 'in', ids).where(readableBy(userId))
  }

  /** Flags these messages read; answers the ids that were unread, ascending. */
  async markRead (userId: number, ids: number[]): Promise<number[]> {
    if (ids.length === 0) return []
    const rows = await this.db.deleteFrom('unread').where('unread.user_id', '=', userId)
      .where('unread.message_id', 'in', this.readable(userId, ids)).returning('unread.message_id').execute()
    return rows.map((r) => r.message_id).sort((a, b) => a - b)
  }

  /**
   * Flags these messages unread again; answers the ids that were read, ascending. Only messages
   * the user received and still receives: direct messages they take part in, and messages of
   * streams they are subscribed to (an unsubscription would otherwise leave rows behind).
   */
  async markUnread (userId: number, ids: number[]): Promise<number[]> {
    if (ids.length === 0) return []
    const rows = await this.db.insertInto('unread').columns(['user_id', 'message_id', 'stream_id'])
      .expression((eb) => this.readable(userId, ids)
        .clearSelect()
        .select([eb.val(userId).as('user_id'), 'messages.id as message_id', 'messages.stream_id'])
        .where((eb) => eb.or([
          eb('messages.type', '=', 'direct'),
          eb('messages.stream_id', 'in', eb.selectFrom('subscriptions').select('subscriptions.stream_id').where('subscriptions.user_id', '=', userId))
        ])))
      .onConflict((oc) => oc.doNothing())
      .returning('message_id').execute()
    return rows.map((r) => r.message_id).sort((a, b) => a - b)
  }

  /**
   * `unread_msgs` of /register, Zulip's shape: by stream and topic (topics grouped as the
   * `topic` narrow matches them, without regard to case; the oldest unread message names
   * the group), by 1:1 conversation (`other_user_id`; oneself for notes to self), by group
   * conversation (`user_ids_string`, every participant, sorted). Only streams the user may
   * still see. Lists are in the order of their oldest unread message; ids ascend.
   */
  async state (userId: number): Promise<UnreadMsgs> {
    const rows = await this.db.selectFrom('unread')
      .innerJoin('messages', 'messages.id', 'unread.message_id')
      .leftJoin('streams', 'streams.id', 'messages.stream_id')
      .leftJoin('dm_groups', 'dm_groups.id', 'messages.dm_group_id')
      .select(['unread.message_id', 'messages.stream_id', 'messages.topic', 'messages.topic_key', 'dm_groups.member_key'])
      .where('unread.user_id', '=', userId)
      .where((eb) => eb.or([
        eb('messages.type', '=', 'direct'),
        streamVisibleTo(userId)(eb as never)
      ]))
      .orderBy('unread.message_id', 'desc').limit(MAX_UNREAD + 1).execute()
    const missing = rows.length > MAX_UNREAD
    if (missing) rows.pop()
    rows.reverse()

    const streams = new Map<string, UnreadMsgs['streams'][number]>()
    const pms = new Map<number, UnreadMsgs['pms'][number]>()
    const huddles = new Map<string, UnreadMsgs['huddles'][number]>()
    for (const r of rows) {
      if (r.stream_id !== null) {
        const key = `${r.stream_id}\n${r.topic_key}`
        let s = streams.get(key)
        if (s === undefined) { s = { stream_id: r.stream_id, topic: r.topic, unread_message_ids: [] }; streams.set(key, s) }
        s.unread_message_ids.push(r.message_id)
        continue
      }
      const ids = (r.member_key ?? '').split(',').map(Number)
      if (ids.length > 2) {
        const key = r.member_key as string
        let h = huddles.get(key)
        if (h === undefined) { h = { user_ids_string: key, unread_message_ids: [] }; huddles.set(key, h) }
        h.unread_message_ids.push(r.message_id)
        continue
      }
      const other = ids.find((id) => id !== userId) ?? userId
      let p = pms.get(other)
      if (p === undefined) { p = { other_user_id: other, unread_message_ids: [] }; pms.set(other, p) }
      p.unread_message_ids.push(r.message_id)
    }
    return {
      count: rows.length,
      streams: [...streams.values()],
      pms: [...pms.values()],
      huddles: [...huddles.values()],
      mentions: [],
      old_unreads_missing: missing
    }
  }
}
