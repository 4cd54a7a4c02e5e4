// A count-bounded LRU cache that takes memory as it fills. lru-cache's own `max` allocates room for every
// entry up front (two arrays and three typed arrays of `max` slots: 2.8 MiB for 100,000 entries, in every
// process, used or not); counting each entry as size 1 against `maxSize` bounds the count just the same.
import { LRUCache } from 'lru-cache'

export type LruOptions<K extends {}, V extends {}> = Omit<LRUCache.Options<K, V, unknown>, 'max' | 'maxSize' | 'sizeCalculation'>

/** An LRU cache of at most `max` entries. */
export function lruCache<K extends {}, V extends {}> (max: number, options: LruOptions<K, V> = {}): LRUCache<K, V> {
  return new LRUCache<K, V>({ ...options, maxSize: max, sizeCalculation: () => 1 } as LRUCache.Options<K, V, unknown>)
}
