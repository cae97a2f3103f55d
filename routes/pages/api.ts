// `/api`: the API documentation for people, rendered from the OpenAPI document the
// `openapi` plugin serves (every resource, verb and parameter with its description).
import { page } from '../../plugins/app/pages/pages.js'

interface Schema { type?: string | string[], description?: string, enum?: unknown[], items?: Schema, anyOf?: Schema[], const?: unknown, maxLength?: number, minimum?: number, maximum?: number }
export interface DocParam { name: string, in: 'path' | 'query' | 'body', required: boolean, type: string, description: string }
export interface DocOperation { method: string, id: string, summary: string, description: string, access: string, params: DocParam[], response: string[] }
export interface DocPath { path: string, anchor: string, operations: DocOperation[] }

/** A short type name for a JSON schema: `integer`, `string[]`, `"add" | "remove"`. */
export function typeName (s: Schema | undefined): string {
  if (s === undefined) return 'any'
  if (s.const !== undefined) return JSON.stringify(s.const)
  if (s.enum !== undefined) return s.enum.map((v) => JSON.stringify(v)).join(' | ')
  if (s.anyOf !== undefined) return s.anyOf.map(typeName).join(' | ')
  if (s.type === 'array') return `${typeName(s.items)}[]`
  if (Array.isArray(s.type)) return s.type.join(' | ')
  return s.type ?? 'any'
}

/** The parts of an OpenAPI operation (plugins/app/http/openapi.ts) the page shows. */
interface Operation {
  operationId: string
  summary?: string
  description?: string
  'x-access'?: string
  parameters?: Array<{ name: string, in: 'path' | 'query', required?: boolean, schema?: Schema, description?: string }>
  requestBody?: { content: Record<string, { schema: { properties: Record<string, Schema>, required?: string[] } } | undefined> }
  responses?: Record<string, { content?: Record<string, { schema?: { properties?: { data?: { properties?: Record<string, unknown> } } } } | undefined> } | undefined>
}

/** The OpenAPI document as the lists the template walks. */
export function apiDoc (doc: Record<string, unknown>): DocPath[] {
  const paths = doc.paths as Record<string, Record<string, Operation>>
  return Object.entries(paths).map(([path, item]) => ({
    path,
    anchor: path.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, ''),
    operations: Object.entries(item).map(([method, op]) => {
      const params: DocParam[] = (op.parameters ?? []).map((p) => ({
        name: p.name, in: p.in, required: p.required === true, type: typeName(p.schema), description: p.schema?.description ?? p.description ?? ''
      }))
      const body = op.requestBody?.content['application/json']?.schema
      if (body !== undefined) {
        const required = new Set<string>(body.required ?? [])
        for (const [name, schema] of Object.entries(body.properties)) {
          params.push({ name, in: 'body', required: required.has(name), type: typeName(schema), description: schema.description ?? '' })
        }
      }
      const data = op.responses?.['200']?.content?.['application/json']?.schema?.properties?.data?.properties
      return {
        method: method.toUpperCase(),
        id: op.operationId,
        summary: op.summary ?? '',
        description: op.description ?? '',
        access: op['x-access'] ?? 'user',
        params,
        response: data === undefined ? [] : Object.keys(data)
      }
    })
  }))
}

/** Each app's document, made into lists once (apps differ: tests build several with other realm names). */
const docs = new WeakMap<object, DocPath[]>()

export const apiDocs = page({
  path: '/api',
  template: 'api',
  title: 'page.api.title',
  cache: true,
  handler: ({ app }) => {
    let doc = docs.get(app)
    if (doc === undefined) docs.set(app, doc = apiDoc(app.openApiDocument()))
    return { doc }
  }
})
