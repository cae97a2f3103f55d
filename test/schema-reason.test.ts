// The reasons of a failed schema (plugins/app/http/schema-reason.ts) read in English
// exactly as TypeBox's own messages, and have a key, so they translate.
import t from 'tap'
import { Type, type TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { english } from '../plugins/app/errors.js'
import { firstReason } from '../plugins/app/http/schema-reason.js'

t.test('each reason is TypeBox\'s English message, keyed', async (t) => {
  const cases: Array<[TSchema, unknown]> = [
    [Type.String(), 3], [Type.Integer(), 'x'], [Type.Integer({ minimum: 1 }), 0], [Type.Integer({ maximum: 9 }), 10],
    [Type.String({ maxLength: 2 }), 'abc'], [Type.String({ minLength: 2 }), 'a'],
    [Type.Array(Type.Integer(), { maxItems: 1 }), [1, 2]], [Type.Array(Type.Integer(), { minItems: 1 }), []],
    [Type.String({ pattern: '^a' }), 'b'], [Type.String({ format: 'email' }), 'b'],
    [Type.Object({ a: Type.String() }), {}],
    [Type.Union([Type.String(), Type.Integer()]), true], [Type.Literal('a'), 'b'], [Type.Boolean(), 'x']
  ]
  for (const [schema, value] of cases) {
    const check = Compile(schema)
    const want = check.Errors(value)[0]?.message
    const got = firstReason(check, value)
    t.ok(got !== undefined && got.key.startsWith('error.why.'), `${String(want)} has a key`)
    if (got !== undefined) t.equal(english(got), want)
  }
  t.equal(firstReason(Compile(Type.String()), 'ok'), undefined)
})
