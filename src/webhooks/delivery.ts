// The delivery loop each replica runs over the outbox: a worker of its durable queue (src/queue/durable-queue.ts)
// that walks every queue (one per receiver URL) in order, oldest first. The queue is ordered: only its head is
// sent, and a head that another replica holds (leased) or that waits for its retry holds the queue back, so a
// receiver gets its events in order, one at a time, whichever replica sends them.
//
// At least once: a record leaves the outbox only after a 2xx answer. A replica that dies while sending leaves
// its lease to expire (2 × the timeout + 2 s), and the record is then sent again by whoever comes next; that,
// and a failed attempt, are the only repeats.
import type { WebhookConfig } from '../config.js'
import { createQueueWorker, type Claim, type Settled, type WorkResult } from '../queue/durable-queue.js'
import { CLOUDEVENTS_CONTENT_TYPE } from './cloudevents.js'
import type { Outbox, OutboxItem } from './outbox.js'
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, sign } from './signature.js'

/** What became of one attempt, for metrics (see WebhookOptions.onDelivery). */
export interface DeliveryReport {
  /** delivered: a 2xx answer; retrying: it failed and will be tried again; failed: it used up its attempts. */
  outcome: 'delivered' | 'retrying' | 'failed'
  url: string
  type: string
  /** This attempt's number, from 1. */
  attempt: number
  /** The receiver's status, when it answered. */
  status?: number
  error?: string
  durationMs: number
}

export interface DeliveryLog {
  info: (details: object, message: string) => void
  warn: (details: object, message: string) => void
}

export interface DeliveryOptions {
  log: DeliveryLog
  onDelivery?: (report: DeliveryReport) => void
}

/** Queues sent at once by one replica. */
const PARALLEL_QUEUES = 4
const MAX_ERROR_LENGTH = 300

interface Answer { status?: number }

export function createDelivery (outbox: Outbox, config: WebhookConfig, { log, onDelivery }: DeliveryOptions) {
  async function send (claim: Claim<OutboxItem>, signal: AbortSignal): Promise<WorkResult<Answer>> {
    const { entry } = claim
    const timestamp = String(Math.floor(Date.now() / 1000))
    try {
      const response = await fetch(entry.url, {
        method: 'POST',
        headers: {
          'content-type': CLOUDEVENTS_CONTENT_TYPE,
          'user-agent': 'berth-webhooks',
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: sign(config.secret, timestamp, entry.body),
          'berth-delivery': `${claim.destination}/${claim.id}`,
          'berth-attempt': String(claim.attempt)
        },
        body: entry.body,
        redirect: 'manual',
        signal: AbortSignal.any([signal, AbortSignal.timeout(config.timeoutMs)])
      })
      await response.body?.cancel().catch(() => {})
      const value = { status: response.status }
      return response.status >= 200 && response.status < 300 ? { ok: true, value } : { ok: false, error: `HTTP ${response.status}`, value }
    } catch (err) {
      if (signal.aborted) return { ok: false, error: 'stopped' } // shutting down: the worker frees the record
      const cause = (err as { cause?: { code?: string, message?: string } }).cause
      const error = cause?.code ?? cause?.message ?? (err as Error).message ?? String(err)
      return { ok: false, error: error.slice(0, MAX_ERROR_LENGTH) }
    }
  }

  function report ({ destination, id, entry, attempt, outcome, value, error, durationMs }: Settled<OutboxItem, Answer>): void {
    const base = { url: entry.url, type: entry.type, attempt, durationMs, ...(value?.status === undefined ? {} : { status: value.status }) }
    if (outcome === 'done') {
      onDelivery?.({ outcome: 'delivered', ...base })
      return
    }
    if (outcome === 'failed') {
      log.warn({ delivery: `${destination}/${id}`, url: entry.url, type: entry.type, attempts: attempt, error }, 'a webhook delivery used up its attempts; `berth webhooks redeliver` sends it again')
    }
    onDelivery?.({ outcome, error: error ?? 'failed', ...base })
  }

  return createQueueWorker<OutboxItem, Answer>(outbox.queue, {
    name: 'webhook delivery',
    work: send,
    onSettled: report,
    ordered: true,
    pollMs: config.pollMs,
    parallel: PARALLEL_QUEUES,
    log
  })
}

export type DeliveryLoop = ReturnType<typeof createDelivery>
