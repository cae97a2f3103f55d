// Unread state per user (SPEC §7, docs/events.md "Unread messages"): the rows written when a
// message is sent, the `read` flag's changes, and the counts POST /register reports.
import { sql, type ExpressionBuilder, type Transaction } from 'kysely'
import type { Database, DB } from '../db/db.js'
import { Prepared, type Placeholders } from '../db/compiled.js'
import { readableBy } from './message-query.js'
import { isSqlite } from './narrow.js'
import { streamVisibleTo } from './streams.js'

/** One unread message of one recipient; deleted when they flag it read (migrations/003_unread.ts). */
export interface UnreadTable {
  message_id: number
  user_id: number
}

/**
 * Per user and conversation (a stream: stream_id, dm_group_id 0; a direct one: the reverse), a
 * message id below which nothing there is unread for the user: where to start looking.
 */
export interface UnreadFloorTable {
  user_id: number
  stream_id: number
  dm_group_id: number
  floor: number
}

// The tables' types live with their store; kysely reads the schema from this interface.
declare module '../db/db.js' {
  interface Database {
    unread: UnreadTable
    unread_floors: UnreadFloorTable
  }
}

type Db = DB | Transaction<Database>

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

/** A conversation as unread_floors keys it. */
interface Conversation { stream_id: number, dm_group_id: number }

/** The user's floor row of a conversation. */
function floorOf (userId: number, c: Conversation) {
  return (eb: ExpressionBuilder<Database, 'unread_floors'>) => eb.and([
    eb('unread_floors.user_id', '=', userId), eb('unread_floors.stream_id', '=', c.stream_id), eb('unread_floors.dm_group_id', '=', c.dm_group_id)
  ])
}

/** A conversation's messages from a floor on, unread for the user: oldest first. */
function unreadIn (db: Db, userId: number, c: Conversation, floor: number) {
  return db.selectFrom('messages').select('messages.id')
    .where(c.stream_id !== 0 ? 'messages.stream_id' : 'messages.dm_group_id', '=', c.stream_id !== 0 ? c.stream_id : c.dm_group_id)
    .where('messages.id', '>=', floor)
    .where((eb) => eb.exists(eb.selectFrom('unread').select('unread.message_id')
      .whereRef('unread.message_id', '=', 'messages.id').where('unread.user_id', '=', userId)))
    .orderBy('messages.id')
}

export class UnreadStore {
  // Every register reads these: compiled once (building and compiling cost more than running them).
  /** The user's unread messages in the streams they may see, newest first, with each one's floor. */
  private readonly unreadInStreams = new Prepared(['user'], (db: DB, p: Placeholders<{ user: number }>) => db.selectFrom('unread_floors')
    .innerJoin('streams', 'streams.id', 'unread_floors.stream_id')
    .innerJoin('messages', (j) => j.onRef('messages.stream_id', '=', 'unread_floors.stream_id').onRef('messages.id', '>=', 'unread_floors.floor'))
    .innerJoin('unread', (j) => j.onRef('unread.message_id', '=', 'messages.id').onRef('unread.user_id', '=', 'unread_floors.user_id'))
    .select(['messages.id', 'messages.stream_id', 'messages.topic', 'messages.topic_key', 'unread_floors.floor'])
    .where('unread_floors.user_id', '=', p.user).where('unread_floors.dm_group_id', '=', 0)
    .where(streamVisibleTo(p.user))
    .orderBy('messages.id', 'desc').limit(MAX_UNREAD + 1))

  /** The user's unread direct messages, newest first, with each one's floor and conversation. */
  private readonly unreadInDirect = new Prepared(['user'], (db: DB, p: Placeholders<{ user: number }>) => db.selectFrom('unread_floors')
    .innerJoin('dm_groups', 'dm_groups.id', 'unread_floors.dm_group_id')
    .innerJoin('messages', (j) => j.onRef('messages.dm_group_id', '=', 'unread_floors.dm_group_id').onRef('messages.id', '>=', 'unread_floors.floor'))
    .innerJoin('unread', (j) => j.onRef('unread.message_id', '=', 'messages.id').onRef('unread.user_id', '=', 'unread_floors.user_id'))
    .select(['messages.id', 'messages.dm_group_id', 'dm_groups.member_key', 'unread_floors.floor'])
    .where('unread_floors.user_id', '=', p.user).where('unread_floors.stream_id', '=', 0)
    .orderBy('messages.id', 'desc').limit(MAX_UNREAD + 1))

  private readonly floorsOf = new Prepared(['user'], (db: DB, p: Placeholders<{ user: number }>) =>
    db.selectFrom('unread_floors').select(['stream_id', 'dm_group_id', 'floor']).where('user_id', '=', p.user))

  constructor (private readonly db: DB) {}

