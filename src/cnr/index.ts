// The CNR/APPR app-registry API, served below /cnr (what appr and cnr clients use) and below / (what
// CNR-era curl scripts use): /version and /api/v1/... in both places. Each mount is an encapsulated scope
// with its own body parser (any body is read as bytes and then as JSON, whatever its Content-Type), its
// own error and not-found handlers (always the CNR error body), and CORS as APPR had it. The package index
// is kept by a registry-event subscriber (index-projector.ts), not by this plugin.
import type { FastifyInstance } from 'fastify'
import type { Auth } from '../auth/index.js'
import type { Config } from '../config.js'
import type { MirrorCache } from '../mirror/cache.js'
import { MIRROR_HEADER, withMirrorNote } from '../mirror/notes.js'
import { CnrError, cnrErrorHandler } from './errors.js'
import { API_VERSION } from './media-types.js'
import { buildOpenApi } from './openapi.js'
import { routes, type CnrContext, type Method } from './routes.js'
import { packageName, type CnrService } from './service.js'

export interface CnrPluginOptions {
  service: CnrService
  auth: Auth
  config: Config
  /** Pushes and deletes under a read-only mirror prefix are refused (403), as on /v2. */
  mirror?: Pick<MirrorCache, 'assertWritable' | 'covers'> | undefined
}

/** Push bodies carry the tarball base64-encoded inside JSON. */
const MAX_BODY_BYTES = 64 * 1024 * 1024

const ALL_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

/** Each mount answers /version in its own dialect: appr-server's below /cnr, cnr-server's below /. */
const VERSION_BODIES = {
  appr: { 'appr-api': API_VERSION },
  cnr: { 'cnr-api': API_VERSION }
} as const

interface ScopeOptions extends CnrPluginOptions {
  /** The OpenAPI document as JSON, built on its first request. */
  openapi: () => string
}

/** Body parsing, CORS and error rendering for one mount (and its 404s, unless it is mounted at /). */
async function cnrScope (app: FastifyInstance, { notFound = true } = {}): Promise<void> {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES }, (_request, body, done) => { done(null, body) })
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('Access-Control-Allow-Origin', '*')
    return payload
  })
  app.setErrorHandler(cnrErrorHandler)
  if (!notFound) return
  app.setNotFoundHandler(async (request, reply) => {
    await cnrErrorHandler(new CnrError('resource-not-found', `no CNR endpoint matches ${request.method} ${request.url}`, { path: request.url }), request, reply)
  })
}

/** Both spellings of a path: with and without a trailing slash. */
const spellings = (path: string): string[] => [path, `${path}/`]

/** The /api/v1 routes of one mount. */
async function apiV1 (app: FastifyInstance, { service, auth, config, mirror, openapi }: ScopeOptions): Promise<void> {
  await cnrScope(app)
  const root = app.prefix
  const methodsByPath = new Map<string, Set<Method>>()
  for (const route of routes) {
    methodsByPath.set(route.path, (methodsByPath.get(route.path) ?? new Set()).add(route.method))
    for (const url of spellings(route.path)) {
      app.route({
        method: route.method,
        url,
        handler: async (request, reply) => {
          const c: CnrContext = { service, auth, config, request, reply, p: request.params as Record<string, string>, root }
          // Authorization comes first: a caller who may not see a package learns nothing about it.
          if (route.access !== undefined) {
            const name = packageName(c.p.namespace ?? '', c.p.package ?? '')
            await auth.requireAccess(request, name, route.access)
            if (route.access !== 'pull') mirror?.assertWritable(name)
            else if (mirror?.covers(name) === true) {
              return await withMirrorNote(value => { reply.header(MIRROR_HEADER, value) }, async () => await route.handler(c))
            }
          }
          return await route.handler(c)
        }
      })
    }
  }
  // A known path with a method it does not serve: 405 with Allow, as APPR answered (in HTML).
  for (const [path, methods] of methodsByPath) {
    const allow = [...methods].join(', ')
    const others = ALL_METHODS.filter(m => !methods.has(m as Method))
    for (const url of spellings(path)) {
      app.route({
        method: others,
        url,
        handler: async request => {
          throw new CnrError('method-not-allowed', `${request.method} is not allowed on ${request.url} (allowed: ${allow})`, { allow }, { Allow: allow })
        }
      })
    }
  }
  for (const url of spellings('/openapi.json')) {
    app.get(url, async (_request, reply) => await reply.type('application/json').send(openapi()))
  }
}

/** GET /version, in the scope it is registered in. */
function versionRoute (app: FastifyInstance, dialect: keyof typeof VERSION_BODIES): void {
  const body = VERSION_BODIES[dialect]
  for (const url of spellings('/version')) app.get(url, async () => body)
}

export async function cnrApi (app: FastifyInstance, { service, auth, config, mirror }: CnrPluginOptions): Promise<void> {
  let document: string | undefined
  const openapi = (): string => (document ??= JSON.stringify(buildOpenApi(routes)))
  // Below /cnr: one scope, whose not-found handler also answers unknown /cnr/... paths.
  await app.register(async cnr => {
    await cnrScope(cnr)
    versionRoute(cnr, 'appr')
    await cnr.register(apiV1, { prefix: '/api/v1', service, auth, config, mirror, openapi })
  }, { prefix: '/cnr' })
  // Below /: the same API, and /version in a scope of its own (the root's 404 stays the root's).
  await app.register(apiV1, { prefix: '/api/v1', service, auth, config, mirror, openapi })
  await app.register(async root => {
    await cnrScope(root, { notFound: false })
    versionRoute(root, 'cnr')
  })
}


export { cnrErrorHandler }
