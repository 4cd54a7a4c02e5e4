// /metrics with several workers (BERTH_WORKERS): a scrape lands on one worker, which asks the primary over
// the cluster IPC channel. The primary asks every worker for its figures (prom-client's getMetricsAsJSON()),
// sums them by label set with prom-client's AggregatorRegistry.aggregate(), and sends the text back.
//
// The primary imports this module from its start (src/workers.ts), so it imports nothing: prom-client is loaded
// in the primary, as in each worker, only when the first scrape asks.
import cluster, { type Worker } from 'node:cluster'

/** How long a worker waits for the primary's answer. */
const SCRAPE_TIMEOUT_MS = 10_000
/** How long the primary waits for each worker's figures (a worker busy with a long GC pause still answers). */
const GATHER_TIMEOUT_MS = 5_000

interface ScrapeRequest { berthMetricsScrape: number }
interface ScrapeReply { berthMetricsReply: number, text?: string, error?: string }
interface GatherRequest { berthMetricsGather: number }
interface GatherReply { berthMetricsGathered: number, metrics?: unknown[], error?: string }

const numberField = (message: unknown, field: string): boolean =>
  typeof (message as Record<string, unknown> | null)?.[field] === 'number'
const isScrapeRequest = (m: unknown): m is ScrapeRequest => numberField(m, 'berthMetricsScrape')
const isScrapeReply = (m: unknown): m is ScrapeReply => numberField(m, 'berthMetricsReply')
const isGatherRequest = (m: unknown): m is GatherRequest => numberField(m, 'berthMetricsGather')
const isGatherReply = (m: unknown): m is GatherReply => numberField(m, 'berthMetricsGathered')

interface Pending<T> { resolve: (value: T) => void, reject: (err: Error) => void, timer: NodeJS.Timeout }

/** Requests sent over IPC and waiting for their reply, by id. */
class Waiting<T> {
  private readonly pending = new Map<number, Pending<T>>()
  private nextId = 0

  async send (timeoutMs: number, timeoutMessage: string, send: (id: number) => void): Promise<T> {
    const id = this.nextId++
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(timeoutMessage))
      }, timeoutMs)
      timer.unref()
      this.pending.set(id, { resolve, reject, timer })
      send(id)
    })
  }

  settle (id: number, outcome: { value: T } | { error: string }): void {
    const pending = this.pending.get(id)
    if (pending === undefined) return // it timed out
    this.pending.delete(id)
    clearTimeout(pending.timer)
    if ('value' in outcome) pending.resolve(outcome.value)
    else pending.reject(new Error(outcome.error))
  }
}

// Worker side.
const scrapes = new Waiting<string>()
let gather: (() => Promise<unknown[]>) | undefined
let listening = false

function onPrimaryMessage (message: unknown): void {
  if (isScrapeReply(message)) {
    scrapes.settle(message.berthMetricsReply, message.text !== undefined
      ? { value: message.text }
      : { error: `the primary could not gather the workers' metrics: ${message.error ?? 'no reason given'}` })
  } else if (isGatherRequest(message) && gather !== undefined) {
    const id = message.berthMetricsGather
    void gather().then(
      metrics => { process.send?.({ berthMetricsGathered: id, metrics } satisfies GatherReply) },
      (err: unknown) => { process.send?.({ berthMetricsGathered: id, error: (err as Error).message } satisfies GatherReply) })
  }
}

function listen (): void {
  if (listening || !cluster.isWorker) return
  process.on('message', onPrimaryMessage)
  listening = true
}

/** In a worker: answers the primary's requests for this worker's figures with `figures()`. */
export function answerGathers (figures: () => Promise<unknown[]>): void {
  if (!cluster.isWorker) return
  gather = figures
  listen()
}

/** In a worker: the metrics of every worker, summed, in the Prometheus text format. */
export async function scrapeCluster (): Promise<string> {
  const send = process.send?.bind(process)
  if (send === undefined) throw new Error('not a cluster worker')
  listen()
  return await scrapes.send(SCRAPE_TIMEOUT_MS, 'the primary did not answer the scrape in time',
    id => { send({ berthMetricsScrape: id } satisfies ScrapeRequest) })
}

// Primary side.
const gathers = new Waiting<unknown[]>()

async function gatherAll (): Promise<string> {
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w?.isConnected() === true)
  const figures = await Promise.all(workers.map(async worker =>
    await gathers.send(GATHER_TIMEOUT_MS, `worker ${worker.id} did not send its metrics in time`,
      id => { worker.send({ berthMetricsGather: id } satisfies GatherRequest) })))
  const { AggregatorRegistry } = await import('prom-client')
  return await AggregatorRegistry.aggregate(figures as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics()
}

/** In the primary: answers `message` if it is a worker's scrape request or figures; returns whether it was. */
export function answerScrape (worker: Worker, message: unknown): boolean {
  if (isGatherReply(message)) {
    gathers.settle(message.berthMetricsGathered, message.metrics !== undefined
      ? { value: message.metrics }
      : { error: `worker ${worker.id} could not gather its metrics: ${message.error ?? 'no reason given'}` })
    return true
  }
  if (!isScrapeRequest(message)) return false
  const id = message.berthMetricsScrape
  const reply = (answer: Omit<ScrapeReply, 'berthMetricsReply'>): void => {
    if (worker.isConnected()) worker.send({ berthMetricsReply: id, ...answer } satisfies ScrapeReply)
  }
  gatherAll().then(text => { reply({ text }) }, (err: unknown) => { reply({ error: (err as Error).message }) })
  return true
}
