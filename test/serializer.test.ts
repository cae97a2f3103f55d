// Verbs answered with JSON.stringify (`serializer: 'json'`) must answer exactly their declared schema:
// without fast-json-stringify nothing else would drop a property the schema does not declare.
import t from 'tap'
import type { TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { envelope, type VerbSpec } from '../plugins/app/http/rest.js'
import { body, build } from './helper.js'

/** Paths of every property in `value` that `schema` does not declare (anyOf: the branch the value matches). */
function undeclared (schema: any, value: unknown, at = '$'): string[] {
  if (Array.isArray(schema.anyOf)) {
    const branch = schema.anyOf.find((s: TSchema) => Value.Check(s, value))
    return branch === undefined ? [`${at} (matches no branch)`] : undeclared(branch, value, at)
  }
  if (schema.type === 'array' && Array.isArray(value)) return value.flatMap((v, i) => undeclared(schema.items, v, `${at}[${i}]`))
  if (schema.type === 'object' && typeof value === 'object' && value !== null) {
    const props = schema.properties ?? {}
    return Object.entries(value).flatMap(([k, v]) => k in props ? undeclared(props[k], v, `${at}.${k}`) : [`${at}.${k}`])
  }
  return []
}

t.test('undeclared finds an extra property, also inside arrays and unions', async (t) => {
  const { app } = await build(t)
  const spec = app.resources.find((r) => r.path === '/messages')?.verbs.GET as VerbSpec
  const schema = envelope(spec.response)
  const ok = { result: 'success', msg: '', data: { messages: [], found_anchor: true, found_newest: true, found_oldest: true } }
  t.same(undeclared(schema, ok), [])
  t.same(undeclared(schema, { ...ok, extra: 1 }), ['$.extra'])
  const m = { id: 1, sender_id: 1, sender_email: 'a@b', sender_full_name: 'A', type: 'direct', display_recipient: [{ id: 1, email: 'a@b', full_name: 'A', password_hash: 'x' }], topic: '', content: '', content_markdown: '', timestamp: 1, last_edit_timestamp: null, client: 'c' }
  t.same(undeclared(schema, { ...ok, data: { ...ok.data, messages: [m] } }), ['$.data.messages[0].display_recipient[0].password_hash'])
})

t.test('every verb answered with JSON.stringify answers exactly its schema: stream, direct and edited messages', async (t) => {
  const { app, owner, createUser } = await build(t)
  const jsonVerbs = app.resources.flatMap((r) => Object.entries(r.verbs).filter(([, v]) => v?.serializer === 'json').map(([m]) => `${m} ${r.path}`))
  t.same(jsonVerbs.sort(), ['GET /messages', 'GET /messages/:message_id'], 'the verbs this test covers')

  const bob = await createUser('ser-bob@example.com')
  const call = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, form?: Record<string, string>) => await app.inject({
    method,
    url: `/api/v1${url}`,
    headers: { authorization: owner.auth, ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
    ...(form === undefined ? {} : { payload: new URLSearchParams(form).toString() })
  })
  t.equal((await call('PUT', '/streams', { name: 'serialized' })).statusCode, 200)
  const streamMsg = body(await call('POST', '/messages', { type: 'stream', to: 'serialized', topic: 't', content: 'a "quoted" <b>line</b> **bold**' })).data.id
  const directMsg = body(await call('POST', '/messages', { type: 'direct', to: JSON.stringify([bob.id]), content: 'hi\nthere' })).data.id
  t.equal((await call('PATCH', `/messages/${streamMsg}`, { content: 'edited' })).statusCode, 200)

  const pageSchema = envelope((app.resources.find((r) => r.path === '/messages')?.verbs.GET as VerbSpec).response)
  const res = await call('GET', '/messages?anchor=newest&num_before=10&num_after=0')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  const page = body(res)
  t.ok(Value.Check(pageSchema, page), 'the page validates against its schema')
  t.same(undeclared(pageSchema, page), [])
  t.same(page.data.messages.map((m: { id: number }) => m.id), [streamMsg, directMsg])
  t.match(page.data.messages[0], { type: 'stream', stream_id: Number, display_recipient: 'serialized', last_edit_timestamp: Number })
  t.match(page.data.messages[1], { type: 'direct', display_recipient: [{ id: owner.id }, { id: bob.id }], last_edit_timestamp: null })
  t.notOk('stream_id' in page.data.messages[1], 'a direct message has no stream_id')

  const oneSchema = envelope((app.resources.find((r) => r.path === '/messages/:message_id')?.verbs.GET as VerbSpec).response)
  for (const id of [streamMsg, directMsg]) {
    const one = body(await call('GET', `/messages/${id}`))
    t.ok(Value.Check(oneSchema, one), `message ${id} validates`)
    t.same(undeclared(oneSchema, one), [], `message ${id} has only declared properties`)
  }
})
