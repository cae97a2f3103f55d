// The one select every message read goes through, the rule of who may read a message, and the page query.
import { sql, type ExpressionBuilder, type SelectQueryBuilder, type SqlBool, type Transaction } from 'kysely'
import type { Database, DB } from '../db/db.js'
import { Prepared } from '../db/compiled.js'
import { isSqlite, narrowBind, narrowShape, narrowWhere, type NarrowFilter } from './narrow.js'
import { streamVisibleTo } from './streams.js'

type Db = DB | Transaction<Database>

/** The columns of a message with its sender and stream, as one select over messages ⋈ users ⟕ streams. */
export function selectMessages (db: Db) {
  return db.selectFrom('messages')
    .innerJoin('users', 'users.id', 'messages.sender_id')
    .leftJoin('streams', 'streams.id', 'messages.stream_id')
    .select([
      'messages.id', 'messages.sender_id', 'messages.type', 'messages.stream_id', 'messages.dm_group_id',
      'messages.topic', 'messages.content', 'messages.content_markdown', 'messages.timestamp',
      'messages.last_edit_timestamp', 'messages.client',
      'users.email as sender_email', 'users.full_name as sender_full_name', 'streams.name as stream_name'
    ])
}

type Columns = Awaited<ReturnType<ReturnType<typeof selectMessages>['executeTakeFirstOrThrow']>>

/** A message's columns and whether it is unread for the reader (SQLite answers EXISTS as 0/1). */
export type Row = Columns & { unread: SqlBool }

/** The `unread` column: whether the message `id` names is unread for `reader`, one key look-up of unread. */
export function unreadFlag (reader: number, id: 'messages.id' | 'm.id') {
  return (eb: ExpressionBuilder<any, any>) => eb.exists(eb.selectFrom('unread').select('unread.message_id')
    .where('unread.user_id', '=', reader).whereRef('unread.message_id', '=', id)).as('unread')
}

/**
 * `rows` (selectMessages, filtered and limited) with their `unread` flag, looked up on those rows
 * only. PostgreSQL needs this for a page: with the flag in the page's own select it plans the
 * look-up for the rows before the LIMIT, as a hash of all the reader's unread rows
 * (docs/performance.md). SQLite computes a select list only for the rows it returns, so its
 * pages keep the flag in their own select: as a subquery here it would cost it ~10 %.
 */
function withUnread (db: Db, rows: SelectQueryBuilder<any, any, Columns>, reader: number) {
  return db.selectFrom(rows.as('m')).selectAll('m').select(unreadFlag(reader, 'm.id'))
}

/** Messages a user may read: in a visible stream, or in a direct conversation that includes them. */
export function readableBy (userId: number) {
  return (eb: ExpressionBuilder<Database, 'messages' | 'streams'>) => eb.or([
    // The stream rule is the streams store's own, so stream lists and message reads never disagree
    // (kysely cannot type a builder over more tables as one over fewer, hence the cast).
    streamVisibleTo(userId)(eb as unknown as ExpressionBuilder<Database, 'streams'>),
    eb('messages.dm_group_id', 'in', eb.selectFrom('dm_group_members').select('dm_group_members.group_id').where('dm_group_members.user_id', '=', userId))
  ])
}

/** A page's anchor; `first_unread` is resolved to one of these before a page is read. */
export type Anchor = number | 'newest' | 'oldest'

/** A page's values: the reader, the anchor id (numeric anchors), each side's row limit, the narrow's values as v0, v1, … */
export type PageValues = Record<string, unknown>

/** The anchor's kind decides the SQL (and which sides are read); its id is a value. */
function anchorKind (anchor: Anchor): 'id' | 'newest' | 'oldest' { return typeof anchor === 'number' ? 'id' : anchor }

/** What decides a page query's SQL: the anchor's kind and the narrow's shape. */
export function pageShape (anchor: Anchor, filters: NarrowFilter[]): string {
  return `${anchorKind(anchor)}:${narrowShape(filters)}`
}

/**
 * The search an SQLite page reads through FTS5 (the first term not negated and with words), and
 * the other terms. Joined to messages and read in rowid order, FTS5 hands over matches newest
 * (or oldest) first and the LIMIT stops it early; as `id IN (select rowid …)` SQLite would first
 * collect every match, all of them for a word in most messages (docs/decisions.md 48).
 */
function ftsDriven (filters: NarrowFilter[]): { query: string, rest: NarrowFilter[] } | undefined {
  const i = filters.findIndex((f) => f.op === 'search' && !f.negated && f.query !== null)
  const f = filters[i]
  if (f === undefined || f.op !== 'search' || f.query === null) return undefined
  return { query: f.query, rest: filters.filter((_, j) => j !== i) }
}

/**
 * `qb` narrowed by `filters`, and the id it is ordered and bounded by: `messages.id`, or on
 * SQLite `messages_fts.rowid` when a search drives (ftsDriven): only then does FTS5 read in that order.
 */
