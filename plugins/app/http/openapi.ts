// The OpenAPI 3.1 document of the whole API (SPEC §3), generated from the same
// verb tables that the rest plugin mounts: the API documents itself.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { allowedMethods, declareMethodAnswers, envelope, type Resource, type Verb, type VerbSpec } from './rest.js'
import { VERSION } from '../version.js'

const ERROR_SCHEMA = {
  type: 'object',
  required: ['result', 'msg', 'code'],
  properties: {
    result: { const: 'error' },
    msg: { type: 'string' },
    code: { type: 'string' }
  },
  additionalProperties: true
}

/** Fastify `:name` → OpenAPI `{name}`. */
export function openApiPath (path: string): string {
  return path.replace(/:(\w+)/g, '{$1}')
}

function plain (schema: unknown): unknown {
  // Drops TypeBox's symbol keys and leaves plain JSON Schema.
  return JSON.parse(JSON.stringify(schema))
}

function operation (r: Resource, method: Verb, spec: VerbSpec): Record<string, unknown> {
  const pathNames = new Set([...r.path.matchAll(/:(\w+)/g)].map((m) => m[1]))
  const props = (spec.params?.properties ?? {}) as Record<string, unknown>
  const required = new Set(spec.params?.required ?? [])
  const inBody = method === 'POST' || method === 'PUT' || method === 'PATCH'
  const parameters: unknown[] = []
  const bodyProps: Record<string, unknown> = {}
  for (const [name, schema] of Object.entries(props)) {
    if (pathNames.has(name)) parameters.push({ name, in: 'path', required: true, schema: plain(schema) })
    else if (inBody) bodyProps[name] = plain(schema)
    else parameters.push({ name, in: 'query', required: required.has(name), schema: plain(schema) })
  }
  const op: Record<string, unknown> = {
    operationId: `${method.toLowerCase()}${openApiPath(r.path).replace(/[{}]/g, '').replace(/[/_](\w)/g, (_m, c: string) => c.toUpperCase())}`,
    summary: spec.summary,
    description: spec.description,
    'x-access': spec.access ?? 'user',
    parameters,
    responses: {
      200: { description: 'Success', content: { 'application/json': { schema: plain(envelope(spec.response)) } } },
      default: { description: 'Error (SPEC §2)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
    }
  }
  if (inBody && Object.keys(bodyProps).length > 0) {
    const bodySchema = { type: 'object', properties: bodyProps, required: [...required].filter((n) => !pathNames.has(n)) }
    op.requestBody = {
      content: {
        'application/json': { schema: bodySchema },
        'application/x-www-form-urlencoded': { schema: bodySchema },
        'multipart/form-data': { schema: bodySchema }
      }
    }
  }
  if (spec.access === 'anonymous') op.security = [{}, { basicAuth: [] }]
  return op
}

export function buildOpenApi (resources: Resource[], realmName: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of resources) {
    const item: Record<string, unknown> = {}
    for (const [method, spec] of Object.entries(r.verbs) as Array<[Verb, VerbSpec]>) {
      item[method.toLowerCase()] = operation(r, method, spec)
    }
    paths[openApiPath(r.path)] = item
  }
  return {
    openapi: '3.1.0',
    info: {
      title: `${realmName} API`,
      version: VERSION,
      description: 'Every path is served under /api/v1 (HTTP Basic, email:api_key) and under /json (browser session + X-CSRF-Token).'
    },
    servers: [{ url: '/api/v1' }],
    security: [{ basicAuth: [] }],
    components: {
      securitySchemes: { basicAuth: { type: 'http', scheme: 'basic', description: 'email as user name, API key as password' } },
      schemas: { Error: ERROR_SCHEMA }
    },
    paths
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The OpenAPI document of every mounted resource, built on first use (GET /api/v1/openapi.json, the /api page). */
    openApiDocument: () => Record<string, unknown>
  }
}

export default fp(async function openapiPlugin (app: FastifyInstance) {
  let doc: Record<string, unknown> | undefined
  let json: string | undefined
  app.decorate('openApiDocument', () => (doc ??= buildOpenApi(app.resources, app.config.realmName)))
  const url = '/api/v1/openapi.json'
  app.route({
    method: 'GET',
    url,
    handler: async (_request, reply) => {
      json ??= JSON.stringify(app.openApiDocument())
      return reply.type('application/json; charset=utf-8').send(json)
    }
  })
  declareMethodAnswers(app, url, allowedMethods({ path: url, verbs: { GET: undefined } }))
}, { name: 'openapi', dependencies: ['rest', 'config'] })
