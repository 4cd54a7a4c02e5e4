// /metrics with several workers (BERTH_WORKERS): a scrape lands on one worker, which asks the primary over
// the cluster IPC channel; the primary gathers every worker's figures with prom-client's AggregatorRegistry
// (which asks each worker in turn, summing counters and histograms by label set) and sends the text back.
//
// The primary imports this module from its start (src/workers.ts), so it imports nothing: prom-client is
// loaded in the primary only when the first scrape asks.
import type { Worker } from 'node:cluster'

/** How long a worker waits for the primary's answer (prom-client's own gathering gives up after 5 s). */
const SCRAPE_TIMEOUT_MS = 10_000

interface ScrapeRequest { berthMetricsScrape: number }
interface ScrapeReply { berthMetricsReply: number, text?: string, error?: string }

const isScrapeRequest = (message: unknown): message is ScrapeRequest =>
  typeof (message as ScrapeRequest | null)?.berthMetricsScrape === 'number'
const isScrapeReply = (message: unknown): message is ScrapeReply =>
  typeof (message as ScrapeReply | null)?.berthMetricsReply === 'number'

// Worker side.
const waiting = new Map<number, { resolve: (text: string) => void, reject: (err: Error) => void, timer: NodeJS.Timeout }>()
let nextId = 0
let listening = false

function onReply (message: unknown): void {
  if (!isScrapeReply(message)) return
  const pending = waiting.get(message.berthMetricsReply)
  if (pending === undefined) return // it timed out
  waiting.delete(message.berthMetricsReply)
  clearTimeout(pending.timer)
  if (message.text !== undefined) pending.resolve(message.text)
  else pending.reject(new Error(`the primary could not gather the workers' metrics: ${message.error ?? 'no reason given'}`))
}

/** In a worker: the metrics of every worker, summed, in the Prometheus text format. */
export async function scrapeCluster (): Promise<string> {
  const send = process.send?.bind(process)
  if (send === undefined) throw new Error('not a cluster worker')
  if (!listening) {
    process.on('message', onReply)
    listening = true
  }
  const id = nextId++
  return await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id)
      reject(new Error('the primary did not answer the scrape in time'))
    }, SCRAPE_TIMEOUT_MS)
    timer.unref()
    waiting.set(id, { resolve, reject, timer })
    send({ berthMetricsScrape: id } satisfies ScrapeRequest)
  })
}

// Primary side.
let aggregator: Promise<{ clusterMetrics: () => Promise<string> }> | undefined

/** In the primary: answers `message` if it is a worker's scrape request; returns whether it was one. */
export function answerScrape (worker: Worker, message: unknown): boolean {
  if (!isScrapeRequest(message)) return false
  const id = message.berthMetricsScrape
  const reply = (answer: Omit<ScrapeReply, 'berthMetricsReply'>): void => {
    if (worker.isConnected()) worker.send({ berthMetricsReply: id, ...answer } satisfies ScrapeReply)
  }
  aggregator ??= import('prom-client').then(({ AggregatorRegistry }) => new AggregatorRegistry())
  aggregator
    .then(async registry => await registry.clusterMetrics())
    .then(text => { reply({ text }) }, (err: unknown) => {
      aggregator = undefined
      reply({ error: (err as Error).message })
    })
  return true
}
