// The OpenAPI 3.1 description of the CNR/APPR API, built once from the route table (routes.ts) and the
// JSON Schemas in schemas/cnr, and served at /cnr/api/v1/openapi.json (and /api/v1/openapi.json).
import { readFileSync, readdirSync } from 'node:fs'
import { API_VERSION } from './media-types.js'
import type { CnrRoute } from './routes.js'

type Json = Record<string, unknown>

// `../../schemas` is right from both src/cnr (tsx, tap) and dist/cnr (build output).
const SCHEMA_DIR = new URL('../../schemas/cnr/', import.meta.url)

const ref = (title: string): Json => ({ $ref: `#/components/schemas/${title}` })

/** Rewrites a schema's local `#/definitions/X` references to components. */
function rewriteRefs (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs)
  if (node === null || typeof node !== 'object') return node
  const out: Json = {}
  for (const [key, value] of Object.entries(node as Json)) {
    if (key === '$ref' && typeof value === 'string' && value.startsWith('#/definitions/')) out[key] = `#/components/schemas/${value.slice('#/definitions/'.length)}`
    else if (key !== 'tsType') out[key] = rewriteRefs(value)
  }
  return out
}

/** Every schema of schemas/cnr (and its definitions) by title. */
export function loadSchemas (): Record<string, Json> {
  const schemas: Record<string, Json> = {}
  for (const file of readdirSync(SCHEMA_DIR).filter(f => f.endsWith('.schema.json')).sort()) {
    const { $schema: _s, $id: _i, definitions, ...schema } = JSON.parse(readFileSync(new URL(file, SCHEMA_DIR), 'utf8')) as Json
    for (const [key, definition] of Object.entries((definitions ?? {}) as Record<string, Json>)) {
      schemas[key] = rewriteRefs(definition) as Json
    }
    schemas[schema.title as string] = rewriteRefs(schema) as Json
  }
  return schemas
}

function schemaOf (spec: string): Json {
  if (spec === 'string[]') return { type: 'array', items: { type: 'string' } }
  if (spec.endsWith('[]')) return { type: 'array', items: ref(spec.slice(0, -2)) }
  return ref(spec)
}

function response (spec: string | { binary: string }, jsonAlternative?: string): Json {
  if (typeof spec !== 'string') {
    const content: Json = { [spec.binary]: { schema: { type: 'string', format: 'binary' } } }
    if (jsonAlternative !== undefined) content['application/json'] = { schema: ref(jsonAlternative) }
    return { description: 'The tarball; with format=json, the JSON form', content }
  }
  return { description: spec === 'CnrError' ? 'Error' : 'OK', content: { 'application/json': { schema: schemaOf(spec) } } }
}

function operation (route: CnrRoute): Json {
  const pathParams = [...route.path.matchAll(/:([a-z_]+)/g)].map(m => ({
    name: m[1], in: 'path', required: true, schema: { type: 'string' }
  }))
  const query = (route.query ?? []).map(q => ({ name: q.name, in: 'query', required: q.required ?? false, description: q.description, schema: { type: 'string' } }))
  const jsonAlternative = route.operationId === 'pullPackage' ? 'PullJson' : route.operationId === 'pullBlob' ? 'BlobJson' : undefined
  const op: Json = {
    operationId: route.operationId,
    summary: route.summary,
    parameters: [...pathParams, ...query],
    responses: Object.fromEntries(Object.entries(route.responses).map(([status, spec]) => [status, response(spec, jsonAlternative)]))
  }
  if (route.access !== undefined) {
    // Checked before the handler (index.ts): unauthorized-access without credentials, forbidden without the right.
    const responses = op.responses as Record<string, Json>
    responses[401] ??= response('CnrError')
    responses[403] ??= response('CnrError')
    op.description = `Needs ${route.access} access to the package (anonymous callers may pull public packages).`
  }
  if (route.body !== undefined) {
    op.requestBody = {
      description: 'Read as JSON whatever the Content-Type; fields may also be sent as form fields or query parameters.',
      content: { 'application/json': { schema: ref(route.body) } }
    }
  }
  return op
}

export function buildOpenApi (routes: CnrRoute[]): Json {
  const paths: Record<string, Json> = {
    '/version': {
      get: { operationId: 'getVersion', summary: 'API version', responses: { 200: response('ApiVersion') } }
    },
    '/api/v1/openapi.json': {
      get: { operationId: 'getOpenApi', summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': {} } } } }
    }
  }
  for (const route of routes) {
    const path = `/api/v1${route.path.replace(/:([a-z_]+)/g, '{$1}')}`
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(route) }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Berth CNR/APPR app-registry API',
      version: API_VERSION,
      description: 'The CNR/APPR app-registry API (APPR 0.7.4 dialect: vnd.appr media types, schema v0) over the OCI store. ' +
        'Every path is served below /cnr, as real clients expect, and below / for CNR-era scripts. Trailing slashes are accepted. ' +
        'Errors are {"code","message","details"}. Any Authorization token is accepted for now.'
    },
    servers: [{ url: '/cnr', description: 'what appr and cnr clients use' }, { url: '/', description: 'CNR-era curl scripts' }],
    paths,
    components: { schemas: loadSchemas() }
  }
}
