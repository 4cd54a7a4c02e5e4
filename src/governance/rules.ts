// Each namespace's governance rules, one record per namespace: its immutable-tag patterns and its storage quota.
// Every replica reads them through a short cache, so a rule set through the CLI holds everywhere within
// RULES_CACHE_MS; a namespace without a record costs one read per cache lifetime, not one per request.
import { RecordCache } from '../auth/records.js'
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'

export interface NamespaceRules {
  /** Tag globs (`*` any run of characters, `?` one character): a tag matching one is never moved or deleted. */
  immutable: string[]
  /** The most bytes the namespace may hold; absent: no quota. */
  quotaBytes?: number
}

/** How long a replica may act on rules it read earlier: the bound on a CLI change taking effect. */
export const RULES_CACHE_MS = 2_000

const PATTERN = /^[A-Za-z0-9_.*?-]{1,128}$/
const NAMESPACE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/

export class GovernanceInputError extends Error {
  override readonly name = 'GovernanceInputError'
}

export function assertNamespace (namespace: string): void {
  if (!NAMESPACE.test(namespace) || namespace.length > 254) {
    throw new GovernanceInputError(`invalid namespace "${namespace}": the first component of a repository name (lowercase letters, digits and . _ - separators)`)
  }
}

export function assertPattern (pattern: string): void {
  if (!PATTERN.test(pattern)) {
    throw new GovernanceInputError(`invalid tag pattern "${pattern}": tag characters (A-Z a-z 0-9 _ . -) and the wildcards * and ?, at most 128`)
  }
}

/** The namespace of a repository: its first path component. */
export const namespaceOf = (name: string): string => name.split('/')[0] ?? name

/** A matcher returning the first pattern the tag matches, or undefined. */
export function compilePatterns (patterns: string[]): (tag: string) => string | undefined {
  const compiled = patterns.map(pattern => ({
    pattern,
    regex: new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`)
  }))
  return tag => compiled.find(c => c.regex.test(tag))?.pattern
}

export function createRules (driver: StorageDriver, { cacheMs = RULES_CACHE_MS }: { cacheMs?: number } = {}) {
  const records = new RecordCache<NamespaceRules>(driver, cacheMs)
  // Matchers by pattern list, so a cached record is compiled once.
  const matchers = new WeakMap<NamespaceRules, (tag: string) => string | undefined>()

  const rules = {
    async get (namespace: string): Promise<NamespaceRules | undefined> {
      return await records.get(paths.governanceNamespace(namespace))
    },

    async matcher (namespace: string): Promise<((tag: string) => string | undefined) | undefined> {
      const record = await rules.get(namespace)
      if (record === undefined || record.immutable.length === 0) return undefined
      let matcher = matchers.get(record)
      if (matcher === undefined) matchers.set(record, matcher = compilePatterns(record.immutable))
      return matcher
    },

    async update (namespace: string, change: (current: NamespaceRules) => NamespaceRules): Promise<NamespaceRules> {
      assertNamespace(namespace)
      const key = paths.governanceNamespace(namespace)
      const next = await records.update(key, current => change(current ?? { immutable: [] }))
      const result = next ?? { immutable: [] }
      // A namespace with neither rules nor quota needs no record (and then costs nothing).
      if (result.immutable.length === 0 && result.quotaBytes === undefined) await records.remove(key)
      return result
    },

    /** Every namespace with a record, in name order, one page at a time. */
    async * list (): AsyncGenerator<{ namespace: string, rules: NamespaceRules }> {
      for (let startAfter: string | undefined; ;) {
        const page = await driver.list(paths.governanceNamespacesPrefix, { limit: 1000, startAfter })
        for (const key of page.keys) {
          const namespace = paths.governanceNamespaceFromKey(key)
          const record = await rules.get(namespace)
          if (record !== undefined) yield { namespace, rules: record }
        }
        if (!page.truncated || page.keys.length === 0) return
        startAfter = page.keys.at(-1)
      }
    },

    forget (namespace: string): void {
      records.forget(paths.governanceNamespace(namespace))
    }
  }
  return rules
}

export type Rules = ReturnType<typeof createRules>

const UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 2 ** 10, kib: 2 ** 10, mi: 2 ** 20, mib: 2 ** 20, gi: 2 ** 30, gib: 2 ** 30, ti: 2 ** 40, tib: 2 ** 40
}

/** Parses a size such as `10GiB`, `500MB`, `1.5G` or `1024` (bytes). */
export function parseSize (text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim())
  const unit = match === null ? undefined : UNITS[(match[2] as string).toLowerCase()]
  if (match === null || unit === undefined) throw new GovernanceInputError(`invalid size "${text}": a number with an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`)
  const bytes = Math.floor(Number(match[1]) * unit)
  if (!Number.isSafeInteger(bytes)) throw new GovernanceInputError(`size "${text}" is too large`)
  return bytes
}

/** A byte count for people: `1.5 GiB`, `812 B`. */
export function formatSize (bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let i = 0
  while (value >= 1024 && i < units.length - 1) { value /= 1024; i++ }
  return i === 0 ? `${bytes} B` : `${Number.isInteger(value) ? value : value.toFixed(2)} ${units[i] as string}`
}
