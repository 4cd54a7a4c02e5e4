// Governance: immutable tags and storage quotas per namespace (the first component of a repository name).
// Rules live in the store (rules.ts), set through the CLI (cli.ts) and read by every replica through a short cache;
// the registry services consult them through the RegistryGuard before they write, so every door (/v2, CNR,
// /packages, the CLI, GC) obeys the same rules and a refused write leaves the store as it was. Usage is kept
// from the registry events (usage.ts).
import type { Catalog } from '../registry/catalog.js'
import type { RegistryEvents } from '../registry/events.js'
import type { RegistryGuard } from '../registry/guard.js'
import type { StorageDriver } from '../storage/driver.js'
import { RULES_CACHE_MS, assertNamespace, assertPattern, createRules, namespaceOf, type NamespaceRules } from './rules.js'
import { createUsage, type RecountReport } from './usage.js'

export { GovernanceInputError, RULES_CACHE_MS, assertNamespace, formatSize, parseSize } from './rules.js'
export type { NamespaceRules } from './rules.js'
export type { RecountReport } from './usage.js'

export interface QuotaUsage {
  namespace: string
  usedBytes: number
  limitBytes: number
}

/**
 * What a namespace stores. A namespace with a quota is tracked live (`live`, with `limitBytes`); any other has
 * the figure of its last measurement (`measuredAt`), which pushes do not move.
 */
export interface NamespaceStorage {
  namespace: string
  usedBytes: number
  live: boolean
  limitBytes?: number
  /** When the figure was measured from the store (a snapshot: only on rows that are not live). */
  measuredAt?: string
}

export interface GovernanceOptions {
  /** How long rules are cached (tests: 0). Default RULES_CACHE_MS. */
  cacheMs?: number
}

