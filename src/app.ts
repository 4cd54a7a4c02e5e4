// buildApp(): the HTTP dialects over what createBerth() built (compose.ts), as a Fastify instance that never
// listens (server.ts does), so tests can build one per case and drive it with inject() or a real port. The
// app owns the berth it is given: closing the app closes it.
import { createRequire } from 'node:module'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { cnrApi } from './cnr/index.js'
import type { Berth } from './compose.js'
import { health } from './health.js'
import { metricsApi } from './metrics/plugin.js'
import { answerUnscopedErrors, clientErrorReply, errorReplyByPath } from './http/dialects.js'
import { ociApi } from './oci/index.js'
import { packagesApi } from './packages/index.js'
import { sessionToAuthorization } from './ui/session.js'
import { wantsHtml, webUi } from './ui/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** What this app serves, for tests and operations; the dialects get their services as plugin options. */
    berth: Berth
  }
}

// Fastify loads ajv and fast-json-stringify when it is constructed, to compile route schemas. Berth's routes
// declare none, so its compilers are built the first time a route with a schema asks for one (never, today),
// and those modules stay unloaded (a few MiB in every process). Same compilers, same pooling.
const requireFromFastify = createRequire(import.meta.resolve('fastify'))
type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>
type Builder = (...args: unknown[]) => unknown
/** A builder that requires `module` (a function returning the real builder) the first time it is called. */
function builtOnFirstUse (module: string): Builder {
  let builder: Builder | undefined
  return (...args) => (builder ??= (requireFromFastify(module) as () => Builder)())(...args)
}
const compilersFactory = {
  buildValidator: builtOnFirstUse('@fastify/ajv-compiler'),
  buildSerializer: builtOnFirstUse('@fastify/fast-json-stringify-compiler')
} as unknown as CompilersFactory

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
    clientErrorHandler: clientErrorReply,
    schemaController: { compilersFactory }
  })
  answerUnscopedErrors(app)
  app.decorate('berth', berth)
  app.addHook('onClose', async () => { await berth.close() })
  // First: it labels every route registered after it (src/metrics/plugin.ts).
  await app.register(metricsApi, { metrics: berth.metrics, ...(config.metricsToken === undefined ? {} : { token: config.metricsToken }) })
  // A serving replica sends webhooks from the shared outbox (the CLI and inject-only tests do not listen).
  app.addHook('onListen', () => { berth.webhooks.start() })
  await app.register(health, { driver: berth.driver })
  await auth.bootstrap(app.log)
  // The web UI (src/ui/): its session cookie authorizes API requests from its pages as their user's own token
  // would; a browser opening / is sent to it, API clients get what they got before.
  app.addHook('onRequest', sessionToAuthorization)
  await app.register(webUi, { prefix: '/ui', auth, registry, storage: {
    list: async () => await berth.governance.storageUsage(),
    measure: async namespace => await berth.governance.measure(namespace, registry.catalog)
  } })
  app.get('/', async (request, reply) => wantsHtml(request) ? await reply.redirect('/ui/', 302) : reply.callNotFound())
  await app.register(ociApi, { prefix: '/v2', registry, config, auth, mirror: berth.mirror })
  await app.register(cnrApi, { service: berth.cnr, auth, config, mirror: berth.mirror })
  await app.register(packagesApi, { prefix: '/packages', packages: berth.packages, auth, config, mirror: berth.mirror })
  berth.mirrorSync.start() // scheduled mirror syncs, one replica per mirror at a time; stopped when the berth closes
  berth.replication.start() // push replication from the shared outbox
  berth.gc.start() // background collections, one replica at a time; stopped when the berth closes
  return app
}
