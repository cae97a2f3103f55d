// Narrows (SPEC §6): a list of {operator, operand} terms, resolved against the database
// into filters that become one SQL condition for GET /messages.
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely'
import type { Database, DB } from '../db/db.js'
import { errors, type ReasonKey, type Vars } from '../errors.js'
import type { StreamStore } from './streams.js'
import { emailKey, type User } from './users.js'

export type NarrowOperand = string | number | Array<string | number>
export type NarrowTerm = { operator: string, operand: NarrowOperand, negated?: boolean } | [string, NarrowOperand]

export type NarrowFilter = { negated: boolean } & (
  | { op: 'stream', streamId: number }
  | { op: 'topic', topicKey: string }
  | { op: 'sender', userId: number }
  /** memberKey: the sorted participant ids of the conversation; groupId null when it never existed. */
  | { op: 'dm', memberKey: string, groupId: number | null }
  /** One LIKE pattern per word, each a word to find anywhere in the topic or source. */
  | { op: 'search', patterns: string[] }
)

/** Zulip's other names for the same operators, as its clients still send them. */
const ALIASES: Record<string, string> = { channel: 'stream', 'pm-with': 'dm', subject: 'topic' }

export function topicKey (topic: string): string { return topic.trim().toLowerCase() }

export function memberKey (ids: number[]): string { return [...new Set(ids)].sort((a, b) => a - b).join(',') }

export function searchText (topic: string, markdown: string): string { return `${topic}\n${markdown}`.toLowerCase() }

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

function likePattern (word: string): string { return `%${word.replace(/[\\%_]/g, (c) => '\\' + c)}%` }

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
        const words = operand.toLowerCase().split(/\s+/).filter((w) => w !== '')
        if (words.length > 0) filters.push({ op: 'search', patterns: words.map(likePattern), negated })
        break
      }
      default:
        throw bad('error.why.unknown_operator', { operator: `'${rawOperator}'` })
    }
  }
  return filters
}

/** The filters as one SQL condition on `messages`. */
export function narrowWhere (filters: NarrowFilter[]) {
  return (eb: ExpressionBuilder<Database, 'messages'>): Expression<SqlBool> => {
    const parts: Array<Expression<SqlBool>> = filters.map((f) => {
      let e: Expression<SqlBool>
      switch (f.op) {
        // Nullable columns are tested for null first: NOT (NULL = x) is NULL, which would drop rows from a negated term.
        case 'stream': e = eb.and([eb('messages.stream_id', 'is not', null), eb('messages.stream_id', '=', f.streamId)]); break
        case 'topic': e = eb.and([eb('messages.type', '=', 'stream'), eb('messages.topic_key', '=', f.topicKey)]); break
        case 'sender': e = eb('messages.sender_id', '=', f.userId); break
        case 'dm': e = f.groupId === null ? sql<SqlBool>`1 = 0` : eb.and([eb('messages.dm_group_id', 'is not', null), eb('messages.dm_group_id', '=', f.groupId)]); break
        case 'search': e = eb.and(f.patterns.map((p) => sql<SqlBool>`${sql.ref('messages.search_text')} like ${p} escape '\\'`)); break
      }
      return f.negated ? eb.not(e) : e
    })
    return eb.and(parts)
  }
}

/**
 * What of a narrow decides its SQL, values aside: operators, negation, the number of search
 * words, whether a conversation exists. Two narrows of one shape differ only in parameters.
 */
export function narrowShape (filters: NarrowFilter[]): string {
  return filters.map((f) => (f.negated ? '!' : '') + f.op +
    (f.op === 'search' ? String(f.patterns.length) : f.op === 'dm' ? (f.groupId === null ? '0' : '1') : '')).join(',')
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
      case 'search': return { ...f, patterns: f.patterns.map(b) }
    }
    return f
  })
}
