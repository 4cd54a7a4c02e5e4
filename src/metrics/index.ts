// Prometheus metrics (GET /metrics, see plugin.ts): what one Berth process counts, in a prom-client Registry
// of its own, plus the process metrics prom-client collects (once per process, in processRegistry()).
//
// The other areas report through the small API on Metrics: recordGcRun(), recordWebhookDelivery(),
// recordMirrorRequest(), recordMirrorFetched() and registerQuotaUsage(). The hot paths (requests, store
// operations) count into plain objects (series.ts).
import type { Registry } from 'prom-client'
import type { StorageDriver } from '../storage/driver.js'
import { answerGathers } from './cluster.js'
import { HttpStats, type RequestSeries } from './http-stats.js'
import { Tally, Timing, registerCounter, registerGauge, registerHistogram } from './series.js'
import { InstrumentedDriver, createStoreStats, type OperationStats } from './store.js'

/** prom-client's Registry.PROMETHEUS_CONTENT_TYPE, without loading prom-client to read it. */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** What a GC run did (a dry run deletes nothing: it only counts as a run). */
export interface GcRunReport {
  /** Objects deleted, by kind: tag, manifest, layerLink, blob, abandonedWrite, upload (src/gc). */
  deleted: Readonly<Record<string, number>>
  reclaimedBytes: number
  durationSeconds: number
  dryRun: boolean
}

export type WebhookOutcome = 'delivered' | 'failed' | 'retrying'

export type MirrorResult = 'hit' | 'miss' | 'stale' | 'error'

export interface NamespaceUsage {
  namespace: string
  usedBytes: number
  /** The namespace's quota, when it has one. */
  limitBytes?: number
}

const GC_DURATION_BUCKETS: readonly number[] = [1, 5, 15, 60, 300, 900, 3600]

let processMetrics: Promise<Registry> | undefined
/**
 * The process metrics (CPU, memory, event-loop lag, GC, handles), registered once per process however many
 * Berth instances it builds (tests build many), from the first scrape on: CPU and memory are read whole
 * when scraped, the event-loop and GC histograms count from then.
 */
export async function processRegistry (): Promise<Registry> {
  processMetrics ??= import('prom-client').then(({ Registry, collectDefaultMetrics }) => {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })
    return registry
  })
  return await processMetrics
}

