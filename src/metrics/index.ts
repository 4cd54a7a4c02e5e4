// Prometheus metrics (GET /metrics, see plugin.ts): what one Berth process counts, in a prom-client Registry
// of its own, plus the process metrics prom-client collects (once per process, in processRegistry()).
//
// The other areas report through the small API on Metrics: recordGcRun(), recordWebhookDelivery() and
// registerQuotaUsage(). The hot paths (requests, store operations) count into plain objects (series.ts).
import cluster from 'node:cluster'
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { StorageDriver } from '../storage/driver.js'
import { HttpStats, type RequestSeries } from './http-stats.js'
import { registerCounter, registerHistogram } from './series.js'
import { InstrumentedDriver, createStoreStats, type OperationStats } from './store.js'

export const CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE

/** What a GC run did (a dry run deletes nothing: it only counts as a run). */
export interface GcRunReport {
  /** Objects deleted, by kind: blobs, manifests, layerLinks, manifestLinks, tags, uploads, ... */
  deleted: Readonly<Record<string, number>>
  reclaimedBytes: number
  durationSeconds: number
  dryRun: boolean
}

export type WebhookOutcome = 'delivered' | 'failed' | 'retrying'

export interface NamespaceUsage {
  namespace: string
  usedBytes: number
  /** The namespace's quota, when it has one. */
  limitBytes?: number
}

let processMetrics: Registry | undefined
/**
 * The process metrics (CPU, memory, event-loop lag, GC, handles), registered once per process however many
 * Berth instances it builds (tests build many): their collectors watch the process from the first call on.
 */
export function processRegistry (): Registry {
  if (processMetrics === undefined) {
    processMetrics = new Registry()
    collectDefaultMetrics({ register: processMetrics })
  }
  return processMetrics
}

export function createMetrics (driverName: string) {
  const registry = new Registry()
  const http = new HttpStats()
  const store = createStoreStats(driverName)
  const storeOps = Object.values(store.operations)

  const requests = (): RequestSeries[] => http.all
  registerCounter(registry, 'berth_http_requests_total', 'HTTP requests answered, by dialect, method, route pattern and status.',
    requests, s => s.count)
  registerHistogram(registry, 'berth_http_request_duration_seconds', 'Time from a request\'s arrival to the end of its response.',
    requests)
  const withoutStatus = ({ labels: { status: _status, ...rest } }: RequestSeries): Record<string, string> => rest
  registerCounter(registry, 'berth_http_received_bytes_total', 'Request body bytes read from clients, by dialect, method and route pattern.',
    requests, s => s.received, withoutStatus)
  registerCounter(registry, 'berth_http_sent_bytes_total', 'Response body bytes written to clients (blob streams included), by dialect, method and route pattern.',
    requests, s => s.sent, withoutStatus)

  const operations = (): OperationStats[] => storeOps
  registerCounter(registry, 'berth_store_operations_total', 'Store operations, by driver and operation.', operations, s => s.count)
  registerHistogram(registry, 'berth_store_operation_duration_seconds', 'Store operation latency (a read until its stream is open).', operations)
  registerCounter(registry, 'berth_store_errors_total', 'Store operations that failed (not-found answers are not failures).', operations, s => s.errors)
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'berth_uploads_in_flight',
    help: 'Upload requests streaming a body into the store now.',
    registers: [registry],
    collect () { this.set(store.uploadsInFlight) }
  })

  const gcRuns = new Counter({ name: 'berth_gc_runs_total', help: 'Garbage-collection runs, by mode (delete or dry-run).', labelNames: ['mode'], registers: [registry] })
  const gcDeleted = new Counter({ name: 'berth_gc_deleted_objects_total', help: 'Objects garbage collection deleted, by kind.', labelNames: ['kind'], registers: [registry] })
  const gcReclaimed = new Counter({ name: 'berth_gc_reclaimed_bytes_total', help: 'Bytes of blobs garbage collection deleted.', registers: [registry] })
  const gcDuration = new Histogram({
    name: 'berth_gc_run_duration_seconds',
    help: 'Duration of garbage-collection runs, by mode.',
    labelNames: ['mode'],
    buckets: [1, 5, 15, 60, 300, 900, 3600],
    registers: [registry]
  })
  const webhookDeliveries = new Counter({
    name: 'berth_webhook_deliveries_total',
    help: 'Webhook delivery attempts, by outcome (delivered; retrying: failed, will be retried; failed: given up).',
    labelNames: ['outcome'],
    registers: [registry]
  })

  // Quota usage is read from the store when scraped. Every worker would report the same figures: the
  // cluster keeps the largest (one answer), not their sum.
  let usage: (() => Promise<NamespaceUsage[]>) | undefined
  let reading: Promise<NamespaceUsage[]> | undefined
  /** One read per scrape, shared by both gauges (the registry collects them concurrently). */
  const readUsage = async (): Promise<NamespaceUsage[]> => {
    if (usage === undefined) return []
    reading ??= usage().finally(() => { reading = undefined })
    return await reading
  }
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'berth_quota_usage_bytes',
    help: 'Bytes stored per namespace, as the quota counts them.',
    labelNames: ['namespace'],
    aggregator: 'max',
    registers: [registry],
    async collect () {
      this.reset()
      for (const u of await readUsage()) this.set({ namespace: u.namespace }, u.usedBytes)
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'berth_quota_limit_bytes',
    help: 'The storage quota of each namespace that has one.',
    labelNames: ['namespace'],
    aggregator: 'max',
    registers: [registry],
    async collect () {
      this.reset()
      for (const u of await readUsage()) if (u.limitBytes !== undefined) this.set({ namespace: u.namespace }, u.limitBytes)
    }
  })

  return {
    registry,
    http,
    store,

    /** `driver`, with every operation timed and counted. */
    instrument (driver: StorageDriver): StorageDriver {
      return new InstrumentedDriver(driver, store)
    },

    recordGcRun ({ deleted, reclaimedBytes, durationSeconds, dryRun }: GcRunReport): void {
      const mode = dryRun ? 'dry-run' : 'delete'
      gcRuns.inc({ mode })
      gcDuration.observe({ mode }, durationSeconds)
      if (dryRun) return
      for (const [kind, n] of Object.entries(deleted)) if (n > 0) gcDeleted.inc({ kind }, n)
      if (reclaimedBytes > 0) gcReclaimed.inc(reclaimedBytes)
    },

    recordWebhookDelivery ({ outcome }: { outcome: WebhookOutcome }): void {
      webhookDeliveries.inc({ outcome })
    },

    /** Quota usage per namespace comes from `read`, called when /metrics is scraped (the last one given wins). */
    registerQuotaUsage (read: () => Promise<NamespaceUsage[]>): void {
      usage = read
    },

    /** This process's metrics in the Prometheus text format: process metrics first, then Berth's. */
    async render (): Promise<string> {
      return `${await processRegistry().metrics()}\n${await registry.metrics()}`
    },

    /**
     * In a cluster worker: answers the primary's requests for this worker's figures (prom-client's
     * AggregatorRegistry protocol), so that the primary can sum every worker's (see cluster.ts).
     */
    joinCluster (): void {
      if (!cluster.isWorker) return
      AggregatorRegistry.setRegistries([processRegistry(), registry])
      // eslint-disable-next-line no-new
      new AggregatorRegistry() // installs the worker's listener
    }
  }
}

export type Metrics = ReturnType<typeof createMetrics>
