// Content by digest never changes, so its bytes can be kept in memory once read: manifests, and blobs small
// enough that opening a file stream costs more than serving them (configs, small layers). Whether a repository
// holds the content is not cached: callers read its link from the store on every request.
import { LRUCache } from 'lru-cache'

/** Blobs up to this size are served from memory. */
export const SMALL_BLOB_BYTES = 64 * 1024
/** Bound on what the cache holds, whatever is pushed and pulled. */
const CONTENT_CACHE_BYTES = 32 * 1024 * 1024

export function createContentCache () {
  const cache = new LRUCache<string, Buffer>({ maxSize: CONTENT_CACHE_BYTES, sizeCalculation: b => b.length || 1 })
  return {
    /** The bytes of `digest`, read with `load` on a miss and kept when they fit. */
    async get (digest: string, load: () => Promise<Buffer>): Promise<Buffer> {
      const cached = cache.get(digest)
      if (cached !== undefined) return cached
      const bytes = await load()
      cache.set(digest, bytes)
      return bytes
    },
    set (digest: string, bytes: Buffer): void {
      cache.set(digest, bytes)
    }
  }
}

export type ContentCache = ReturnType<typeof createContentCache>
