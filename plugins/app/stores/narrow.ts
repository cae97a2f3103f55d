// Narrows (SPEC §6): a list of {operator, operand} terms, resolved against the database
// into filters that become one SQL condition for GET /messages.
import { sql, SqliteAdapter, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely'
import type { Database, DB } from '../db/db.js'
import { errors, type ReasonKey, type Vars } from '../errors.js'
import type { StreamStore } from './streams.js'
import { emailKey, type User } from './users.js'
import { ftsQuery, searchWords, tsQuery } from './search.js'

export { searchText } from './search.js'

export type NarrowOperand = string | number | Array<string | number>
export type NarrowTerm = { operator: string, operand: NarrowOperand, negated?: boolean } | [string, NarrowOperand]

export type NarrowFilter = { negated: boolean } & (
  | { op: 'stream', streamId: number }
  | { op: 'topic', topicKey: string }
  | { op: 'sender', userId: number }
  /** memberKey: the sorted participant ids of the conversation; groupId null when it never existed. */
  | { op: 'dm', memberKey: string, groupId: number | null }
  /**
   * The database's full-text query for every word of the operand (plugins/app/stores/search.ts):
   * FTS5 syntax on SQLite, tsquery on PostgreSQL; null when no word has a letter or digit (matches nothing).
   */
  | { op: 'search', query: string | null }
)

/** Zulip's other names for the same operators, as its clients still send them. */
const ALIASES: Record<string, string> = { channel: 'stream', 'pm-with': 'dm', subject: 'topic' }

export function topicKey (topic: string): string { return topic.trim().toLowerCase() }

export function memberKey (ids: number[]): string { return [...new Set(ids)].sort((a, b) => a - b).join(',') }

function bad (why: ReasonKey, vars?: Vars): Error { return errors.invalid('narrow', why, vars) }

function asList (operand: NarrowOperand): Array<string | number> {
  if (Array.isArray(operand)) return operand
  if (typeof operand === 'number') return [operand]
  return operand.split(',').map((s) => s.trim()).filter((s) => s !== '')
}

async function userIdOf (db: DB, who: string | number): Promise<number> {
  const q = db.selectFrom('users').select('id')
  const row = typeof who === 'number' ? await q.where('id', '=', who).executeTakeFirst() : await q.where('email_key', '=', emailKey(who)).executeTakeFirst()
  if (row === undefined) throw bad('error.why.unknown_user', { who: String(who) })
  return row.id
}

/** Whether queries on `db` (the database or a transaction) are SQLite's; otherwise PostgreSQL's. */
export function isSqlite (db: Kysely<any>): boolean { return db.getExecutor().adapter instanceof SqliteAdapter }

/** The search filter of an operand for this database; undefined for a blank operand (no filter). */
export function searchFilter (operand: string, sqlite: boolean, negated = false): NarrowFilter | undefined {
  const words = searchWords(operand)
  if (words !== null && words.length === 0) return undefined
  return { op: 'search', query: words === null ? null : sqlite ? ftsQuery(words) : tsQuery(words), negated }
}

/** Resolves names and emails to ids; an operand naming nothing the caller may see is 400 (as Zulip's BAD_NARROW). */
export async function resolveNarrow (db: DB, streams: StreamStore, user: User, terms: NarrowTerm[]): Promise<NarrowFilter[]> {
  const filters: NarrowFilter[] = []
  for (const term of terms) {
    const [rawOperator, operand, negatedFlag] = Array.isArray(term) ? [term[0], term[1], false] : [term.operator, term.operand, term.negated === true]
    const operator = ALIASES[rawOperator] ?? rawOperator
    const negated = negatedFlag
    switch (operator) {
      case 'stream': {
        if (Array.isArray(operand)) throw bad('error.why.stream_operand')
        const row = await streams.findVisible(user, operand).catch(() => { throw bad('error.why.unknown_stream', { name: String(operand) }) })
        filters.push({ op: 'stream', streamId: row.id, negated })
        break
      }
      case 'topic':
        if (typeof operand !== 'string') throw bad('error.why.topic_operand')
        filters.push({ op: 'topic', topicKey: topicKey(operand), negated })
        break
      case 'sender':
        if (Array.isArray(operand)) throw bad('error.why.sender_operand')
        filters.push({ op: 'sender', userId: await userIdOf(db, operand), negated })
        break
      case 'dm': {
        const ids = [user.user_id]
        for (const who of asList(operand)) ids.push(await userIdOf(db, who))
        const key = memberKey(ids)
        const group = await db.selectFrom('dm_groups').select('id').where('member_key', '=', key).executeTakeFirst()
        filters.push({ op: 'dm', memberKey: key, groupId: group?.id ?? null, negated })
        break
      }
      case 'search': {
        if (typeof operand !== 'string') throw bad('error.why.search_operand')
        const filter = searchFilter(operand, isSqlite(db), negated)
        if (filter !== undefined) filters.push(filter)
        break
      }
      default:
        throw bad('error.why.unknown_operator', { operator: `'${rawOperator}'` })
    }
  }
  return filters
}

/**
 * The filters as one SQL condition on `messages`, for SQLite or PostgreSQL (search differs).
 * A search is a look-up in the full-text index (migrations/005_search.ts), never a scan of the text.
 */
export function narrowWhere (filters: NarrowFilter[], sqlite: boolean) {
  return (eb: ExpressionBuilder<Database, 'messages'>): Expression<SqlBool> => {
    const parts: Array<Expression<SqlBool>> = filters.map((f) => {
      let e: Expression<SqlBool>
      switch (f.op) {
        // Nullable columns are tested for null first: NOT (NULL = x) is NULL, which would drop rows from a negated term.
        case 'stream': e = eb.and([eb('messages.stream_id', 'is not', null), eb('messages.stream_id', '=', f.streamId)]); break
        case 'topic': e = eb.and([eb('messages.type', '=', 'stream'), eb('messages.topic_key', '=', f.topicKey)]); break
        case 'sender': e = eb('messages.sender_id', '=', f.userId); break
        case 'dm': e = f.groupId === null ? sql<SqlBool>`1 = 0` : eb.and([eb('messages.dm_group_id', 'is not', null), eb('messages.dm_group_id', '=', f.groupId)]); break
        case 'search': e = f.query === null
          ? sql<SqlBool>`1 = 0`
          : sqlite
            ? sql<SqlBool>`${sql.ref('messages.id')} in (select rowid from messages_fts where messages_fts match ${f.query})`
            : sql<SqlBool>`${sql.ref('messages.search_tsv')} @@ to_tsquery('simple', ${f.query})`
          break
      }
      return f.negated ? eb.not(e) : e
    })
    return eb.and(parts)
  }
}

/**
 * What of a narrow decides its SQL, values aside: operators, negation, whether a search has
 * any word to look up, whether a conversation exists. Two narrows of one shape differ only in parameters.
 */
export function narrowShape (filters: NarrowFilter[]): string {
  return filters.map((f) => (f.negated ? '!' : '') + f.op +
    (f.op === 'search' ? (f.query === null ? '0' : '') : f.op === 'dm' ? (f.groupId === null ? '0' : '1') : '')).join(',')
}

/**
 * The filters with each value that narrowWhere binds as a parameter replaced by `bind(value, i)`,
 * i counting those values in order: collects the values of a narrow, or puts placeholders in their places.
 */
export function narrowBind (filters: NarrowFilter[], bind: (value: unknown, i: number) => unknown): NarrowFilter[] {
  let i = 0
  const b = <T>(value: T): T => bind(value, i++) as T
  return filters.map((f): NarrowFilter => {
    switch (f.op) {
      case 'stream': return { ...f, streamId: b(f.streamId) }
      case 'topic': return { ...f, topicKey: b(f.topicKey) }
      case 'sender': return { ...f, userId: b(f.userId) }
      case 'dm': return f.groupId === null ? f : { ...f, groupId: b(f.groupId) }
      case 'search': return f.query === null ? f : { ...f, query: b(f.query) }
    }
    return f
  })
}