export function createMetrics (driverName: string) {
  const http = new HttpStats()
  const store = createStoreStats(driverName)
  const storeOps = Object.values(store.operations)

  // GC and webhooks count rarely; they keep plain tallies too, so that nothing here needs prom-client.
  const gcRuns = new Tally()
  const gcDeleted = new Tally()
  const gcReclaimed = new Tally()
  const gcDurations = new Map<string, Timing>()
  const webhookDeliveries = new Tally()
  const mirrorRequests = new Tally()
  const mirrorFetchedBytes = new Tally()
  const mirrorSynced = new Tally()
  const replicationPushes = new Tally()

  // Quota usage is read from the store when scraped, once per scrape for both gauges.
  let usage: (() => Promise<NamespaceUsage[]>) | undefined
  let reading: Promise<NamespaceUsage[]> | undefined
  const readUsage = async (): Promise<NamespaceUsage[]> => {
    if (usage === undefined) return []
    reading ??= usage().finally(() => { reading = undefined })
    return await reading
  }

  /** Berth's families, over the figures above; prom-client is loaded by the first scrape, not at start-up. */
  async function buildRegistry (): Promise<Registry> {
    const { Registry } = await import('prom-client')
    const registry = new Registry()
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
    registerGauge(registry, 'berth_uploads_in_flight', 'Upload requests streaming a body into the store now.',
      async () => [{ labels: {}, value: store.uploadsInFlight }])

    const tallied = (tally: Tally) => () => tally.series
    registerCounter(registry, 'berth_gc_runs_total', 'Garbage-collection runs, by mode (delete or dry-run).', tallied(gcRuns), s => s.value)
    registerCounter(registry, 'berth_gc_deleted_objects_total', 'Objects garbage collection deleted, by kind.', tallied(gcDeleted), s => s.value)
    registerCounter(registry, 'berth_gc_reclaimed_bytes_total', 'Bytes of blobs, abandoned writes and uploads garbage collection deleted.', tallied(gcReclaimed), s => s.value)
    registerHistogram(registry, 'berth_gc_run_duration_seconds', 'Duration of garbage-collection runs, by mode.', () => gcDurations.values())
    registerCounter(registry, 'berth_webhook_deliveries_total',
      'Webhook delivery attempts, by outcome (delivered; retrying: failed, will be retried; failed: given up).',
      tallied(webhookDeliveries), s => s.value)
    registerCounter(registry, 'berth_mirror_requests_total',
      'Pulls of mirrored names, by mirror and result (hit: served from the store; miss: fetched upstream; stale: served while the upstream failed; error: the upstream failed and nothing was held).',
      tallied(mirrorRequests), s => s.value)
    registerCounter(registry, 'berth_mirror_fetched_bytes_total', 'Bytes of manifests and blobs fetched from upstream registries, by mirror.',
      tallied(mirrorFetchedBytes), s => s.value)
    registerCounter(registry, 'berth_mirror_synced_objects_total', 'Objects the scheduled mirror sync copied in, by mirror and kind (tag, manifest, blob, referrer).',
      tallied(mirrorSynced), s => s.value)
    registerCounter(registry, 'berth_replication_pushes_total',
      'Push-replication copies, by rule and outcome (pushed, skipped-unsigned, retrying, failed).', tallied(replicationPushes), s => s.value)

    // Every worker reads the same usage from the store: the cluster keeps the largest (one answer), not the sum.
    registerGauge(registry, 'berth_quota_usage_bytes', 'Bytes stored per namespace, as the quota counts them.',
      async () => (await readUsage()).map(u => ({ labels: { namespace: u.namespace }, value: u.usedBytes })), 'max')
    registerGauge(registry, 'berth_quota_limit_bytes', 'The storage quota of each namespace that has one.',
      async () => (await readUsage()).flatMap(u => u.limitBytes === undefined ? [] : [{ labels: { namespace: u.namespace }, value: u.limitBytes }]), 'max')
    return registry
  }
  let registry: Promise<Registry> | undefined
  const berthRegistry = async (): Promise<Registry> => await (registry ??= buildRegistry())

  return {
    http,
    store,

    /** `driver`, with every operation timed and counted. */
    instrument (driver: StorageDriver): StorageDriver {
      return new InstrumentedDriver(driver, store)
    },

    recordGcRun ({ deleted, reclaimedBytes, durationSeconds, dryRun }: GcRunReport): void {
      const mode = dryRun ? 'dry-run' : 'delete'
      gcRuns.add({ mode })
      let timing = gcDurations.get(mode)
      if (timing === undefined) gcDurations.set(mode, timing = new Timing({ mode }, GC_DURATION_BUCKETS))
      timing.observe(durationSeconds)
      if (dryRun) return
      for (const [kind, n] of Object.entries(deleted)) if (n > 0) gcDeleted.add({ kind }, n)
      if (reclaimedBytes > 0) gcReclaimed.add({}, reclaimedBytes)
    },

    recordWebhookDelivery ({ outcome }: { outcome: WebhookOutcome }): void {
      webhookDeliveries.add({ outcome })
    },

    recordMirrorRequest (mirror: string, result: MirrorResult): void {
      mirrorRequests.add({ mirror, result })
    },

    recordMirrorFetched (mirror: string, bytes: number): void {
      if (bytes > 0) mirrorFetchedBytes.add({ mirror }, bytes)
    },

    /** What one mirror sync run copied in (src/mirror/sync.ts). */
    recordMirrorSync (mirror: string, counts: Readonly<Record<'tag' | 'manifest' | 'blob' | 'referrer', number>>): void {
      for (const [kind, n] of Object.entries(counts)) if (n > 0) mirrorSynced.add({ mirror, kind }, n)
    },

    recordReplicationPush (rule: string, outcome: string): void {
      replicationPushes.add({ rule, outcome })
    },

    /** Quota usage per namespace comes from `read`, called when /metrics is scraped (the last one given wins). */
    registerQuotaUsage (read: () => Promise<NamespaceUsage[]>): void {
      usage = read
    },

    /** This process's metrics in the Prometheus text format: process metrics first, then Berth's. */
    async render (): Promise<string> {
      const [process, berth] = await Promise.all([processRegistry(), berthRegistry()])
      return `${await process.metrics()}\n${await berth.metrics()}`
    },

    /**
     * In a cluster worker: answers the primary's requests for this worker's figures (as prom-client's
     * getMetricsAsJSON() gives them), so that the primary can sum every worker's (see cluster.ts).
     */
    joinCluster (): void {
      answerGathers(async () => {
        const [process, berth] = await Promise.all([processRegistry(), berthRegistry()])
        return [...await process.getMetricsAsJSON(), ...await berth.getMetricsAsJSON()]
      })
    }
  }
}

export type Metrics = ReturnType<typeof createMetrics>
