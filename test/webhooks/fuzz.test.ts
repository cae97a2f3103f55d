// Fuzzing every integration over HTTP (SPEC §10, issue 15 point 6): a payload of any shape
// (an array, a number, deeply nested, near 1 MiB, invalid UTF-8, a fixture with a field
// removed or retyped), with any event header, is a 400 naming the integration or a
// success: never a 5xx, always the envelope.
import t from 'tap'
import fc from 'fast-check'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LightMyRequestResponse } from 'fastify'
import type { CompiledIntegration } from '../../plugins/app/webhooks/integration.js'
import { integrations } from '../../routes/webhooks/index.js'
import { build, webhookBot } from '../helper.js'

const ROOT = join(import.meta.dirname, '..', 'fixtures', 'webhooks')
const RUNS = Number(process.env.FUZZ_RUNS ?? 480)
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)

const { app, owner } = await build(t)
const bot = await webhookBot(app, owner.auth, 'fuzz')
await app.inject({ method: 'PUT', url: '/api/v1/streams', headers: { authorization: owner.auth }, payload: { name: 'fuzz' } })

/** Event header values worth trying: every handled type, a foreign one, blank, none. */
function eventHeaders (integration: CompiledIntegration): Array<Record<string, string>> {
  if (!('header' in integration.eventSource)) return [{}]
  const name = integration.eventSource.header.toLowerCase()
  return [...Object.keys(integration.events), 'star', ' ', '\u00e9v\u00e9nement'].map((v) => ({ [name]: v })).concat([{}])
}

async function deliver (integration: CompiledIntegration, payload: string | Buffer, headers: Record<string, string>): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: `/api/v1/external/${integration.name}?api_key=${bot.api_key}&stream=fuzz`,
    payload,
    headers: { 'content-type': 'application/json', ...headers }
  })
}

/** A 400 names the integration (or the header it lacks); a success is the envelope; nothing else. */
function assertAnswer (t: Pick<typeof import('tap').default, 'ok' | 'equal' | 'fail'>, integration: CompiledIntegration, res: LightMyRequestResponse, what: string): boolean {
  let parsed: any
  try { parsed = JSON.parse(res.payload) } catch { t.fail(`${what}: not JSON: ${res.payload.slice(0, 200)}`); return false }
  if (res.statusCode === 200) return parsed.result === 'success' || (t.fail(`${what}: ${res.payload.slice(0, 200)}`), false)
  if (res.statusCode === 413) return parsed.code === 'PAYLOAD_TOO_LARGE'
  if (res.statusCode !== 400) {
    t.fail(`${what}: status ${res.statusCode} ${res.payload.slice(0, 300)}`)
    return false
  }
  const named = parsed.code === 'MISSING_HTTP_EVENT_HEADER'
    ? 'header' in integration.eventSource && parsed.msg.includes(integration.eventSource.header)
    : parsed.code === 'BAD_REQUEST' && parsed.integration === integration.name && parsed.msg.includes(integration.displayName)
  if (!named) t.fail(`${what}: a 400 that does not name ${integration.displayName}: ${res.payload.slice(0, 300)}`)
  return named
}

const deepArray = '['.repeat(100_000) + ']'.repeat(100_000)
const deepObject = '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000)
const HOSTILE: Array<[string, string | Buffer]> = [
  ['an empty body', ''],
  ['an array', '[1,"two",{"three":3}]'],
  ['a number', '42'],
  ['a string', '"push"'],
  ['null', 'null'],
  ['true', 'true'],
  ['an empty object', '{}'],
  ['a deeply nested array', deepArray],
  ['a deeply nested object', deepObject],
  ['a near-1 MiB string field', JSON.stringify({ text: 'x'.repeat(1_000_000), status: 'firing', ref: 'refs/heads/' + 'b'.repeat(1000) })],
  ['invalid UTF-8', Buffer.concat([Buffer.from('{"text":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')])],
  ['a lone surrogate escape', '{"text":"\\ud800","status":"firing"}'],
  ['truncated JSON', '{"text": "a'],
  ['JSON with a BOM', '\ufeff{"text":"bom"}'],
  ['a prototype key', '{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}},"text":"p"}']
]

