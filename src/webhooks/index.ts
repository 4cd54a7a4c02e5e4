// Webhooks: each announced registry event (cloudevents.ts) is queued in the store's outbox for every receiver
// URL while the write that caused it is still in progress (listeners are awaited before the client gets its
// answer), so an acknowledged write never loses its event. Every replica runs a delivery loop (delivery.ts)
// over the shared outbox. With no URLs configured nothing subscribes, nothing is written and nothing runs.
import type { WebhookConfig } from '../config.js'
import type { RegistryEvent, RegistryEvents } from '../registry/events.js'
import type { StorageDriver } from '../storage/driver.js'
import { createSortableIds } from '../queue/durable-queue.js'
import { cloudEvent, describe } from './cloudevents.js'
import { createDelivery, type DeliveryLog, type DeliveryReport } from './delivery.js'
import { createOutbox } from './outbox.js'

export type { DeliveryReport } from './delivery.js'

export interface WebhookOptions {
  log: DeliveryLog & { error: (details: object, message: string) => void }
  /**
   * Told of every attempt: `delivered`, `retrying` (failed, tried again later) or `failed` (attempts used up;
   * kept for `berth webhooks redeliver`). Count these for metrics, by outcome and type.
   */
  onDelivery?: (report: DeliveryReport) => void
  /** How long a replica's claim on a delivery holds unless renewed (default 2 × the timeout + 2 s). */
  leaseMs?: number
}

export function createWebhooks (driver: StorageDriver, config: WebhookConfig, options: WebhookOptions) {
  const outbox = createOutbox(driver, config, { leaseMs: options.leaseMs ?? 2 * config.timeoutMs + 2000 })
  const enabled = config.urls.length > 0
  const delivery = createDelivery(outbox, config, options)
  const nextId = createSortableIds()

  async function enqueue (event: RegistryEvent): Promise<void> {
    const described = describe(event)
    if (described === undefined) return
    const body = cloudEvent(nextId(), event.at, described)
    try {
      await outbox.add(config.urls, body.id, body.type, JSON.stringify(body))
    } catch (err) {
      // The write stands (it is durable); only its notification is lost. Logged loudly: someone must look.
      options.log.error({ err, event }, 'could not queue a webhook event: it will not be delivered')
      throw err
    }
    delivery.wake()
  }

  return {
    enabled,
    outbox,

    /** Queues the events that writes announce from now on; returns the unsubscribe function. */
    subscribe (events: RegistryEvents): () => void {
      if (!enabled) return () => {}
      const off = [events.onAny(enqueue)]
      if (config.pullSample > 0) {
        off.push(events.on('manifest-pulled', async event => {
          if (Math.random() < config.pullSample) await enqueue(event)
        }))
      }
      return () => { for (const unsubscribe of off) unsubscribe() }
    },

    /** Starts this replica's delivery loop (a server does; the CLI does not). */
    start (): void {
      if (enabled) delivery.start()
    },

    async stop (): Promise<void> {
      await delivery.stop()
    }
  }
}

export type Webhooks = ReturnType<typeof createWebhooks>
