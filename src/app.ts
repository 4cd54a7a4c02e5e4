// buildApp(): the whole server as a Fastify instance that never listens (server.ts does), so tests
// can build one per case and drive it with inject() or a real port.
import Fastify, { type FastifyInstance } from 'fastify'
import { createAuth, requestSerializer, type Auth } from './auth/index.js'
import type { Config } from './config.js'
import { cnrApi, cnrErrorHandler, isCnrPath } from './cnr/index.js'
import { health } from './health.js'
import { ociApi, ociErrorHandler } from './oci/index.js'
import { packagesApi } from './packages/index.js'
import { createRegistry, type Registry } from './registry/index.js'
import type { StorageDriver } from './storage/driver.js'
import { createDriver } from './storage/factory.js'

export interface BuildOptions {
  config: Config
  /** Use this driver instead of the configured one (tests). */
  driver?: StorageDriver
  logger?: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    registry: Registry
    auth: Auth
  }
}

export async function buildApp ({ config, driver, logger = true }: BuildOptions): Promise<FastifyInstance> {
  const store = driver ?? await createDriver(config.storage)
  const registry = createRegistry(store, { uploadTtlMs: config.uploadTtlMs, sparseManifests: config.sparseManifests })
  const app = Fastify({
    logger: logger && {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
      serializers: { req: requestSerializer } // masks secrets in query strings (src/auth/log.ts)
    },
    // Blob bodies stream straight to the store; per-route limits are enforced where bodies are read.
    bodyLimit: 1024 * 1024,
    // A 1 GiB push over a slow link must not be cut off; idle sockets still time out.
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 75_000,
    return503OnClosing: true,
    // CNR package and release names can be long; Fastify's default is 100 characters per path parameter.
    routerOptions: { maxParamLength: 512 },
    // Malformed URLs (bad percent-encoding) fail before routing; answer them in the API's dialect too.
    frameworkErrors: (err, request, reply) => {
      if (isCnrPath(request.url)) {
        void cnrErrorHandler(err, request, reply)
        return
      }
      reply.header('Docker-Distribution-API-Version', 'registry/2.0')
      void ociErrorHandler(err, request, reply)
    }
  })
  app.decorate('registry', registry)
  await app.register(health, { driver: store })
  const auth = createAuth(store, config.auth)
  await auth.bootstrap(app.log)
  app.decorate('auth', auth)
  await app.register(ociApi, { prefix: '/v2', registry, config, auth })
  await app.register(cnrApi, { registry, config })
  await app.register(packagesApi, { prefix: '/packages', registry, config })
  app.addHook('onClose', async () => { await store.close() })
  return app
}