export function createGovernance (driver: StorageDriver, { cacheMs = RULES_CACHE_MS }: GovernanceOptions = {}) {
  const rules = createRules(driver, { cacheMs })
  const usage = createUsage(driver, rules)

  const guard: RegistryGuard = {
    immutableRules: async name => await rules.matcher(namespaceOf(name)),
    checkQuota: async (name, digest, size) => { await usage.checkQuota(name, digest, size) }
  }

  /** A namespace's measured snapshot: its total, when a recount wrote it (a total without one was never measured). */
  async function measurementOf (namespace: string): Promise<NamespaceStorage | undefined> {
    const total = await usage.total(namespace)
    if (total?.recountedAt === undefined) return undefined
    return { namespace, usedBytes: total.usedBytes, live: false, measuredAt: total.recountedAt }
  }

  const governance = {
    rules,
    usage,
    guard,
    cacheMs,

    /** Keeps quota usage in step with the registry events; returns the unsubscribe function. */
    subscribe (events: RegistryEvents): () => void {
      return usage.subscribe(events)
    },

    async addImmutable (namespace: string, pattern: string): Promise<NamespaceRules> {
      assertPattern(pattern)
      return await rules.update(namespace, r => r.immutable.includes(pattern) ? r : { ...r, immutable: [...r.immutable, pattern] })
    },

    async removeImmutable (namespace: string, pattern: string): Promise<NamespaceRules> {
      return await rules.update(namespace, r => ({ ...r, immutable: r.immutable.filter(p => p !== pattern) }))
    },

    /**
     * Sets a namespace's quota. A namespace that had none was not tracked: every replica starts tracking it once
     * its rules cache expires (RULES_CACHE_MS at most), so its usage is counted from the store only after that
     * (`settle` waits it out; a test with one uncached process may skip it). A measured snapshot is replaced.
     */
    async setQuota (namespace: string, limitBytes: number, catalog: Catalog, settle: (ms: number) => Promise<void>): Promise<{ limitBytes: number, usedBytes: number }> {
      const had = (await rules.get(namespace))?.quotaBytes !== undefined && await usage.total(namespace) !== undefined
      await rules.update(namespace, r => ({ ...r, quotaBytes: limitBytes }))
      if (!had) {
        await settle(RULES_CACHE_MS)
        return { limitBytes, usedBytes: (await usage.recount(namespace, catalog)).usedBytes }
      }
      return { limitBytes, usedBytes: (await usage.total(namespace))?.usedBytes ?? 0 }
    },

    async unsetQuota (namespace: string): Promise<boolean> {
      const had = (await rules.get(namespace))?.quotaBytes !== undefined
      await rules.update(namespace, ({ quotaBytes: _dropped, ...r }) => r)
      await usage.drop(namespace)
      return had
    },

    async recount (namespace: string, catalog: Catalog): Promise<RecountReport> {
      assertNamespace(namespace)
      return await usage.recount(namespace, catalog)
    },

    /**
     * Usage and limit of every namespace with a quota, for `berth quota` and as the metrics hook: register it as
     * a Prometheus gauge collector (berth_namespace_quota_used_bytes / _limit_bytes, labelled by namespace).
     */
    async quotaUsage (): Promise<QuotaUsage[]> {
      const found: QuotaUsage[] = []
      for await (const { namespace, rules: r } of rules.list()) {
        if (r.quotaBytes === undefined) continue
        found.push({ namespace, usedBytes: (await usage.total(namespace))?.usedBytes ?? 0, limitBytes: r.quotaBytes })
      }
      return found
    },

    /**
     * What every namespace with a quota or a measurement stores, in name order: O(namespaces) store reads, for
     * the web UI's storage summary.
     */
    async storageUsage (): Promise<NamespaceStorage[]> {
      const limits = new Map<string, number>()
      for await (const { namespace, rules: r } of rules.list()) if (r.quotaBytes !== undefined) limits.set(namespace, r.quotaBytes)
      const found = new Map<string, NamespaceStorage>()
      for (const [namespace, limitBytes] of limits) {
        found.set(namespace, { namespace, usedBytes: (await usage.total(namespace))?.usedBytes ?? 0, live: true, limitBytes })
      }
      for await (const namespace of usage.namespaces()) {
        if (found.has(namespace)) continue
        const measured = await measurementOf(namespace)
        if (measured !== undefined) found.set(namespace, measured)
      }
      return [...found.values()].sort((a, b) => a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0)
    },

    /**
     * Measures what a namespace without a quota stores, from the store (a recount: O(links) reads), and returns
     * its row. A namespace with a quota is tracked live and answered as it is: recounting it races pushes, so
     * that stays the operator's repair (`berth quota recount`).
     */
    async measure (namespace: string, catalog: Catalog): Promise<NamespaceStorage> {
      assertNamespace(namespace)
      const limitBytes = (await rules.get(namespace))?.quotaBytes
      if (limitBytes !== undefined) return { namespace, usedBytes: (await usage.total(namespace))?.usedBytes ?? 0, live: true, limitBytes }
      const report = await usage.recount(namespace, catalog)
      return await measurementOf(namespace) ?? { namespace, usedBytes: report.usedBytes, live: false }
    },

    /**
     * The namespaces `berth quota recount` rebuilds when none is named: every namespace in the catalog, and any
     * other with usage records. O(repositories): for the CLI.
     */
    async recountableNamespaces (catalog: Catalog): Promise<string[]> {
      const found = new Set<string>()
      for await (const name of catalog.names()) found.add(namespaceOf(name))
      for await (const namespace of usage.namespaces()) found.add(namespace)
      return [...found].sort()
    },

    /** Every namespace with immutable-tag rules, in name order. */
    async immutableRules (): Promise<Array<{ namespace: string, patterns: string[] }>> {
      const found: Array<{ namespace: string, patterns: string[] }> = []
      for await (const { namespace, rules: r } of rules.list()) {
        if (r.immutable.length > 0) found.push({ namespace, patterns: r.immutable })
      }
      return found
    }
  }
  return governance
}

export type Governance = ReturnType<typeof createGovernance>
