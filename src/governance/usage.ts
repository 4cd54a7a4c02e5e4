// Storage usage per namespace, for quotas. A namespace holds a digest (blob or manifest) while any of its
// repositories links it; it counts once however many do. Kept incrementally from the registry events, only for
// namespaces that have a quota (the listeners are awaited on the push path, so others cost nothing), in records
// that survive restarts:
//   - a holder record per (digest, layer|manifest, repository), written or deleted as links come and go;
//   - a digest record per digest the namespace holds, created by the first holder (createIfAbsent) and deleted
//     with the last, which is when its size is added to or taken from the total;
//   - the total, updated with compare-and-swap, so replicas never lose each other's updates.
// Events repeat harmlessly (holders are keyed, digests created once). An event lost in a crash, or a race between
// the last holder leaving and a new one arriving, can leave the total off: `recount` rebuilds every record from
// the repositories' links. A namespace without a quota is only ever measured: `recount` writes its records and a
// total stamped with recountedAt, which no push moves until it is measured again.
import { RegistryError } from '../errors/registry-error.js'
import type { Catalog } from '../registry/catalog.js'
import type { RegistryEvents } from '../registry/events.js'
import { readRecord, writeRecord } from '../registry/records.js'
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import { formatSize, namespaceOf, type Rules } from './rules.js'

export interface UsageTotal {
  usedBytes: number
  /** When `recount` last rebuilt the namespace's usage. */
  recountedAt?: string
}

export interface RecountReport {
  namespace: string
  repositories: number
  links: number
  digests: number
  usedBytes: number
}

type Kind = 'layer' | 'manifest'

export function quotaExceeded (name: string, namespace: string, used: number, limit: number, size: number): RegistryError {
  return new RegistryError('quota-exceeded',
    `quota exceeded: storing ${formatSize(size)} (${size} bytes) in ${name} would take namespace ${namespace} past its quota: ` +
    `${formatSize(used)} (${used} bytes) used of ${formatSize(limit)} (${limit} bytes)`,
    { namespace, usedBytes: used, limitBytes: limit, requestedBytes: size })
}

