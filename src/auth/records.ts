// Small JSON records of the auth layer, read through a short per-process cache (every replica sees a change
// within the cache's lifetime) and updated with compare-and-swap, so concurrent writers never lose an update.
import type { LRUCache } from 'lru-cache'
import type { StorageDriver } from '../storage/driver.js'
import { readRecord } from '../registry/records.js'
import { lruCache } from '../util/lru.js'

export class ConcurrentUpdateError extends Error {
  override readonly name = 'ConcurrentUpdateError'
  constructor (readonly key: string) {
    super(`gave up updating ${key}: it kept changing`)
  }
}

/**
 * A cached view of records under one key family. `undefined` results are cached too (as absent), so a lookup
 * for a user who does not exist costs one read per cache lifetime, not one per request.
 */
export class RecordCache<T extends object> {
  private readonly cache: LRUCache<string, { value: T | undefined }>

  constructor (private readonly driver: StorageDriver, ttlMs: number, max = 10_000) {
    this.cache = lruCache(max, { ttl: Math.max(ttlMs, 1), ttlAutopurge: false })
  }

  async get (key: string): Promise<T | undefined> {
    const hit = this.cache.get(key)
    if (hit !== undefined) return hit.value
    const value = await readRecord<T>(this.driver, key)
    this.cache.set(key, { value })
    return value
  }

  forget (key: string): void {
    this.cache.delete(key)
  }

  /**
   * Read-modify-write with compare-and-swap. `change` gets the current record (undefined when absent) and
   * returns the new one, or undefined to leave the record as it is. Returns what is stored afterwards.
   */
  async update (key: string, change: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.driver.readVersioned(key)
      const value = current === undefined ? undefined : JSON.parse(current.data.toString('utf8')) as T
      const next = change(value)
      if (next === undefined) {
        this.cache.set(key, { value })
        return value
      }
      const written = await this.driver.compareAndSwap(key, current?.version, Buffer.from(JSON.stringify(next)))
      if (written !== undefined) {
        this.cache.set(key, { value: next })
        return next
      }
    }
    throw new ConcurrentUpdateError(key)
  }

  async remove (key: string): Promise<boolean> {
    const existed = await this.driver.delete(key)
    this.cache.delete(key)
    return existed
  }
}
