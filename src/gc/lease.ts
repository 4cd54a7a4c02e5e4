// The collection lease: one record in the store (gc/lease) that at most one replica holds at a time. It is
// taken and renewed with compare-and-swap and carries an expiry, so the lease of a replica that crashed lapses
// and another one takes over; a holder that fails to renew stops collecting before its lease could lapse.
import { randomUUID } from 'node:crypto'
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'

interface LeaseRecord {
  holder: string
  expiresAt: string
}

export const LEASE_MS = 60_000
const RENEW_MS = LEASE_MS / 4

export interface HeldLease {
  readonly holder: string
  /** False once a renewal failed or the lease was released: the holder must stop deleting. */
  held: () => boolean
  release: () => Promise<void>
}

/**
 * Takes the lease, or returns undefined when another replica holds it. Renews it until released. `key` names
 * another lease of the same kind (the mirror sync takes one per mirror).
 */
export async function acquireLease (driver: StorageDriver, holder = randomUUID(), key: string = paths.gcLease): Promise<HeldLease | undefined> {
  const encode = (): Buffer => Buffer.from(JSON.stringify({ holder, expiresAt: new Date(Date.now() + LEASE_MS).toISOString() } satisfies LeaseRecord))
  const current = await driver.readVersioned(key)
  if (current !== undefined) {
    const record = JSON.parse(current.data.toString('utf8')) as LeaseRecord
    if (Date.parse(record.expiresAt) > Date.now()) return undefined
  }
  let version = await driver.compareAndSwap(key, current?.version, encode())
  if (version === undefined) return undefined
  // The deadline by which we must stop: a renewal that failed leaves the last one standing until then.
  let validUntil = Date.now() + LEASE_MS - RENEW_MS
  let released = false
  let renewing: Promise<void> = Promise.resolve()
  const timer = setInterval(() => {
    renewing = renewing.then(async () => {
      if (released || version === undefined) return
      const next = await driver.compareAndSwap(key, version, encode()).catch(() => undefined)
      if (next === undefined) { version = undefined; return }
      version = next
      validUntil = Date.now() + LEASE_MS - RENEW_MS
    })
  }, RENEW_MS)
  timer.unref()
  return {
    holder,
    held: () => !released && version !== undefined && Date.now() < validUntil,
    async release () {
      released = true
      clearInterval(timer)
      await renewing
      if (version !== undefined) {
        const current = await driver.readVersioned(key)
        if (current?.version === version) await driver.delete(key)
      }
    }
  }
}