export function createUsage (driver: StorageDriver, rules: Rules) {
  async function hasQuota (namespace: string): Promise<boolean> {
    return (await rules.get(namespace))?.quotaBytes !== undefined
  }

  async function addToTotal (namespace: string, delta: number): Promise<void> {
    const key = paths.usageTotal(namespace)
    for (let attempt = 0; attempt < 50; attempt++) {
      const current = await driver.readVersioned(key)
      const total = current === undefined ? { usedBytes: 0 } : JSON.parse(current.data.toString('utf8')) as UsageTotal
      const next: UsageTotal = { ...total, usedBytes: Math.max(0, total.usedBytes + delta) }
      if (await driver.compareAndSwap(key, current?.version, Buffer.from(JSON.stringify(next))) !== undefined) return
    }
    throw new Error(`gave up updating ${key}: it kept changing`)
  }

  async function anyHolder (namespace: string, digest: string): Promise<boolean> {
    return (await driver.list(paths.usageHoldersPrefix(namespace, digest), { limit: 1 })).keys.length > 0
  }

  /** Records that `name` links `digest`; counts its size when the namespace did not hold it yet. */
  async function hold (namespace: string, name: string, digest: string, kind: Kind, size: number): Promise<boolean> {
    await writeRecord(driver, paths.usageHolder(namespace, digest, kind, name), {})
    if (!await driver.createIfAbsent(paths.usageDigest(namespace, digest), Buffer.from(JSON.stringify({ size })))) return false
    await addToTotal(namespace, size)
    return true
  }

  async function release (namespace: string, name: string, digest: string, kind: Kind): Promise<void> {
    if (!await driver.delete(paths.usageHolder(namespace, digest, kind, name))) return
    if (await anyHolder(namespace, digest)) return
    const record = await readRecord<{ size: number }>(driver, paths.usageDigest(namespace, digest))
    if (record === undefined || !await driver.delete(paths.usageDigest(namespace, digest))) return
    await addToTotal(namespace, -record.size)
    // A repository that linked the digest meanwhile found the digest record still there and did not count it.
    if (await anyHolder(namespace, digest) && await driver.createIfAbsent(paths.usageDigest(namespace, digest), Buffer.from(JSON.stringify(record)))) {
      await addToTotal(namespace, record.size)
    }
  }

  const usage = {
    async total (namespace: string): Promise<UsageTotal | undefined> {
      return await readRecord<UsageTotal>(driver, paths.usageTotal(namespace))
    },

    /** See RegistryGuard.checkQuota. Without a quota: one cached lookup, no store read. */
    async checkQuota (name: string, digest: string | undefined, size: number): Promise<void> {
      const namespace = namespaceOf(name)
      const limit = (await rules.get(namespace))?.quotaBytes
      if (limit === undefined) return
      if (digest !== undefined && await driver.stat(paths.usageDigest(namespace, digest)) !== undefined) return
      const used = (await usage.total(namespace))?.usedBytes ?? 0
      if (used + size > limit) throw quotaExceeded(name, namespace, used, limit, size)
    },

    /** Keeps usage in step with the registry's writes, whoever made them. Returns the unsubscribe function. */
    subscribe (events: RegistryEvents): () => void {
      const tracked = <E extends { repository: string }>(apply: (namespace: string, event: E) => Promise<unknown>) =>
        async (event: E): Promise<void> => {
          const namespace = namespaceOf(event.repository)
          if (await hasQuota(namespace)) await apply(namespace, event)
        }
      const off = [
        events.on('blob-committed', tracked(async (ns, e) => await hold(ns, e.repository, e.digest, 'layer', e.size))),
        events.on('manifest-put', tracked(async (ns, e) => await hold(ns, e.repository, e.digest, 'manifest', e.size))),
        events.on('blob-deleted', tracked(async (ns, e) => { await release(ns, e.repository, e.digest, 'layer') })),
        events.on('manifest-deleted', tracked(async (ns, e) => { await release(ns, e.repository, e.digest, 'manifest') }))
      ]
      return () => { for (const unsubscribe of off) unsubscribe() }
    },

    /**
     * Rebuilds the namespace's usage from its repositories' links: O(links) reads, O(one page) memory. Writes
     * racing a recount may leave it off by their size; run it again when pushes are quiet.
     */
    async recount (namespace: string, catalog: Catalog): Promise<RecountReport> {
      await driver.deletePrefix(paths.usageDigestsPrefix(namespace))
      await driver.deletePrefix(paths.usageAllHoldersPrefix(namespace))
      const report: RecountReport = { namespace, repositories: 0, links: 0, digests: 0, usedBytes: 0 }
      for await (const name of catalog.names(namespace)) {
        report.repositories++
        for (const [kind, prefix] of [['layer', paths.layersPrefix(name)], ['manifest', paths.manifestsPrefix(name)]] as const) {
          for (let startAfter: string | undefined; ;) {
            const page = await driver.list(prefix, { limit: 1000, startAfter })
            for (const key of page.keys) {
              const link = await readRecord<{ size: number }>(driver, key)
              if (link === undefined) continue
              const digest = paths.digestFromLinkKey(key)
              report.links++
              await writeRecord(driver, paths.usageHolder(namespace, digest, kind, name), {})
              if (await driver.createIfAbsent(paths.usageDigest(namespace, digest), Buffer.from(JSON.stringify({ size: link.size })))) {
                report.digests++
                report.usedBytes += link.size
              }
            }
            if (!page.truncated || page.keys.length === 0) break
            startAfter = page.keys.at(-1)
          }
        }
      }
      await writeRecord(driver, paths.usageTotal(namespace), { usedBytes: report.usedBytes, recountedAt: new Date().toISOString() } satisfies UsageTotal)
      return report
    },

    /** Drops a namespace's usage records (its quota is gone: nothing tracks them any more). */
    async drop (namespace: string): Promise<void> {
      await driver.deletePrefix(paths.usagePrefix(namespace))
    },

    /**
     * Every namespace with usage records, in name order: one listing call per namespace, each skipping past the
     * namespace's own records (its digests and holders are never read).
     */
    async * namespaces (): AsyncGenerator<string> {
      const prefix = paths.usageRoot
      for (let startAfter: string | undefined; ;) {
        const page = await driver.list(prefix, { limit: 1, startAfter })
        const key = page.keys[0]
        if (key === undefined) return
        const namespace = key.slice(prefix.length).split('/')[0] as string
        yield namespace
        // '~' sorts after every character of a record name under the namespace, so this is past all of them.
        startAfter = `${paths.usagePrefix(namespace)}~`
      }
    }
  }
  return usage
}

export type Usage = ReturnType<typeof createUsage>
