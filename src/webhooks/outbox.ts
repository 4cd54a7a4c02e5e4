// The durable outbox: one record per (event, receiver URL), written before the write that caused the event is
// acknowledged, and removed once delivered. Records live in one queue per URL (src/storage/paths.ts), in event
// order. A replica claims a record with a lease (compare-and-swap on the record itself) before it sends it, so
// two replicas never send it at once; a lease whose holder died expires and the record is taken again.
import { createHash } from 'node:crypto'
import { encodeRecord } from '../registry/records.js'
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'

export interface OutboxRecord {
  url: string
  /** The CloudEvent type, for listings. */
  type: string
  /** The exact JSON body sent on every attempt (what the signature covers). */
  body: string
  createdAt: string
  /** Attempts made so far. */
  attempts: number
  /** Epoch ms before which no attempt is made (the backoff after a failure). */
  nextAttemptAt: number
  lastError?: string
  /** The replica sending it now, until expiresAt (epoch ms). */
  lease?: { owner: string, expiresAt: number }
  /** Failed records: when the last attempt failed. */
  failedAt?: string
}

export interface Delivery extends OutboxRecord {
  /** `<url key>/<event id>`. */
  id: string
  state: 'pending' | 'failed'
}

/** The queue of a receiver URL. */
export function urlKey (url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16)
}

const DELIVERY_ID = /^[0-9a-f]{16}\/[0-9]{13}-[0-9]{4}-[0-9a-f]{8}$/

export function isDeliveryId (id: string): boolean {
  return DELIVERY_ID.test(id)
}

function parse (data: Buffer): OutboxRecord {
  return JSON.parse(data.toString('utf8')) as OutboxRecord
}

export function createOutbox (driver: StorageDriver) {
  async function * listPrefix (prefix: string, state: Delivery['state']): AsyncGenerator<Delivery> {
    let startAfter: string | undefined
    for (;;) {
      const page = await driver.list(prefix, { limit: 500, startAfter })
      for (const key of page.keys) {
        const record = await driver.readVersioned(key)
        if (record !== undefined) yield { ...parse(record.data), id: key.slice(prefix.length), state }
      }
      if (!page.truncated || page.keys.length === 0) return
      startAfter = page.keys.at(-1)
    }
  }

  /** Removes a delivered record, unless another replica took it over meanwhile (its lease had expired). */
  async function remove (key: string, version: string): Promise<void> {
    if ((await driver.readVersioned(key))?.version === version) await driver.delete(key)
  }

  return {
    remove,

    /** Queues one event for every URL. */
    async add (urls: string[], eventId: string, type: string, body: string, now: Date): Promise<void> {
      await Promise.all(urls.map(async url => {
        const record: OutboxRecord = { url, type, body, createdAt: now.toISOString(), attempts: 0, nextAttemptAt: 0 }
        await driver.write(paths.webhookOutbox(`${urlKey(url)}/${eventId}`), encodeRecord(record))
      }))
    },

    /** Deliveries waiting to be made (or being made), queue by queue, oldest first in each. */
    pending (): AsyncGenerator<Delivery> {
      return listPrefix(paths.webhookOutboxPrefix, 'pending')
    },

    failed (): AsyncGenerator<Delivery> {
      return listPrefix(paths.webhookFailedPrefix, 'failed')
    },

    /** The url keys that have deliveries waiting, one listing call per queue. */
    async queues (): Promise<string[]> {
      const found: string[] = []
      let startAfter: string | undefined
      for (;;) {
        const { keys } = await driver.list(paths.webhookOutboxPrefix, { limit: 1, startAfter })
        const key = keys[0]
        if (key === undefined) return found
        const queue = key.slice(paths.webhookOutboxPrefix.length).split('/')[0] as string
        found.push(queue)
        startAfter = `${paths.webhookQueuePrefix(queue)}~` // after every event id ('~' sorts above digits and '-')
      }
    },

    /** A page of keys of one queue, oldest first. */
    async queuePage (queue: string, startAfter: string | undefined, limit: number) {
      return await driver.list(paths.webhookQueuePrefix(queue), { limit, startAfter })
    },

    async read (key: string): Promise<{ record: OutboxRecord, version: string } | undefined> {
      const found = await driver.readVersioned(key)
      return found === undefined ? undefined : { record: parse(found.data), version: found.version }
    },

    /** Replaces the record if it is still at `version`; returns the new version, or undefined when it changed. */
    async swap (key: string, version: string, record: OutboxRecord): Promise<string | undefined> {
      return await driver.compareAndSwap(key, version, encodeRecord(record))
    },

    /** Keeps a record that used up its attempts as failed, and takes it out of its queue. */
    async fail (key: string, version: string, record: OutboxRecord): Promise<void> {
      const id = key.slice(paths.webhookOutboxPrefix.length)
      await driver.write(paths.webhookFailed(id), encodeRecord(record))
      await remove(key, version)
    },

    /** Puts a failed delivery back in its queue, with its attempts reset. Returns false when there is none. */
    async redeliver (id: string): Promise<boolean> {
      if (!isDeliveryId(id)) return false
      const found = await driver.readVersioned(paths.webhookFailed(id))
      if (found === undefined) return false
      const { failedAt, lastError, lease, ...record } = parse(found.data)
      await driver.write(paths.webhookOutbox(id), encodeRecord({ ...record, attempts: 0, nextAttemptAt: 0 } satisfies OutboxRecord))
      await driver.delete(paths.webhookFailed(id))
      return true
    },

    keyOf: (queue: string, eventId: string): string => paths.webhookOutbox(`${queue}/${eventId}`)
  }
}

export type Outbox = ReturnType<typeof createOutbox>
