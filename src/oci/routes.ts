// The /v2 route table as data. Repository names contain '/', which Fastify path parameters cannot
// capture mid-path, so one wildcard route matches the rest of the path against these patterns, in order.
import { RegistryError } from '../errors/registry-error.js'
import { assertValidName } from '../registry/reference.js'
import type { OciHandler } from './context.js'
import { cancelUpload, completeUpload, getUpload, patchUpload, startUpload } from './handlers/uploads.js'
import { deleteBlob, getBlob, headBlob } from './handlers/blobs.js'
import { deleteManifest, getManifest, headManifest, putManifest } from './handlers/manifests.js'
import { listCatalog, listReferrers, listTags } from './handlers/listings.js'

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/**
 * What a request needs from the caller (src/oci/access.ts): `base` (signed in, for GET /v2/), `catalog` (signed
 * in; the list is filtered), or an action on the route's repository. Unless a route says otherwise, GET and HEAD
 * need pull, POST, PUT and PATCH need push, and DELETE needs delete.
 */
export type RouteAccess = 'base' | 'catalog' | 'pull' | 'push' | 'delete'

interface Route {
  /** The distribution-spec endpoint ids, for tracing conformance failures. */
  spec: string
  /** The endpoint as a route pattern, for metrics labels. */
  path: string
  /** Matches the path after /v2/; group 1 is the repository name, group 2 the final segment. */
  pattern: RegExp
  methods: Partial<Record<Method, OciHandler>>
  /** Overrides the per-method access rule for every method of the route. */
  access?: RouteAccess
}

const base: OciHandler = async () => ({})

export const routes: Route[] = [
  { spec: 'end-1', path: '/v2/', pattern: /^$/, methods: { GET: base, HEAD: base }, access: 'base' },
  { spec: 'catalog', path: '/v2/_catalog', pattern: /^_catalog$/, methods: { GET: listCatalog }, access: 'catalog' },
  { spec: 'end-8', path: '/v2/:name/tags/list', pattern: /^(.+)\/tags\/list$/, methods: { GET: listTags } },
  { spec: 'end-12', path: '/v2/:name/referrers/:digest', pattern: /^(.+)\/referrers\/([^/]+)$/, methods: { GET: listReferrers } },
  {
    spec: 'end-3 end-7 end-9',
    path: '/v2/:name/manifests/:reference',
    pattern: /^(.+)\/manifests\/([^/]+)$/,
    methods: { GET: getManifest, HEAD: headManifest, PUT: putManifest, DELETE: deleteManifest }
  },
  { spec: 'end-4 end-11', path: '/v2/:name/blobs/uploads/', pattern: /^(.+)\/blobs\/uploads\/?$/, methods: { POST: startUpload } },
  {
    spec: 'end-5 end-6 end-13',
    path: '/v2/:name/blobs/uploads/:uuid',
    pattern: /^(.+)\/blobs\/uploads\/([^/]+)$/,
    methods: { GET: getUpload, PATCH: patchUpload, PUT: completeUpload, DELETE: cancelUpload },
    access: 'push' // an upload session is part of a push, whatever the method
  },
  { spec: 'end-2 end-10', path: '/v2/:name/blobs/:digest', pattern: /^(.+)\/blobs\/([^/]+)$/, methods: { GET: getBlob, HEAD: headBlob, DELETE: deleteBlob } }
]

export interface RouteMatch {
  handler: OciHandler
  name: string
  target: string
  access: RouteAccess
  /** The route's pattern (Route.path). */
  path: string
}

/** Finds the handler for a path below /v2/. Throws NOT_FOUND, UNSUPPORTED (405) or NAME_INVALID. */
export function matchRoute (method: string, path: string): RouteMatch {
  for (const route of routes) {
    const match = route.pattern.exec(path)
    if (match === null) continue
    const handler = route.methods[method as Method]
    if (handler === undefined) {
      const allow = Object.keys(route.methods).join(', ')
      throw new RegistryError('unsupported', `${method} is not supported on this endpoint`, { allow }, { allow })
    }
    const name = match[1] ?? ''
    if (match[1] !== undefined) assertValidName(name)
    return { handler, name, target: match[2] ?? '', access: route.access ?? accessFor(method as Method), path: route.path }
  }
  throw new RegistryError('not-found', `no /v2 endpoint matches ${path}`)
}

function accessFor (method: Method): RouteAccess {
  return method === 'GET' || method === 'HEAD' ? 'pull' : method === 'DELETE' ? 'delete' : 'push'
}
