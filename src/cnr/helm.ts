// The Helm OCI config (application/vnd.cncf.helm.config.v1+json) of a chart pushed through the CNR API:
// the chart's Chart.yaml as helm's chart.Metadata JSON. helm unmarshals this document into typed Go
// fields when it pulls, so every field is checked for its type and dropped when it does not fit; the
// version is the CNR release, because the OCI tag is the release and helm expects the two to agree.
import { createRequire } from 'node:module'

/** yaml (synchronous require, on the first helm chart parsed: most processes never parse one). */
let yaml: typeof import('yaml') | undefined
const loadYaml = (): typeof import('yaml') => (yaml ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'))

type Json = Record<string, unknown>

const str = (v: unknown): string | undefined => typeof v === 'string' && v !== '' ? v : undefined
const strList = (v: unknown): string[] | undefined => {
  if (!Array.isArray(v)) return undefined
  const list = v.filter((s): s is string => typeof s === 'string')
  return list.length > 0 ? list : undefined
}

/** Maintainers as helm wants them: objects; the CNR-era "Name <email>" strings are split. */
function maintainers (v: unknown): Json[] | undefined {
  if (!Array.isArray(v)) return undefined
  const list: Json[] = []
  for (const m of v) {
    if (typeof m === 'string') {
      const match = /^(.*?)\s*<([^>]*)>\s*$/.exec(m)
      list.push(match === null ? { name: m } : compact({ name: str(match[1]), email: str(match[2]) }))
    } else if (m !== null && typeof m === 'object') {
      const o = m as Json
      list.push(compact({ name: str(o.name), email: str(o.email), url: str(o.url) }))
    }
  }
  return list.length > 0 ? list : undefined
}

function dependencies (v: unknown): Json[] | undefined {
  if (!Array.isArray(v)) return undefined
  const list = v.filter((d): d is Json => d !== null && typeof d === 'object' && typeof (d as Json).name === 'string')
    .map(d => compact({
      name: d.name,
      version: str(d.version),
      repository: str(d.repository),
      condition: str(d.condition),
      tags: strList(d.tags),
      enabled: typeof d.enabled === 'boolean' ? d.enabled : undefined,
      alias: str(d.alias)
    }))
  return list.length > 0 ? list : undefined
}

function stringMap (v: unknown): Record<string, string> | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined
  const entries = Object.entries(v as Json).filter((e): e is [string, string] => typeof e[1] === 'string')
  return entries.length > 0 ? Object.fromEntries(entries) : undefined
}

function compact (o: Json): Json {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
}

/** Chart.yaml as an object, or undefined when it is missing or not YAML. */
export function parseChartYaml (text: string | undefined): Json | undefined {
  if (text === undefined) return undefined
  const { parse } = loadYaml()
  try {
    const doc: unknown = parse(text, { maxAliasCount: 100 })
    return doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? doc as Json : undefined
  } catch {
    return undefined
  }
}

/** The config document, fields in the order helm writes them. */
export function helmConfig (chart: Json | undefined, release: string, fallbackName: string): Json {
  const c = chart ?? {}
  return compact({
    name: str(c.name) ?? fallbackName,
    home: str(c.home),
    sources: strList(c.sources),
    version: release,
    description: str(c.description),
    keywords: strList(c.keywords),
    maintainers: maintainers(c.maintainers),
    icon: str(c.icon),
    apiVersion: str(c.apiVersion) ?? 'v1',
    condition: str(c.condition),
    tags: str(c.tags),
    appVersion: typeof c.appVersion === 'number' ? String(c.appVersion) : str(c.appVersion),
    deprecated: c.deprecated === true ? true : undefined,
    annotations: stringMap(c.annotations),
    kubeVersion: str(c.kubeVersion),
    dependencies: dependencies(c.dependencies),
    type: str(c.type)
  })
}