function narrowed<TB extends keyof Database, O> (qb: SelectQueryBuilder<Database, TB, O>, filters: NarrowFilter[], sqlite: boolean) {
  const fts = sqlite ? ftsDriven(filters) : undefined
  const where = (f: NarrowFilter[]) => (eb: ExpressionBuilder<Database, TB>) => narrowWhere(f, sqlite)(eb as unknown as ExpressionBuilder<Database, 'messages'>)
  if (fts === undefined) return { base: qb.where(where(filters)), id: sql.ref<number>('messages.id') }
  const joined = (qb as unknown as SelectQueryBuilder<Database, 'messages', O>)
    .innerJoin(sql<{ rowid: number }>`messages_fts`.as('messages_fts'), 'messages_fts.rowid', 'messages.id')
    .where(sql<SqlBool>`messages_fts match ${fts.query}`) as unknown as SelectQueryBuilder<Database, TB, O>
  return { base: joined.where(where(fts.rest)), id: sql.ref<number>('messages_fts.rowid') }
}

/**
 * Up to `before` rows older than the anchor (newest first) and up to `after` from the anchor on,
 * one query. Each side is read even when its count is 0: its one extra row answers found_oldest/found_newest.
 * Each row's unread flag is looked up on the page's rows only.
 */
function pageQuery (db: Db, kind: 'id' | 'newest' | 'oldest', p: PageValues, filters: NarrowFilter[]) {
  const sqlite = isSqlite(db)
  const user = p.user as number
  // The unread flag: in the page's select on SQLite, read after the LIMIT on PostgreSQL (withUnread).
  const readable = selectMessages(db).$if(sqlite, (qb) => qb.select(unreadFlag(user, 'messages.id'))).where(readableBy(user))
  const { base, id } = narrowed(readable, filters, sqlite)
  const wantBefore = kind !== 'oldest'
  const wantAfter = kind !== 'newest'
  const before = kind === 'id' ? base.where(id, '<', p.anchor as number) : base
  const after = kind === 'id' ? base.where(id, '>=', p.anchor as number) : base
  const beforeQ = before.orderBy(id, 'desc').limit(p.before as number)
  const afterQ = after.orderBy(id, 'asc').limit(p.after as number)
  const rows = wantBefore && wantAfter
    ? db.selectFrom(beforeQ.as('b')).selectAll().unionAll(db.selectFrom(afterQ.as('a')).selectAll())
    : wantBefore ? beforeQ : afterQ
  return sqlite ? rows.$narrowType<{ unread: SqlBool }>() : withUnread(db, rows, user)
}

/** The values of a page: one extra row on each side tells whether the page reaches the oldest/newest message. */
export function pageValues (userId: number, anchor: Anchor, numBefore: number, numAfter: number, filters: NarrowFilter[]): PageValues {
  const v: PageValues = { user: userId }
  if (typeof anchor === 'number') v.anchor = anchor
  if (anchor !== 'oldest') v.before = numBefore + 1
  if (anchor !== 'newest') v.after = numAfter + 2
  narrowBind(filters, (value, i) => { v[`v${i}`] = value })
  return v
}

/** The page query of this shape, built from this example with placeholders in place of its values. */
export function preparePage (anchor: Anchor, filters: NarrowFilter[]): Prepared<Database, PageValues, Row> {
  const names = Object.keys(pageValues(0, anchor, 0, 0, filters))
  const kind = anchorKind(anchor)
  return new Prepared(names, (db: DB, p: PageValues) => pageQuery(db, kind, p, narrowBind(filters, (_value, i) => p[`v${i}`])))
}

/** The page query built directly with these values: what a prepared page must equal (tests). */
export function pageQueryOf (db: Db, userId: number, anchor: Anchor, numBefore: number, numAfter: number, filters: NarrowFilter[]) {
  return pageQuery(db, anchorKind(anchor), pageValues(userId, anchor, numBefore, numAfter, filters), filters)
}

/**
 * The oldest unread message of the reader in the narrow (anchor `first_unread`): the narrow's
 * messages from the reader's lowest unread floor on (plugins/app/stores/unread.ts), oldest first, the
 * first with an unread row. Its values are a page's reader and narrow.
 */
function firstUnreadQuery (db: Db, p: PageValues, filters: NarrowFilter[]) {
  const user = p.user as number
  const from = db.selectFrom('messages')
    .leftJoin('streams', 'streams.id', 'messages.stream_id')
    .select('messages.id')
  // As for pages (pageQuery): FTS5 read in rowid order from the floor on, when a search drives.
  const { base, id } = narrowed(from, filters, isSqlite(db))
  return base
    .where(id, '>=', (eb) => eb.selectFrom('unread_floors').select((eb) => eb.fn.min('unread_floors.floor').as('floor'))
      .where('unread_floors.user_id', '=', user))
    .where((eb) => eb.exists(eb.selectFrom('unread').select('unread.message_id')
      .whereRef('unread.message_id', '=', 'messages.id').where('unread.user_id', '=', user)))
    .where(readableBy(user))
    .orderBy(id, 'asc').limit(1)
}

/** The first-unread query of this narrow's shape, with placeholders in place of its values. */
export function prepareFirstUnread (filters: NarrowFilter[]): Prepared<Database, PageValues, { id: number }> {
  const names = Object.keys(firstUnreadValues(0, filters))
  return new Prepared(names, (db: DB, p: PageValues) => firstUnreadQuery(db, p, narrowBind(filters, (_value, i) => p[`v${i}`])))
}

export function firstUnreadValues (userId: number, filters: NarrowFilter[]): PageValues {
  const v: PageValues = { user: userId }
  narrowBind(filters, (value, i) => { v[`v${i}`] = value })
  return v
}
