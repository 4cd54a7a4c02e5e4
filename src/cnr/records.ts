// Small JSON records of the CNR facade: read-modify-write with the driver's compare-and-swap, and a
// lease that serialises the writes to one package across every Berth process sharing the store.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { encodeRecord } from '../registry/records.js'
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import { CnrError } from './errors.js'

export interface Versioned<T> {
  value: T
  version: string
}

export interface LockOptions {
  /** A lease not released within this time (its holder died) may be taken over. */
  ttlMs: number
  /** Give up (409 resource-in-use) after waiting this long. */
  waitMs: number
}

const DEFAULT_LOCK: LockOptions = { ttlMs: 30_000, waitMs: 10_000 }

export function createRecords (driver: StorageDriver, lockOptions: LockOptions = DEFAULT_LOCK) {
  async function read<T> (key: string): Promise<Versioned<T> | undefined> {
    const record = await driver.readVersioned(key)
    if (record === undefined) return undefined
    return { value: JSON.parse(record.data.toString('utf8')) as T, version: record.version }
  }

  return {
    read,

    /**
     * Applies `change` to the record (undefined when absent) until the swap succeeds. `change` returns the
     * new value, or undefined to leave the record as it is. Returns the value now stored (if any).
     */
    async update<T> (key: string, change: (current: T | undefined) => T | undefined): Promise<T | undefined> {
      for (let attempt = 0; ; attempt++) {
        const current = await read<T>(key)
        const next = change(current?.value)
        if (next === undefined) return current?.value
        if (await driver.compareAndSwap(key, current?.version, encodeRecord(next)) !== undefined) return next
        if (attempt > 100) throw new CnrError('resource-in-use', `${key} changed concurrently too many times`)
        await sleep(Math.random() * 10)
      }
    },

    /** Runs `fn` holding the package's lease. */
    async withPackageLock<T> (name: string, fn: () => Promise<T>): Promise<T> {
      const key = paths.cnrLock(name)
      const owner = randomUUID()
      const deadline = Date.now() + lockOptions.waitMs
      for (;;) {
        const lease = encodeRecord({ owner, expiresAt: Date.now() + lockOptions.ttlMs })
        if (await driver.createIfAbsent(key, lease)) break
        const held = await read<{ expiresAt: number }>(key)
        if (held !== undefined && held.value.expiresAt < Date.now() &&
            await driver.compareAndSwap(key, held.version, lease) !== undefined) break
        if (Date.now() > deadline) {
          throw new CnrError('resource-in-use', `package ${name} is being changed by another request; retry`, { package: name })
        }
        await sleep(10 + Math.random() * 40)
      }
      try {
        return await fn()
      } finally {
        const held = await read<{ owner: string }>(key)
        if (held?.value.owner === owner) await driver.delete(key)
      }
    }
  }
}

export type Records = ReturnType<typeof createRecords>
