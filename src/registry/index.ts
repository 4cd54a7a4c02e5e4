// The registry's domain services, wired once over one storage driver. HTTP-free: the API surfaces call these,
// and the services tell `events` of every write they make.
import { DEFAULT_GC_GRACE_MS, createMarks } from '../gc/marks.js'
import type { StorageDriver } from '../storage/driver.js'
import { createBlobs } from './blobs.js'
import { createCatalog } from './catalog.js'
import { createContentCache } from './content-cache.js'
import type { RegistryEvents } from './events.js'
import { allowAll, type RegistryGuard } from './guard.js'
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
  /** Immutable tags and quotas (src/governance); without one every write is allowed. */
  guard?: RegistryGuard
  /** Garbage-collection grace period (BERTH_GC_GRACE_SECONDS): sets how often pushes refresh liveness marks. */
  gcGraceMs?: number
}

/** Without a configured grace period (tests that build a registry alone): a day, as BERTH_GC_GRACE_SECONDS. */

export function createRegistry (driver: StorageDriver, options: RegistryOptions) {
  const { events, guard = allowAll } = options
  const catalog = createCatalog(driver, events)
  const content = createContentCache()
  const marks = createMarks(driver, { graceMs: options.gcGraceMs ?? DEFAULT_GC_GRACE_MS })
  const blobs = createBlobs(driver, catalog, events, content, { marks, guard })
  const tags = createTags(driver, events, { marks, guard })
  const referrers = createReferrers(driver)
  const manifests = createManifests(driver, { blobs, tags, referrers, catalog, events, content, marks, guard }, { sparse: options.sparseManifests ?? false })
  const uploads = createUploads(driver, blobs, { ttlMs: options.uploadTtlMs })
  return { driver, events, guard, marks, catalog, blobs, tags, referrers, manifests, uploads }
}

export type Registry = ReturnType<typeof createRegistry>
