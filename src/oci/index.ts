// The OCI Distribution v1.1 API under /v2, as one encapsulated Fastify plugin with its own body
// handling and error dialect.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { tokenEndpoint, type Auth } from '../auth/index.js'
import type { Config } from '../config.js'
import { RegistryError } from '../errors/registry-error.js'
import { errorReply } from '../http/error-reply.js'
import type { MirrorCache } from '../mirror/cache.js'
import type { Registry } from '../registry/index.js'
import { authorizeOci } from './access.js'
import { ociDialect } from './errors.js'
import { matchRoute } from './routes.js'

export interface OciPluginOptions {
  registry: Registry
  config: Config
  auth: Auth
  /** The pull-through cache, when mirrors are configured (src/mirror/cache.ts). */
  mirror?: MirrorCache | undefined
}

/** Renders any error as the OCI envelope {"errors":[{code,message,detail}]}. Never HTML, never a stack. */
export const ociErrorHandler = errorReply(ociDialect)

export async function ociApi (app: FastifyInstance, { registry, config, auth, mirror }: OciPluginOptions): Promise<void> {
  // Bodies are never parsed here: blob data streams from request.raw to the store, and manifests are
  // read as raw bytes because their digest is computed over exactly what the client sent.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })

  app.addHook('onRequest', async (_request, reply) => {
    reply.header('Docker-Distribution-API-Version', 'registry/2.0')
  })

  app.setErrorHandler(ociErrorHandler)
  app.setNotFoundHandler(async (request, reply) => {
    await ociErrorHandler(new RegistryError('not-found', `no /v2 endpoint matches ${request.url}`), request, reply)
  })

  const dispatch = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const rest = (request.params as { '*'?: string })['*'] ?? ''
    const match = matchRoute(request.method, rest)
    request.metricsRoute = match.path
    const access = await authorizeOci(auth, request, match)
    if (mirror !== undefined && (match.access === 'push' || match.access === 'delete')) mirror.assertWritable(match.name)
    // Only names under a mirror prefix carry the cache into the handlers.
    const mirrored = mirror !== undefined && mirror.covers(match.name) ? mirror : undefined
    return await match.handler({ registry, config, request, reply, name: match.name, target: match.target, access, mirror: mirrored })
  }
  // GET/POST /v2/token, the Docker token endpoint (a static route: it wins over the wildcard below).
  await app.register(tokenEndpoint, { auth })
  // OPTIONS is routed too, so it gets 405 with an Allow header rather than a 404.
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
  app.route({ method: methods, url: '/', handler: dispatch, exposeHeadRoute: false })
  app.route({ method: methods, url: '/*', handler: dispatch, exposeHeadRoute: false })
}
