// The delivery loop each replica runs: every queue (one per receiver URL) is sent in order, oldest first.
// Only the head of a queue is sent: a head that another replica holds (leased) or that waits for its retry
// holds the queue back, so a receiver gets its events in order, one at a time, whichever replica sends them.
//
// At least once: a record leaves the outbox only after a 2xx answer. A replica that dies while sending leaves
// its lease to expire (2 × the timeout + 2 s), and the record is then sent again by whoever comes next; that,
// and a failed attempt, are the only repeats.
import { randomUUID } from 'node:crypto'
import type { WebhookConfig } from '../config.js'
import { CLOUDEVENTS_CONTENT_TYPE } from './cloudevents.js'
import type { Outbox, OutboxRecord } from './outbox.js'
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
  /** Epoch ms (tests move time). */
  now?: () => number
  /** How long a claim holds; by default 2 × the timeout + 2 s. */
  leaseMs?: number
}

/** Queues sent at once by one replica. */
const PARALLEL_QUEUES = 4
const QUEUE_PAGE = 50
const MAX_ERROR_LENGTH = 300

type Step = { next: 'continue' } | { next: 'hold', until: number }

export function createDelivery (outbox: Outbox, config: WebhookConfig, { log, onDelivery, now = Date.now, leaseMs = 2 * config.timeoutMs + 2000 }: DeliveryOptions) {
  const owner = randomUUID()
  let stopped = true
  let running: Promise<void> | undefined
  let again = false
  let timer: NodeJS.Timeout | undefined
  /** Aborts the requests in flight when the loop stops. */
  let stopping = new AbortController()

  function backoff (attempts: number): number {
    const delay = Math.min(config.retryMaxMs, config.retryMs * 2 ** Math.min(attempts - 1, 30))
    return Math.round(delay / 2 + Math.random() * delay / 2) // jittered, so replicas and receivers do not march in step
  }

  async function send (id: string, record: OutboxRecord, attempt: number): Promise<{ ok: boolean, status?: number, error?: string, aborted?: boolean }> {
    const timestamp = String(Math.floor(Date.now() / 1000))
    try {
      const response = await fetch(record.url, {
        method: 'POST',
        headers: {
          'content-type': CLOUDEVENTS_CONTENT_TYPE,
          'user-agent': 'berth-webhooks',
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: sign(config.secret, timestamp, record.body),
          'berth-delivery': id,
          'berth-attempt': String(attempt)
        },
        body: record.body,
        redirect: 'manual',
        signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(config.timeoutMs)])
      })
      await response.body?.cancel().catch(() => {})
      const ok = response.status >= 200 && response.status < 300
      return { ok, status: response.status, ...(ok ? {} : { error: `HTTP ${response.status}` }) }
    } catch (err) {
      if (stopping.signal.aborted) return { ok: false, aborted: true }
      const cause = (err as { cause?: { code?: string, message?: string } }).cause
      const error = cause?.code ?? cause?.message ?? (err as Error).message ?? String(err)
      return { ok: false, error: error.slice(0, MAX_ERROR_LENGTH) }
    }
  }

  /** Sends the record at `key` if it is due and nobody holds it. */
  async function attempt (queue: string, key: string): Promise<Step> {
    const found = await outbox.read(key)
    if (found === undefined) return { next: 'continue' } // delivered by another replica meanwhile
    const { record, version } = found
    const start = now()
    if (record.lease !== undefined && record.lease.expiresAt > start) return { next: 'hold', until: record.lease.expiresAt }
    if (record.nextAttemptAt > start) return { next: 'hold', until: record.nextAttemptAt }
    const { lease: _expired, ...unleased } = record
    const claimed = await outbox.swap(key, version, { ...unleased, lease: { owner, expiresAt: start + leaseMs } })
    if (claimed === undefined) return { next: 'hold', until: now() } // another replica claimed it first: look again
    const number = record.attempts + 1
    const id = `${queue}/${key.slice(key.lastIndexOf('/') + 1)}`
    const result = await send(id, record, number)
    const report = { url: record.url, type: record.type, attempt: number, durationMs: now() - start, ...(result.status === undefined ? {} : { status: result.status }) }
    if (result.aborted === true) {
      await outbox.swap(key, claimed, unleased).catch(() => {}) // shutting down: not an attempt, free it for the others
      return { next: 'hold', until: Infinity }
    }
    if (result.ok) {
      await outbox.remove(key, claimed)
      onDelivery?.({ outcome: 'delivered', ...report })
      return { next: 'continue' }
    }
    const error = result.error ?? 'failed'
    if (number >= config.maxAttempts) {
      await outbox.fail(key, claimed, { ...unleased, attempts: number, lastError: error, failedAt: new Date(now()).toISOString() })
      log.warn({ delivery: id, url: record.url, type: record.type, attempts: number, error }, 'a webhook delivery used up its attempts; `berth webhooks redeliver` sends it again')
      onDelivery?.({ outcome: 'failed', error, ...report })
      return { next: 'continue' }
    }
    const nextAttemptAt = now() + backoff(number)
    await outbox.swap(key, claimed, { ...unleased, attempts: number, lastError: error, nextAttemptAt })
    onDelivery?.({ outcome: 'retrying', error, ...report })
    return { next: 'hold', until: nextAttemptAt }
  }

  /** Sends a queue's heads until it is empty or held; returns when to look again (Infinity: when told). */
  async function drain (queue: string): Promise<number> {
    let startAfter: string | undefined
    for (;;) {
      const page = await outbox.queuePage(queue, startAfter, QUEUE_PAGE)
      for (const key of page.keys) {
        if (stopped) return Infinity
        const step = await attempt(queue, key)
        if (step.next === 'hold') return step.until
      }
      if (!page.truncated || page.keys.length === 0) return Infinity
      startAfter = page.keys.at(-1)
    }
  }

  /** One pass over every queue; returns when the earliest held queue may move. */
  async function pass (): Promise<number> {
    const queues = await outbox.queues()
    let earliest = Infinity
    for (let i = 0; i < queues.length && !stopped; i += PARALLEL_QUEUES) {
      const until = await Promise.all(queues.slice(i, i + PARALLEL_QUEUES).map(drain))
      earliest = Math.min(earliest, ...until)
    }
    return earliest
  }

  function schedule (delayMs: number): void {
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(kick, Math.max(0, delayMs))
    timer.unref() // the loop never keeps a process alive
  }

  /** Runs a pass now, or right after the one running. */
  function kick (): void {
    if (stopped) return
    if (running !== undefined) {
      again = true
      return
    }
    let resumeAt = Infinity
    running = pass()
      .then(until => { resumeAt = until }, err => { log.warn({ err }, 'a webhook delivery pass failed; it is tried again') })
      .finally(() => {
        running = undefined
        if (stopped) return
        const wait = again ? 0 : Math.min(config.pollMs, Math.max(10, resumeAt - now()))
        again = false
        schedule(wait)
      })
  }

  return {
    start (): void {
      if (!stopped) return
      stopped = false
      stopping = new AbortController()
      kick()
    },

    /** A delivery was queued here: send it without waiting for the poll. */
    wake (): void {
      if (!stopped) schedule(0)
    },

    /** Stops the loop: requests in flight are cut and their records freed for other replicas. */
    async stop (): Promise<void> {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      stopping.abort()
      await running
    }
  }
}

export type DeliveryLoop = ReturnType<typeof createDelivery>