  /**
   * Inside the send transaction: the message is unread for each of these users (the sender is
   * never among them). One statement per table whatever the count, the ids as one array: a
   * 5,000-user stream took 40 multi-row statements on PostgreSQL, each parsed and planned, and on
   * SQLite 99 recipients took 8, their parameters set one by one (docs/performance.md).
   */
  async addRecipients (trx: Db, messageId: number, c: Conversation, userIds: number[]): Promise<void> {
    if (userIds.length === 0) return
    if (!isSqlite(trx)) {
      await sql`insert into unread (message_id, user_id) select ${messageId}, u from unnest(${userIds}::bigint[]) as u`.execute(trx)
      await sql`insert into unread_floors (user_id, stream_id, dm_group_id, floor)
        select u, ${c.stream_id}, ${c.dm_group_id}, ${messageId} from unnest(${userIds}::bigint[]) as u on conflict do nothing`.execute(trx)
      return
    }
    const users = JSON.stringify(userIds)
    await sql`insert into unread (message_id, user_id) select ${messageId}, value from json_each(${users})`.execute(trx)
    // A floor already there is lower than this message: kept (a probe of a small table, no write).
    // The WHERE ends the select: SQLite would read `on conflict` after a FROM as a join's ON.
    await sql`insert into unread_floors (user_id, stream_id, dm_group_id, floor)
      select value, ${c.stream_id}, ${c.dm_group_id}, ${messageId} from json_each(${users}) where true on conflict do nothing`.execute(trx)
  }

  /** Of these ids, the messages the user may read (subquery). */
  private readable (db: Db, userId: number, ids: number[]) {
    return db.selectFrom('messages').leftJoin('streams', 'streams.id', 'messages.stream_id')
      .select('messages.id').where('messages.id', 'in', ids).where(readableBy(userId))
  }

  /** The conversations of these messages. */
  private async conversations (db: Db, ids: number[]): Promise<Array<Conversation & { first: number }>> {
    if (ids.length === 0) return []
    const rows = await db.selectFrom('messages')
      .select((eb) => [
        eb.fn.coalesce('messages.stream_id', sql.lit(0)).as('stream_id'),
        eb.fn.coalesce('messages.dm_group_id', sql.lit(0)).as('dm_group_id'),
        eb.fn.min('messages.id').as('first')
      ])
      .where('messages.id', 'in', ids).groupBy(['messages.stream_id', 'messages.dm_group_id']).execute()
    return rows.map((r) => ({ stream_id: Number(r.stream_id), dm_group_id: Number(r.dm_group_id), first: Number(r.first) }))
  }

  /** Raises the user's floor of each conversation to its oldest unread message, or drops it when none is left. */
  private async raiseFloors (trx: Db, userId: number, convs: Conversation[]): Promise<void> {
    for (const c of convs) {
      const row = await trx.selectFrom('unread_floors').select('floor').where(floorOf(userId, c)).executeTakeFirst()
      if (row === undefined) continue
      const first = await unreadIn(trx, userId, c, row.floor).limit(1).executeTakeFirst()
      if (first === undefined) await trx.deleteFrom('unread_floors').where(floorOf(userId, c)).execute()
      else if (first.id !== row.floor) await trx.updateTable('unread_floors').set({ floor: first.id }).where(floorOf(userId, c)).execute()
    }
  }

  /** Flags these messages read; answers the ids that were unread, ascending. */
  async markRead (userId: number, ids: number[]): Promise<number[]> {
    if (ids.length === 0) return []
    return await this.db.transaction().execute(async (trx) => {
      const rows = await trx.deleteFrom('unread').where('unread.user_id', '=', userId)
        .where('unread.message_id', 'in', this.readable(trx, userId, ids)).returning('unread.message_id').execute()
      const changed = rows.map((r) => r.message_id).sort((a, b) => a - b)
      await this.raiseFloors(trx, userId, await this.conversations(trx, changed))
      return changed
    })
  }

  /**
   * Flags these messages unread again; answers the ids that were read, ascending. Only messages
   * the user received and still receives: direct messages they take part in, and messages of
   * streams they are subscribed to (an unsubscription would otherwise leave rows behind).
   */
  async markUnread (userId: number, ids: number[]): Promise<number[]> {
    if (ids.length === 0) return []
    return await this.db.transaction().execute(async (trx) => {
      const rows = await trx.insertInto('unread').columns(['message_id', 'user_id'])
        .expression((eb) => this.readable(trx, userId, ids)
          .clearSelect()
          .select(['messages.id as message_id', eb.val(userId).as('user_id')])
          .where((eb) => eb.or([
            eb('messages.type', '=', 'direct'),
            eb('messages.stream_id', 'in', eb.selectFrom('subscriptions').select('subscriptions.stream_id').where('subscriptions.user_id', '=', userId))
          ])))
        .onConflict((oc) => oc.doNothing())
        .returning('message_id').execute()
      const changed = rows.map((r) => r.message_id).sort((a, b) => a - b)
      for (const c of await this.conversations(trx, changed)) {
        await trx.insertInto('unread_floors').values({ user_id: userId, stream_id: c.stream_id, dm_group_id: c.dm_group_id, floor: c.first })
          .onConflict((oc) => oc.columns(['user_id', 'stream_id', 'dm_group_id'])
            // The lower of the two (a CASE rather than SQLite's two-argument min, which PostgreSQL spells least).
            .doUpdateSet((eb) => ({
              floor: eb.case().when(eb.ref('excluded.floor'), '<', eb.ref('unread_floors.floor')).then(eb.ref('excluded.floor')).else(eb.ref('unread_floors.floor')).end()
            })))
          .execute()
      }
      return changed
    })
  }

