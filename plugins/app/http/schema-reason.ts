// Why a value failed its TypeBox schema, as a locale key (error.why.*) instead of
// TypeBox's English message: the verb table's validation (rest.ts) answers it in
// the visitor's language, its English text the same as TypeBox's.
import type { Validator } from 'typebox/compile'
import { reason, type Keyed } from '../errors.js'

interface SchemaError { keyword: string, message: string, params: Record<string, unknown> }

/** One TypeBox error as a reason. `must be …` (type, const, enum, minimum…) keeps TypeBox's wording as the variable. */
export function schemaReason (e: SchemaError): Keyed {
  const p = e.params
  const limit = String(p.limit)
  switch (e.keyword) {
    case 'maxLength': return reason('error.why.schema_max_length', { limit })
    case 'minLength': return reason('error.why.schema_min_length', { limit })
    case 'maxItems': return reason('error.why.schema_max_items', { limit })
    case 'minItems': return reason('error.why.schema_min_items', { limit })
    case 'pattern': return reason('error.why.schema_pattern', { pattern: String(p.pattern) })
    case 'format': return reason('error.why.schema_format', { format: String(p.format) })
    case 'required': return reason('error.why.schema_required', { properties: (p.requiredProperties as string[]).join(', ') })
    case 'anyOf': return reason('error.why.schema_any_of')
  }
  const mustBe = /^must be (.+)$/s.exec(e.message)
  return mustBe === null ? reason('error.why.must_be_valid') : reason('error.why.must_be', { type: mustBe[1] as string })
}

/** The reason of the first error of `value` against `check`, if any. */
export function firstReason (check: Validator, value: unknown): Keyed | undefined {
  const e = check.Errors(value)[0] as SchemaError | undefined
  return e === undefined ? undefined : schemaReason(e)
}