for (const integration of integrations) {
  t.test(`${integration.name}: hostile bodies with every event header are answered 200 or 400 naming it`, async (t) => {
    for (const [what, payload] of HOSTILE) {
      for (const headers of eventHeaders(integration)) {
        const res = await deliver(integration, payload, headers)
        assertAnswer(t, integration, res, `${what} ${JSON.stringify(headers)}`)
      }
    }
    t.equal(({} as any).polluted, undefined, 'no prototype pollution')
  })
}

/** A JSON path into a value: object keys and array indexes. */
type Path = Array<string | number>

function paths (value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (out.length > 2000) return out
  if (Array.isArray(value)) value.forEach((v, i) => { out.push([...prefix, i]); paths(v, [...prefix, i], out) })
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) { out.push([...prefix, k]); paths(v, [...prefix, k], out) }
  }
  return out
}

/** Stands for a 5000-deep array, spliced into the JSON text (the test's own JSON.stringify could not write it). */
const DEEP_MARK = '\u0000deep\u0000'
const DEEP_TEXT = '['.repeat(5000) + ']'.repeat(5000)

type Mutation = 'delete' | 'null' | 'number' | 'string' | 'array' | 'object' | 'bool' | 'deep' | 'long'

function mutate (value: any, path: Path, how: Mutation): any {
  const copy = structuredClone(value)
  let parent = copy
  for (const key of path.slice(0, -1)) parent = parent[key]
  const last = path[path.length - 1] as string | number
  const replacement = {
    delete: undefined,
    null: null,
    number: -1.5,
    string: ']()[`*_<script>',
    array: [1, null, 'x'],
    object: { unexpected: true },
    bool: false,
    deep: DEEP_MARK,
    long: 'y'.repeat(20_000)
  }[how]
  if (how === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1)
    else delete parent[last]
  } else {
    parent[last] = replacement
  }
  return copy
}

const MUTATIONS: Mutation[] = ['delete', 'null', 'number', 'string', 'array', 'object', 'bool', 'deep', 'long']

for (const integration of integrations) {
  const dir = join(ROOT, integration.name)
  const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => ({ name: f.replace(/\.json$/, ''), payload: JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown }))
  const withPaths = fixtures.map((f) => ({ ...f, paths: paths(f.payload) })).filter((f) => f.paths.length > 0)
  if (withPaths.length === 0) continue

  t.test(`${integration.name}: its fixtures with a field removed or retyped never get a 5xx`, async (t) => {
    const runs = Math.max(20, Math.round(RUNS / integrations.length))
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 0, max: withPaths.length - 1 }), fc.nat(), fc.constantFrom(...MUTATIONS),
      async (which, at, how) => {
        const fixture = withPaths[which] as (typeof withPaths)[number]
        const path = fixture.paths[at % fixture.paths.length] as Path
        const payload = JSON.stringify(mutate(fixture.payload, path, how)).replace(JSON.stringify(DEEP_MARK), DEEP_TEXT)
        const headers = 'header' in integration.eventSource
          ? { [integration.eventSource.header.toLowerCase()]: fixture.name.split('__')[0] ?? '' }
          : {}
        const res = await deliver(integration, payload, headers)
        return assertAnswer(t, integration, res, `${fixture.name} ${how} ${JSON.stringify(path)}`)
      }), { numRuns: runs, ...(seed === undefined ? {} : { seed }) })
  })

  t.test(`${integration.name}: arbitrary JSON values never get a 5xx`, async (t) => {
    const headers = eventHeaders(integration)
    await fc.assert(fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), fc.nat(), async (value, h) => {
      const res = await deliver(integration, JSON.stringify(value) ?? 'null', headers[h % headers.length] as Record<string, string>)
      return assertAnswer(t, integration, res, JSON.stringify(value).slice(0, 200))
    }), { numRuns: Math.max(20, Math.round(RUNS / integrations.length / 2)), ...(seed === undefined ? {} : { seed }) })
  })
}
