// The narrow of an event queue: which `message` events it receives, matched in memory on the event's message.
import { errors } from '../errors.js'
import { matchesSearch } from '../stores/search.js'

export interface NarrowTerm {
  operator: 'stream' | 'topic' | 'sender' | 'dm' | 'search'
  operand: unknown
  negated: boolean
}

const OPERATORS = new Set(['stream', 'topic', 'sender', 'dm', 'search'])

/** What a message event carries that a narrow looks at (the message as the API shows it). */
interface MessageLike {
  type?: unknown
  stream_id?: unknown
  display_recipient?: unknown
  topic?: unknown
  sender_id?: unknown
  sender_email?: unknown
  content?: unknown
  content_markdown?: unknown
}

function lower (v: unknown): string { return typeof v === 'string' ? v.toLowerCase() : String(v).toLowerCase() }

/** `[{operator, operand, negated?}]` or `[[operator, operand]]` → terms; anything else is 400 REQUEST_VARIABLE_INVALID. */
export function parseNarrow (raw: unknown[]): NarrowTerm[] {
  return raw.map((t) => {
    let operator: unknown
    let operand: unknown
    let negated = false
    if (Array.isArray(t) && t.length === 2) [operator, operand] = t
    else if (typeof t === 'object' && t !== null && !Array.isArray(t)) {
      const o = t as Record<string, unknown>
      operator = o.operator
      operand = o.operand
      negated = o.negated === true
    } else {
      throw errors.invalid('narrow', 'error.why.narrow_element')
    }
    if (typeof operator !== 'string' || !OPERATORS.has(operator)) throw errors.invalid('narrow', 'error.why.unknown_operator', { operator: JSON.stringify(operator) ?? String(operator) })
    if (operator === 'dm') {
      if (typeof operand === 'string') operand = operand.split(',').map((s) => s.trim()).filter((s) => s !== '')
      if (!Array.isArray(operand) || !operand.every((x) => typeof x === 'string' || Number.isInteger(x))) {
        throw errors.invalid('narrow', 'error.why.dm_operand')
      }
    } else if (typeof operand !== 'string' && !(Number.isInteger(operand) && operator !== 'topic' && operator !== 'search')) {
      throw errors.invalid('narrow', 'error.why.bad_operand', { operator })
    }
    return { operator: operator as NarrowTerm['operator'], operand, negated }
  })
}

function participants (m: MessageLike): Array<{ id: unknown, email: unknown }> {
  return Array.isArray(m.display_recipient) ? m.display_recipient as Array<{ id: unknown, email: unknown }> : []
}

function refersTo (ref: unknown, p: { id: unknown, email: unknown }): boolean {
  return typeof ref === 'number' ? p.id === ref : (lower(ref) === lower(p.email) || String(p.id) === ref)
}

function matchesTerm (term: NarrowTerm, m: MessageLike, ownerId: number): boolean {
  const operand = term.operand
  switch (term.operator) {
    case 'stream':
      if (m.type !== 'stream') return false
      return typeof operand === 'number' ? m.stream_id === operand : (lower(m.display_recipient) === lower(operand) || String(m.stream_id) === operand)
    case 'topic':
      return m.type === 'stream' && lower(m.topic) === lower(operand)
    case 'sender':
      return typeof operand === 'number' ? m.sender_id === operand : (lower(m.sender_email) === lower(operand) || String(m.sender_id) === operand)
    case 'dm': {
      if (m.type !== 'direct') return false
      const refs = operand as unknown[]
      const all = participants(m)
      const self = all.find((p) => p.id === ownerId) ?? { id: ownerId, email: undefined }
      const others = all.filter((p) => p !== self)
      // The conversation between the owner and exactly these users (the owner may or may not be listed).
      const listed = refs.filter((r) => !refersTo(r, self))
      return listed.every((r) => others.some((p) => refersTo(r, p))) && others.every((p) => listed.some((r) => refersTo(r, p)))
    }
    case 'search':
      // The tokens and prefixes of the full-text index (plugins/app/stores/search.ts), so a queue and GET /messages agree.
      return matchesSearch(String(operand), typeof m.topic === 'string' ? m.topic : '', String(m.content_markdown ?? m.content ?? ''))
  }
}

/** True when the message passes every term of the narrow (an empty narrow passes everything). */
export function matchesNarrow (narrow: NarrowTerm[], message: unknown, ownerId: number): boolean {
  if (typeof message !== 'object' || message === null) return false
  for (const term of narrow) {
    if (matchesTerm(term, message as MessageLike, ownerId) === term.negated) return false
  }
  return true
}
