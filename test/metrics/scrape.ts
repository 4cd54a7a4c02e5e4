// Scrapes /metrics and reads it with a Prometheus text-format parser (parse-prometheus-text-format).
// That parser folds a histogram's labelled series into one (it keeps only unlabelled _sum and _count), so
// histogram families are handed to it as untyped: each _bucket, _sum and _count line is then parsed, labels
// and all, as a sample of its own family, and the histogram is put back together here from them.
import parsePrometheusTextFormat from 'parse-prometheus-text-format'

export interface Sample { labels: Record<string, string>, value: number }

export class Scrape {
  readonly families = new Map<string, { type: string, samples: Sample[] }>()

  constructor (readonly text: string) {
    const histograms = new Set<string>()
    const untyped = text.replace(/^# TYPE (\S+) histogram$/gm, (_line, name: string) => {
      histograms.add(name)
      return `# TYPE ${name} untyped`
    })
    for (const family of parsePrometheusTextFormat(untyped)) {
      const samples = family.metrics.map(m => ({ labels: m.labels ?? {}, value: Number(m.value) }))
      const histogram = [...histograms].find(h => family.name === h || family.name.startsWith(`${h}_`))
      const known = this.families.get(family.name)
      if (known !== undefined) known.samples.push(...samples) // a family split by the rewrite
      else this.families.set(family.name, { type: histogram === undefined ? family.type.toLowerCase() : 'histogram', samples })
    }
  }

  /** The samples of `name` whose labels include `labels`. */
  samples (name: string, labels: Record<string, string> = {}): Sample[] {
    return (this.families.get(name)?.samples ?? []).filter(s => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  }

  /** The sum of the samples of `name` whose labels include `labels` (0 when there are none). */
  value (name: string, labels: Record<string, string> = {}): number {
    return this.samples(name, labels).reduce((sum, s) => sum + s.value, 0)
  }

  /** One histogram series: its count, sum and cumulative buckets by `le`. */
  histogram (name: string, labels: Record<string, string>): { count: number, sum: number, buckets: Map<string, number> } {
    const buckets = new Map<string, number>()
    for (const s of this.samples(`${name}_bucket`, labels)) buckets.set(s.labels.le as string, (buckets.get(s.labels.le as string) ?? 0) + s.value)
    return { count: this.value(`${name}_count`, labels), sum: this.value(`${name}_sum`, labels), buckets }
  }
}

export async function scrape (url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`, { headers })
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${await res.text()}`)
  return new Scrape(await res.text())
}
