// The durable outbox: one entry per (event, receiver URL), written before the write that caused the event is
// acknowledged, and removed once delivered. It is a durable queue (src/queue/durable-queue.ts, which holds the
// protocol: leases, retries, failed entries) with one queue per receiver URL, in event order; the entry id is
// the CloudEvent id, and a delivery id is `<url key>/<event id>` (the store layout is in src/storage/paths.ts).
import { createHash } from 'node:crypto'
import type { WebhookConfig } from '../config.js'
import { createDurableQueue, type Entry, type EntryStateName, type QueueLayout } from '../queue/durable-queue.js'
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'

/** What a delivery sends, besides the queue's own fields. */
export interface OutboxItem {
  url: string
  /** The CloudEvent type, for listings. */
  type: string
  /** The exact JSON body sent on every attempt (what the signature covers). */
  body: string
}

export type OutboxRecord = Entry<OutboxItem>

export interface Delivery extends OutboxRecord {
  /** `<url key>/<event id>`. */
  id: string
  state: EntryStateName
}

/** The queue of a receiver URL. */
export function urlKey (url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16)
}

const DELIVERY_ID = /^[0-9a-f]{16}\/[0-9]{13}-[0-9]{4}-[0-9a-f]{8}$/

export function isDeliveryId (id: string): boolean {
  return DELIVERY_ID.test(id)
}

const rootOf = (state: EntryStateName): string => state === 'pending' ? paths.webhookOutboxPrefix : paths.webhookFailedPrefix

function layoutOver (driver: StorageDriver): QueueLayout {
  return {
    prefix: (queue, state) => state === 'pending' ? paths.webhookQueuePrefix(queue) : paths.webhookFailedQueuePrefix(queue),
    /** The url keys that hold entries, one listing call per queue. */
    async destinations (state) {
      const root = rootOf(state)
      const found: string[] = []
      for (let startAfter: string | undefined; ;) {
        const { keys } = await driver.list(root, { limit: 1, startAfter })
        const key = keys[0]
        if (key === undefined) return found
        const queue = key.slice(root.length).split('/')[0] as string
        found.push(queue)
        startAfter = `${root}${queue}/~` // after every event id ('~' sorts above digits and '-')
      }
    }
  }
}

export interface OutboxOptions {
  /** How long a replica's claim on a delivery holds unless renewed. */
  leaseMs: number
}

export function createOutbox (driver: StorageDriver, config: Pick<WebhookConfig, 'retryMs' | 'retryMaxMs' | 'maxAttempts'>, { leaseMs }: OutboxOptions) {
  const queue = createDurableQueue<OutboxItem>(driver, { layout: layoutOver(driver), leaseMs, ...config })

  async function * deliveries (state: EntryStateName): AsyncGenerator<Delivery> {
    for await (const { destination, id, entry } of queue.list(state)) {
      yield { ...entry, id: `${destination}/${id}`, state }
    }
  }

  return {
    queue,

    /** Queues one event for every URL. */
    async add (urls: string[], eventId: string, type: string, body: string): Promise<void> {
      await Promise.all(urls.map(async url => { await queue.enqueue(urlKey(url), eventId, { url, type, body }) }))
    },

    /** Deliveries waiting to be made (or being made), queue by queue, oldest first in each. */
    pending: (): AsyncGenerator<Delivery> => deliveries('pending'),

    failed: (): AsyncGenerator<Delivery> => deliveries('failed'),

    /** Puts a failed delivery back in its queue, with its attempts reset. Returns false when there is none. */
    async redeliver (id: string): Promise<boolean> {
      if (!isDeliveryId(id)) return false
      const [queueKey, eventId] = id.split('/') as [string, string]
      return await queue.redeliver(queueKey, eventId)
    }
  }
}

export type Outbox = ReturnType<typeof createOutbox>
