// The published OpenAPI description: served at /cnr/api/v1/openapi.json (and /api/v1/openapi.json), lists
// every route, its references resolve, and real responses validate against the schemas it publishes.
import { Ajv } from 'ajv'
import t from 'tap'
import { routes } from '../../src/cnr/routes.js'
import { KPM_FILES, push, startApi, tarGz } from './helpers.js'

interface OpenApi {
  openapi: string
  servers: Array<{ url: string }>
  paths: Record<string, Record<string, { operationId: string }>>
  components: { schemas: Record<string, Record<string, unknown>> }
}

function refs (node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach(n => refs(n, found))
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push(value)
      else refs(value, found)
    }
  }
  return found
}

t.test('the OpenAPI document describes every route and its schemas', async t => {
  const api = await startApi(t)
  const res = await api.request('GET', '/cnr/api/v1/openapi.json')
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.same((await api.request('GET', '/api/v1/openapi.json')).json(), res.json(), 'the same document below /')
  const doc = res.json<OpenApi>()
  t.equal(doc.openapi, '3.1.0')
  t.same(doc.servers.map(s => s.url), ['/cnr', '/'])
  for (const route of routes) {
    const path = `/api/v1${route.path.replace(/:([a-z_]+)/g, '{$1}')}`
    t.equal(doc.paths[path]?.[route.method.toLowerCase()]?.operationId, route.operationId, `${route.method} ${path}`)
  }
  t.ok(doc.paths['/version']?.get, '/version')
  for (const ref of new Set(refs(doc))) {
    t.ok(doc.components.schemas[ref.replace('#/components/schemas/', '')] !== undefined, `${ref} resolves`)
  }

  // Responses validate against the published schemas.
  const ajv = new Ajv({ strict: false })
  ajv.addSchema({ $id: 'cnr', components: doc.components })
  const check = (title: string, body: unknown, label: string): void => {
    const validate = ajv.getSchema(`cnr#/components/schemas/${title}`)
    t.ok(validate?.(body), `${label} is a ${title}${validate?.errors === null || validate?.errors === undefined ? '' : `: ${ajv.errorsText(validate.errors)}`}`)
  }
  const blob = await tarGz(KPM_FILES('1.0.0'))
  const pushed = await push(api, 'ns/app', '1.0.0', 'kpm', blob)
  check('PushResult', pushed.json(), 'push')
  check('ApiVersion', (await api.request('GET', '/cnr/version')).json(), 'version')
  const channel = (await api.request('POST', '/cnr/api/v1/packages/ns/app/channels/stable/1.0.0')).json()
  check('Channel', channel, 'channel')
  for (const item of (await api.request('GET', '/cnr/api/v1/packages')).json<unknown[]>()) check('PackageSummary', item, 'list item')
  for (const item of (await api.request('GET', '/cnr/api/v1/packages/ns/app')).json<unknown[]>()) check('ReleaseManifest', item, 'release')
  check('ReleaseManifest', (await api.request('GET', '/cnr/api/v1/packages/ns/app/1.0.0/kpm')).json(), 'manifest')
  check('PullJson', (await api.request('GET', '/cnr/api/v1/packages/ns/app/1.0.0/kpm/pull/json')).json(), 'pull json')
  const digest = (await api.request('GET', '/cnr/api/v1/packages/ns/app/1.0.0/kpm')).json<{ content: { digest: string } }>().content.digest
  check('BlobJson', (await api.request('GET', `/cnr/api/v1/packages/ns/app/blobs/sha256/${digest}/json`)).json(), 'blob json')
  check('Token', (await api.request('POST', '/cnr/api/v1/users/login', { json: { user: { username: 'u', password: 'p' } } })).json(), 'token')
  check('CnrError', (await api.request('GET', '/cnr/api/v1/packages/ns/none')).json(), 'error')
  check('DeleteChannelResult', (await api.request('DELETE', '/cnr/api/v1/packages/ns/app/channels/stable')).json(), 'channel delete')
  check('DeleteReleaseResult', (await api.request('DELETE', '/cnr/api/v1/packages/ns/app/1.0.0/kpm')).json(), 'release delete')
  for (const item of (await api.request('GET', '/cnr/api/v1/packages/ns/app/deleted')).json<unknown[]>()) check('DeletedRelease', item, 'deleted release')
})
