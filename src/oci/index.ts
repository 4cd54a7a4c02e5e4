// The OCI Distribution v1.1 API under /v2, as one encapsulated Fastify plugin with its own body
// handling and error dialect.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AuthError, tokenEndpoint, type Auth } from '../auth/index.js'
import type { Config } from '../config.js'
import { OCI_CODES, RegistryError, type OciCode } from '../errors/registry-error.js'
import type { Registry } from '../registry/index.js'
import { StorageUnavailableError } from '../storage/driver.js'
import { authorizeOci, ociAuthError } from './access.js'
import { matchRoute } from './routes.js'

export interface OciPluginOptions {
  registry: Registry
  config: Config
  auth: Auth
}

export async function ociApi (app: FastifyInstance, { registry, config, auth }: OciPluginOptions): Promise<void> {
  // Bodies are never parsed here: blob data streams from request.raw to the store, and manifests are
  // read as raw bytes because their digest is computed over exactly what the client sent.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })

  app.addHook('onRequest', async (_request, reply) => {
    reply.header('Docker-Distribution-API-Version', 'registry/2.0')
  })

  app.setErrorHandler(ociErrorHandler)
  app.setNotFoundHandler(async (request, reply) => {
    await ociErrorHandler(new RegistryError('NOT_FOUND', `no /v2 endpoint matches ${request.url}`), request, reply)
  })

  const dispatch = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const rest = (request.params as { '*'?: string })['*'] ?? ''
    const match = matchRoute(request.method, rest)
    const access = await authorizeOci(auth, request, match)
    return await match.handler({ registry, config, request, reply, name: match.name, target: match.target, access })
  }
  // GET/POST /v2/token, the Docker token endpoint (a static route: it wins over the wildcard below).
  await app.register(tokenEndpoint, { auth })
  // OPTIONS is routed too, so it gets 405 with an Allow header rather than a 404.
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
  app.route({ method: methods, url: '/', handler: dispatch, exposeHeadRoute: false })
  app.route({ method: methods, url: '/*', handler: dispatch, exposeHeadRoute: false })
}

/** Renders any error as the OCI envelope {"errors":[{code,message,detail}]}. Never HTML, never a stack. */
export async function ociErrorHandler (err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const error = toRegistryError(err, request)
  if (reply.sent || reply.raw.headersSent) {
    request.raw.destroy() // the response had already started streaming: all we can do is cut it off
    return
  }
  reply.removeHeader('Content-Length') // a handler may have set it for the body it meant to send
  // An error answered before the request body was read (a failed or refused push) leaves the rest of the
  // body unread: close the connection after the answer rather than let the client send into a stalled socket.
  if (!request.raw.complete) reply.header('Connection', 'close')
  await reply.code(error.status)
    .headers(error.headers)
    .type('application/json')
    .send(JSON.stringify({ errors: [{ code: error.code, message: error.message, detail: error.detail }] }))
}

function toRegistryError (err: FastifyError | Error, request: FastifyRequest): RegistryError {
  if (err instanceof RegistryError) return err
  if (err instanceof AuthError) return ociAuthError(err)
  if (err instanceof StorageUnavailableError) {
    // The store (MinIO) is down, slow or refusing us: a temporary condition the client may retry.
    request.log.warn({ err }, 'storage unavailable')
    return new RegistryError('UNAVAILABLE', 'storage is temporarily unavailable', null, { 'Retry-After': '1' })
  }
  const status = (err as FastifyError).statusCode
  if (status !== undefined && status >= 400 && status < 500) {
    // A client error raised by Fastify itself (bad query string, oversized body...).
    return new RegistryError(codeForStatus(status), err.message, null, {}, status)
  }
  request.log.error({ err }, 'request failed')
  return new RegistryError('UNKNOWN', 'internal error')
}

function codeForStatus (status: number): OciCode {
  const match = (Object.keys(OCI_CODES) as OciCode[]).find(code => OCI_CODES[code].status === status)
  return status === 400 || match === undefined ? 'INVALID_REQUEST' : match
}
