// The registry's domain services, wired once over one storage driver. HTTP-free: the API surfaces call these.
import type { StorageDriver } from '../storage/driver.js'
import { createBlobs } from './blobs.js'
import { createCatalog } from './catalog.js'
import { createManifests } from './manifests.js'
import { createReferrers } from './referrers.js'
import { createTags } from './tags.js'
import { createUploads } from './uploads.js'

export interface RegistryOptions {
  uploadTtlMs: number
  /** Accept manifests that reference absent child manifests or layers (BERTH_SPARSE_MANIFESTS). */
  sparseManifests?: boolean
}

export function createRegistry (driver: StorageDriver, options: RegistryOptions) {
  const catalog = createCatalog(driver)
  const blobs = createBlobs(driver, catalog)
  const tags = createTags(driver)
  const referrers = createReferrers(driver)
  const manifests = createManifests(driver, { blobs, tags, referrers, catalog }, { sparse: options.sparseManifests ?? false })
  const uploads = createUploads(driver, blobs, { ttlMs: options.uploadTtlMs })
  return { driver, catalog, blobs, tags, referrers, manifests, uploads }
}

export type Registry = ReturnType<typeof createRegistry>