  /**
   * `unread_msgs` of /register, Zulip's shape: by stream and topic (topics grouped as the
   * `topic` narrow matches them, without regard to case; the oldest unread message names
   * the group), by 1:1 conversation (`other_user_id`; oneself for notes to self), by group
   * conversation (`user_ids_string`, every participant, sorted). Only streams the user may
   * still see. Lists are in the order of their oldest unread message; ids ascend. Floors
   * found too low on the way are raised afterwards.
   */
  async state (userId: number): Promise<UnreadMsgs> {
    // Read outside a transaction (every register asks); a floor seen too low is looked at again in one.
    const inStreams = await this.unreadInStreams.execute(this.db, { user: userId })
    const inDirect = await this.unreadInDirect.execute(this.db, { user: userId })
    await this.raiseStaleFloors(this.db, userId, inStreams, inDirect)

    type Found = { id: number, stream: typeof inStreams[number] | null, direct: typeof inDirect[number] | null }
    const all: Found[] = [
      ...inStreams.map((r) => ({ id: r.id, stream: r, direct: null })),
      ...inDirect.map((r) => ({ id: r.id, stream: null, direct: r }))
    ].sort((a, b) => b.id - a.id)
    const missing = all.length > MAX_UNREAD
    const kept = all.slice(0, MAX_UNREAD).reverse()

    const streams = new Map<string, UnreadMsgs['streams'][number]>()
    const pms = new Map<number, UnreadMsgs['pms'][number]>()
    const huddles = new Map<string, UnreadMsgs['huddles'][number]>()
    for (const { id, stream: s, direct: d } of kept) {
      if (s !== null) {
        const key = `${s.stream_id ?? 0}\n${s.topic_key}`
        let e = streams.get(key)
        if (e === undefined) { e = { stream_id: s.stream_id ?? 0, topic: s.topic, unread_message_ids: [] }; streams.set(key, e) }
        e.unread_message_ids.push(id)
        continue
      }
      const members = (d?.member_key ?? '').split(',').map(Number)
      if (members.length > 2) {
        const key = d?.member_key as string
        let h = huddles.get(key)
        if (h === undefined) { h = { user_ids_string: key, unread_message_ids: [] }; huddles.set(key, h) }
        h.unread_message_ids.push(id)
        continue
      }
      const other = members.find((m) => m !== userId) ?? userId
      let p = pms.get(other)
      if (p === undefined) { p = { other_user_id: other, unread_message_ids: [] }; pms.set(other, p) }
      p.unread_message_ids.push(id)
    }
    return {
      count: kept.length,
      streams: [...streams.values()],
      pms: [...pms.values()],
      huddles: [...huddles.values()],
      mentions: [],
      old_unreads_missing: missing
    }
  }

  /**
   * Floors below their conversation's oldest unread message (older ones were deleted), or of
   * conversations with none left, would make every later read scan further: raised or dropped
   * where the reading found them (raiseFloors reads them again in a transaction, so a send
   * between the reading and this loses nothing). A capped read (over MAX_UNREAD) changes nothing.
   */
  private async raiseStaleFloors (db: Db, userId: number, inStreams: Array<{ id: number, stream_id: number | null, floor: number }>,
    inDirect: Array<{ id: number, dm_group_id: number | null, floor: number }>): Promise<void> {
    if (inStreams.length > MAX_UNREAD || inDirect.length > MAX_UNREAD) return
    // Rows come newest first, so the last one set per conversation is its oldest.
    const oldest = new Map<string, number>()
    for (const r of inStreams) oldest.set(`${r.stream_id ?? 0},0`, r.id)
    for (const r of inDirect) oldest.set(`0,${r.dm_group_id ?? 0}`, r.id)
    const floors = await this.floorsOf.execute(db, { user: userId })
    const stale = floors.filter((f) => oldest.get(`${f.stream_id},${f.dm_group_id}`) !== f.floor)
    // A stream the user no longer sees (archived) was not read: its floor stays.
    const unseen = stale.flatMap((f) => f.stream_id !== 0 && !oldest.has(`${f.stream_id},0`) ? [f.stream_id] : [])
    const visible = new Set(unseen.length === 0
      ? []
      : (await db.selectFrom('streams').select('streams.id').where('streams.id', 'in', unseen).where(streamVisibleTo(userId)).execute()).map((r) => r.id))
    const raise = stale.filter((f) => !unseen.includes(f.stream_id) || visible.has(f.stream_id))
    if (raise.length > 0) await this.db.transaction().execute(async (trx) => { await this.raiseFloors(trx, userId, raise) })
  }
}
