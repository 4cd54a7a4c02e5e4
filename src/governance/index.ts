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

export { GovernanceInputError, RULES_CACHE_MS, formatSize, parseSize } from './rules.js'
export type { NamespaceRules } from './rules.js'
export type { RecountReport } from './usage.js'

export interface QuotaUsage {
  namespace: string
  usedBytes: number
  limitBytes: number
}

/** What a namespace stores (every namespace with usage records), and its quota when it has one. */
export interface NamespaceStorage {
  namespace: string
  usedBytes: number
  limitBytes?: number
  /** When `berth quota recount` (or setting the quota) last rebuilt the namespace's usage from the store. */
  recountedAt?: string
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

  const governance = {
    rules,
    usage,
    guard,
    cacheMs,

    /** Keeps every namespace's usage in step with the registry events; returns the unsubscribe function. */
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
     * Sets a namespace's quota. A namespace that had none is recounted from the store, since its usage may
     * predate tracking (older versions tracked only namespaces with a quota, and may still run on other
     * replicas until their rules cache expires: RULES_CACHE_MS at most, which `settle` waits out; a test with
     * one uncached process may skip it).
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
      return had // its usage stays tracked, as every namespace's is
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
     * What every namespace stores, with its quota if it has one, in name order: O(namespaces) store reads, for
     * the web UI's storage summary.
     */
    async storageUsage (): Promise<NamespaceStorage[]> {
      const limits = new Map<string, number>()
      for await (const { namespace, rules: r } of rules.list()) if (r.quotaBytes !== undefined) limits.set(namespace, r.quotaBytes)
      const found = new Map<string, NamespaceStorage>()
      for await (const namespace of usage.namespaces()) {
        const total = await usage.total(namespace)
        if (total === undefined && !limits.has(namespace)) continue // records left behind without a total
        found.set(namespace, { namespace, usedBytes: total?.usedBytes ?? 0, ...(total?.recountedAt === undefined ? {} : { recountedAt: total.recountedAt }) })
      }
      for (const [namespace, limitBytes] of limits) found.set(namespace, { ...found.get(namespace) ?? { namespace, usedBytes: 0 }, limitBytes })
      return [...found.values()].sort((a, b) => a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0)
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
