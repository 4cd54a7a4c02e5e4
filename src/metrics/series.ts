// Counters and histograms for the hot paths (every request, every store operation). prom-client's own
// observe() validates and hashes its labels on every call (about 1 µs for a histogram, 0.5 µs for a counter
// on this project's build box); these keep one object per label set, found once, and count into plain
// fields (about 10 ns). prom-client reads them only when scraped: each family below is registered in a
// prom-client Registry as a metric whose get() returns what prom-client's own metrics return, so the text
// format and the cluster aggregation (AggregatorRegistry, summing by label set) are prom-client's. Nothing here
// loads prom-client: a process pays for it (about 12 MiB) only once it is scraped (index.ts).
import type { Metric, Registry } from 'prom-client'

/** Latency buckets in seconds, from a cached manifest GET (sub-millisecond) to a slow multi-GiB push. */
export const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

export type Labels = Readonly<Record<string, string>>

/** The running figures of one label set: a latency histogram, and counters of its own. */
export class Timing {
  count = 0
  sum = 0
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  readonly buckets: Float64Array
  constructor (readonly labels: Labels, readonly bounds: readonly number[] = LATENCY_BUCKETS) {
    this.buckets = new Float64Array(bounds.length + 1)
  }

  observe (seconds: number): void {
    this.count++
    this.sum += seconds
    let i = 0
    while (i < this.bounds.length && seconds > (this.bounds[i] as number)) i++
    this.buckets[i] = (this.buckets[i] as number) + 1
  }
}

/** Counts by label set, for counters bumped now and then (GC runs, webhook deliveries), not per request. */
export class Tally {
  private readonly byKey = new Map<string, { labels: Labels, value: number }>()

  add (labels: Labels, n = 1): void {
    const key = JSON.stringify(labels)
    const found = this.byKey.get(key)
    if (found === undefined) this.byKey.set(key, { labels, value: n })
    else found.value += n
  }

  get series (): Iterable<{ labels: Labels, value: number }> {
    return this.byKey.values()
  }
}

interface Value { labels: Record<string, string | number>, value: number, metricName?: string }

type Aggregator = 'sum' | 'max'

/** A metric family computed from `values()` when scraped, registered in `registry` as prom-client's are. */
function register (registry: Registry, name: string, help: string, type: 'counter' | 'histogram' | 'gauge',
  values: () => Value[] | Promise<Value[]>, aggregator: Aggregator = 'sum'): void {
  const family = {
    name,
    help,
    type,
    aggregator,
    get: async () => ({ name, help, type, aggregator, values: await values() }),
    reset: () => {}
  }
  registry.registerMetric(family as unknown as Metric)
}

/** A histogram family (`<name>_bucket`, `_sum`, `_count`) over the Timings `series()` yields. */
export function registerHistogram (registry: Registry, name: string, help: string, series: () => Iterable<Timing>): void {
  register(registry, name, help, 'histogram', () => {
    const values: Value[] = []
    for (const s of series()) {
      if (s.count === 0) continue
      let cumulative = 0
      for (let i = 0; i < s.bounds.length; i++) {
        cumulative += s.buckets[i] as number
        values.push({ labels: { ...s.labels, le: s.bounds[i] as number }, value: cumulative, metricName: `${name}_bucket` })
      }
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${name}_bucket` })
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${name}_sum` })
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${name}_count` })
    }
    return values
  })
}

/**
 * A counter family with one value per label set, read by `value` from what `series()` yields. Label sets
 * that `labels` maps to the same labels are added up (a family may drop a label the series carry).
 */
export function registerCounter<S extends { labels: Labels }> (registry: Registry, name: string, help: string,
  series: () => Iterable<S>, value: (s: S) => number, labels: (s: S) => Labels = s => s.labels): void {
  register(registry, name, help, 'counter', () => {
    const byKey = new Map<string, Value>()
    for (const s of series()) {
      const v = value(s)
      if (v === 0) continue
      const l = labels(s)
      const key = JSON.stringify(l)
      const found = byKey.get(key)
      if (found === undefined) byKey.set(key, { labels: { ...l }, value: v })
      else found.value += v
    }
    return [...byKey.values()]
  })
}

/**
 * A gauge family read when scraped. `aggregator` says how the cluster combines workers' values: 'max' for
 * figures every worker reads alike from the store (they are one answer, not parts of a sum).
 */
export function registerGauge (registry: Registry, name: string, help: string,
  values: () => Promise<Array<{ labels: Labels, value: number }>>, aggregator: Aggregator = 'sum'): void {
  register(registry, name, help, 'gauge', async () => (await values()).map(v => ({ labels: { ...v.labels }, value: v.value })), aggregator)
}
