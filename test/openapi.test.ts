// The OpenAPI document (SPEC §3): generated from the verb tables, and a test that fails on an undocumented route.
import t from 'tap'
import { body, build } from './helper.js'

const { app } = await build(t)
const res = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })
const doc = JSON.parse(res.payload)

function openApiPath (path: string): string {
  return path.replace(/:(\w+)/g, '{$1}')
}

t.test('GET /api/v1/openapi.json answers an OpenAPI 3.1 document, without credentials', async (t) => {
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(doc.openapi, '3.1.0')
  t.match(doc.info, { title: String, version: String })
  t.match(doc.components.securitySchemes.basicAuth, { type: 'http', scheme: 'basic' })
  t.match(doc.components.schemas.Error, { required: ['result', 'msg', 'code'] })
})

t.test('every declared resource and verb is in the document, with its response schema', async (t) => {
  t.ok(app.resources.length > 0)
  const operationIds = new Set<string>()
  for (const r of app.resources) {
    const item = doc.paths[openApiPath(r.path)]
    t.ok(item, `path ${r.path} is documented`)
    if (item === undefined) continue
    for (const [method, spec] of Object.entries(r.verbs)) {
      const op = item[method.toLowerCase()]
      t.ok(op, `${method} ${r.path} is documented`)
      if (op === undefined || spec === undefined) continue
      t.equal(op.summary, spec.summary)
      t.equal(op.description, spec.description)
      t.notOk(operationIds.has(op.operationId), `operationId ${String(op.operationId)} is unique`)
      operationIds.add(op.operationId)

      const envelope = op.responses['200'].content['application/json'].schema
      t.match(envelope, { type: 'object', properties: { result: { const: 'success' }, msg: { type: 'string' }, data: { type: 'object' } } })
      t.same(
        Object.keys(envelope.properties.data.properties).sort(),
        [...Object.keys(spec.response.properties), 'ignored_parameters_unsupported'].sort(),
        `${method} ${r.path} documents every field of data`)
      t.same(op.responses.default.content['application/json'].schema, { $ref: '#/components/schemas/Error' })

      for (const [, name] of r.path.matchAll(/:(\w+)/g)) {
        t.match(op.parameters.find((p: any) => p.name === name), { in: 'path', required: true, schema: Object }, `${method} ${r.path} documents path parameter ${String(name)}`)
      }
    }
    t.same(Object.keys(item).sort(), Object.keys(r.verbs).map((m) => m.toLowerCase()).sort(), `${r.path} documents no verb it does not serve`)
  }
  t.equal(Object.keys(doc.paths).length, app.resources.length, 'one document path per resource')
})

// Zulip's rule: a route nobody documented fails the build.
t.test('every verb of every resource has a summary, a description, a response schema and typed path parameters', async (t) => {
  for (const r of app.resources) {
    const pathNames = [...r.path.matchAll(/:(\w+)/g)].map((m) => m[1] as string)
    for (const [method, spec] of Object.entries(r.verbs)) {
      const where = `${method} ${r.path}`
      if (spec === undefined) { t.fail(`${where} is declared without a spec`); continue }
      t.ok(typeof spec.summary === 'string' && spec.summary.trim() !== '', `${where} has a summary`)
      t.ok(typeof spec.description === 'string' && spec.description.trim() !== '', `${where} has a description`)
      t.ok(spec.response !== undefined && (spec.response as any).type === 'object', `${where} has an object response schema`)
      for (const name of pathNames) {
        t.ok(spec.params?.properties?.[name] !== undefined, `${where} declares its path parameter ${name} in params`)
      }
    }
  }
})

t.test('OPTIONS, HEAD and undeclared verbs on /api/v1/openapi.json follow the verb-table rules', async (t) => {
  const options = await app.inject({ method: 'OPTIONS', url: '/api/v1/openapi.json' })
  t.equal(options.statusCode, 204)
  t.equal(options.headers.allow, 'GET, HEAD')
  t.equal(options.payload, '')

  const head = await app.inject({ method: 'HEAD', url: '/api/v1/openapi.json' })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(head.headers['content-length'], res.headers['content-length'])
  t.equal(head.payload, '')

  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    const r = await app.inject({ method, url: '/api/v1/openapi.json' })
    t.equal(r.statusCode, 405, method)
    t.equal(r.headers.allow, 'GET, HEAD')
    t.equal(r.headers['content-type'], 'application/json; charset=utf-8')
    t.same(body(r), { result: 'error', msg: 'Method Not Allowed', code: 'METHOD_NOT_ALLOWED', allowed_methods: ['GET', 'HEAD'] })
  }
})
