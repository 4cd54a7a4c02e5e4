// The registry's domain services, wired once over one storage driver. HTTP-free: the API surfaces call these,
// and the services tell `events` of every write they make.
import { createMarks } from '../gc/marks.js'
import type { StorageDriver } from '../storage/driver.js'
import { createBlobs } from './blobs.js'
import { createCatalog } from './catalog.js'
import { createContentCache } from './content-cache.js'
import type { RegistryEvents } from './events.js'
import { createManifests } from './manifests.js'
import { createReferrers } from './referrers.js'
import { createTags } from './tags.js'
import { createUploads } from './uploads.js'

export interface RegistryOptions {
  uploadTtlMs: number
  /** Told of every durable write (see events.ts). */
  events: RegistryEvents
  /** Accept manifests that reference absent child manifests or layers (BERTH_SPARSE_MANIFESTS). */
  sparseManifests?: boolean
  /** Garbage-collection grace period (BERTH_GC_GRACE_SECONDS): sets how often pushes refresh liveness marks. */
  gcGraceMs?: number
}

/** Without a configured grace period (tests that build a registry alone): a day, as BERTH_GC_GRACE_SECONDS. */
const DEFAULT_GC_GRACE_MS = 24 * 3600_000

export function createRegistry (driver: StorageDriver, options: RegistryOptions) {
  const { events } = options
  const catalog = createCatalog(driver, events)
  const content = createContentCache()
  const marks = createMarks(driver, { graceMs: options.gcGraceMs ?? DEFAULT_GC_GRACE_MS })
  const blobs = createBlobs(driver, catalog, events, content, marks)
  const tags = createTags(driver, events, marks)
  const referrers = createReferrers(driver)
  const manifests = createManifests(driver, { blobs, tags, referrers, catalog, events, content, marks }, { sparse: options.sparseManifests ?? false })
  const uploads = createUploads(driver, blobs, { ttlMs: options.uploadTtlMs })
  return { driver, events, marks, catalog, blobs, tags, referrers, manifests, uploads }
}

export type Registry = ReturnType<typeof createRegistry>
