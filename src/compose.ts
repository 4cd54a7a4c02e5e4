// createBerth(): what one Berth process is made of, built once for the server, the CLI and the tests: the
// store, the registry services and their events, auth, and the CNR and /packages services, with the CNR
// package index subscribed to the registry events. buildApp() (app.ts) puts the HTTP dialects on top.
import { pino, type Logger } from 'pino'
import { createAuth } from './auth/index.js'
import { requestSerializer } from './auth/log.js'
import { createIndexProjector } from './cnr/index-projector.js'
import { createCnrService } from './cnr/service.js'
import type { Config } from './config.js'
import { RULES_CACHE_MS, createGovernance } from './governance/index.js'
import { createMetrics } from './metrics/index.js'
import { createGc } from './gc/index.js'
import { createMirrorCache } from './mirror/cache.js'
import { createReplication } from './mirror/replicate.js'
import { createMirrorSync } from './mirror/sync.js'
import { createPackageService } from './packages/service.js'
import { createEvents } from './registry/events.js'
import { createRegistry } from './registry/index.js'
import type { StorageDriver } from './storage/driver.js'
import { createDriver } from './storage/factory.js'
import { createWebhooks, type DeliveryReport } from './webhooks/index.js'

export interface BerthOptions {
  /** Use this driver instead of the configured one (tests). */
  driver?: StorageDriver
  /** Log here instead of stdout at the configured level (the CLI logs to stderr). */
  logger?: Logger
  /** Told of every webhook delivery attempt (for metrics; see src/webhooks/index.ts). */
  onWebhookDelivery?: (report: DeliveryReport) => void
}

/** The process logger: the configured level, credentials redacted (src/auth/log.ts masks query strings). */
export function createLogger (config: Config, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level: config.logLevel,
    redact: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
    serializers: { req: requestSerializer }
  }
  // process.stdout rather than pino's own fd writer: when the reader of our stdout is gone (a supervisor or test
  // that died), that writer's flush at exit never finishes and the process would outlive its shutdown.
  return pino(options, destination ?? process.stdout)
}

export async function createBerth (config: Config, { driver, logger, onWebhookDelivery }: BerthOptions = {}) {
  const log = logger ?? createLogger(config)
  const configured = driver ?? await createDriver(config.storage)
  // Every service reaches the store through the metrics' timing wrapper (src/metrics/store.ts).
  const metrics = createMetrics(configured.name)
  const store = metrics.instrument(configured)
  const events = createEvents(log)
  // Immutable tags and quotas; rules are cached as briefly as auth records (the CLI reads them uncached).
  const governance = createGovernance(store, { cacheMs: Math.min(RULES_CACHE_MS, config.auth.cacheTtlMs) })
  const registry = createRegistry(store, {
    uploadTtlMs: config.uploadTtlMs,
    sparseManifests: config.sparseManifests,
    events,
    guard: governance.guard,
    gcGraceMs: config.gc.graceMs
  })
  const auth = createAuth(store, config.auth)
  // The pull-through cache, only when BERTH_MIRRORS names mirrors; the CNR and /packages reads use it too.
  const mirror = config.mirrors.length === 0 ? undefined : createMirrorCache(registry, config.mirrors, {
    log,
    onRequest: (name, result) => { metrics.recordMirrorRequest(name, result) },
    onFetched: (name, bytes) => { metrics.recordMirrorFetched(name, bytes) }
  })
  const cnr = createCnrService(registry, { mirror })
  const cnrIndex = createIndexProjector(cnr, registry.catalog)
  const unsubscribe = cnrIndex.subscribe(events)
  const unsubscribeUsage = governance.subscribe(events)
  metrics.registerQuotaUsage(async () => await governance.quotaUsage())
  const packages = createPackageService(registry, { mirror })
  // Subscribed after the CNR index, so a receiver told of a write finds the index already updated.
  const webhooks = createWebhooks(store, config.webhooks, {
    log,
    onDelivery: report => {
      metrics.recordWebhookDelivery(report)
      onWebhookDelivery?.(report)
    }
  })
  const unsubscribeWebhooks = webhooks.subscribe(events)
  const gc = createGc(registry, config.gc, log)
  gc.onRun(({ deleted, reclaimedBytes, durationMs, dryRun }) => {
    metrics.recordGcRun({ deleted, reclaimedBytes, durationSeconds: durationMs / 1000, dryRun })
  })
  // Scheduled sync and push replication (src/mirror): replication queues a copy for each matching push.
  const mirrorSync = createMirrorSync(registry, config.mirrorSync.mirrors, {
    log,
    onRun: ({ mirror, copied, written }) => {
      metrics.recordMirrorSync(mirror, { tag: copied.length, manifest: written.manifests, blob: written.blobs, referrer: written.referrers })
    }
  })
  const replication = createReplication(registry, config.mirrorSync.replication, {
    log, onPush: ({ rule, outcome }) => { metrics.recordReplicationPush(rule, outcome) }
  })
  const unsubscribeReplication = replication.subscribe(events)
  return {
    config,
    log,
    driver: store,
    events,
    registry,
    auth,
    cnr,
    cnrIndex,
    packages,
    governance,
    metrics,
    webhooks,
    gc,
    mirror,
    mirrorSync,
    replication,
    async close (): Promise<void> {
      await gc.close()
      await mirrorSync.close()
      unsubscribeReplication()
      await replication.stop()
      unsubscribe()
      unsubscribeUsage()
      unsubscribeWebhooks()
      await webhooks.stop()
      await store.close()
    }
  }
}

export type Berth = Awaited<ReturnType<typeof createBerth>>
