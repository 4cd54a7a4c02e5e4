// buildApp(): the HTTP dialects over what createBerth() built (compose.ts), as a Fastify instance that never
// listens (server.ts does), so tests can build one per case and drive it with inject() or a real port. The
// app owns the berth it is given: closing the app closes it.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { cnrApi } from './cnr/index.js'
import type { Berth } from './compose.js'
import { health } from './health.js'
import { answerUnscopedErrors, clientErrorReply, errorReplyByPath } from './http/dialects.js'
import { ociApi } from './oci/index.js'
import { packagesApi } from './packages/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** What this app serves, for tests and operations; the dialects get their services as plugin options. */
    berth: Berth
  }
}

export async function buildApp (berth: Berth): Promise<FastifyInstance> {
  const { config, registry, auth } = berth
  const app = Fastify({
    loggerInstance: berth.log as FastifyBaseLogger,
    // Blob bodies stream straight to the store; per-route limits are enforced where bodies are read.
    bodyLimit: 1024 * 1024,
    // A 1 GiB push over a slow link must not be cut off; idle sockets still time out.
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 75_000,
    return503OnClosing: true,
    // CNR package and release names can be long; Fastify's default is 100 characters per path parameter.
    routerOptions: { maxParamLength: 512 },
    // Errors before routing (a malformed URL, a request the HTTP parser refuses) are answered in the dialect of
    // the API the path belongs to (src/http/dialects.ts), like the errors each API's scope answers itself.
    frameworkErrors: errorReplyByPath,
    clientErrorHandler: clientErrorReply
  })
  answerUnscopedErrors(app)
  app.decorate('berth', berth)
  app.addHook('onClose', async () => { await berth.close() })
  await app.register(health, { driver: berth.driver })
  await auth.bootstrap(app.log)
  await app.register(ociApi, { prefix: '/v2', registry, config, auth })
  await app.register(cnrApi, { service: berth.cnr, auth, config })
  await app.register(packagesApi, { prefix: '/packages', packages: berth.packages, auth, config })
  return app
}
