// Online garbage collection: mark and sweep over the shared store while every replica keeps serving pushes.
//
// What it deletes, in one run:
//   1. tags a retention policy does not keep (through the tags service: tag-deleted events fire);
//   2. manifests no kept tag reaches, directly or through an index, when a retention policy deletes untagged
//      manifests (through the manifests service: manifest-deleted events fire); a referrer (signature, SBOM)
//      is kept as long as its subject is, unless the policy says otherwise;
//   3. layer links no kept manifest of their repository references (through the blobs service: blob-deleted);
//   4. blobs no kept link of any repository references;
//   5. abandoned writes: partial writes of writers that are gone, older than the grace period (on S3, multipart
//      uploads a crashed process left, whether or not a session or marker records them; on the filesystem,
//      temp files);
//   6. expired upload sessions, with their staged bytes (on S3, their writers' multipart uploads).
//
// Memory is O(1) per listing page: what is reachable is recorded in the store, under the run's scratch prefix
// (gc/runs/<run>/: a key per digest a kept manifest of a repository references, and a key per digest anything
// kept references at all), and every decision is a stat of one scratch key. Reads are O(store): every tag,
// manifest link, manifest, layer link and blob is read once; writes are O(references) scratch keys.
//
// Why it is safe under concurrent pushes on any replica. The danger is: the collection decides that X is
// unreferenced, then a push references X (links an existing blob, mounts it, puts a manifest naming it, tags
// an untagged manifest), then the collection deletes X. Three rules close it:
//
//   R1 (grace) Nothing whose own last write is younger than the grace period is deleted: not a blob, not a
//      link, not a tag. A push that uploads new bytes writes them, and they are young.
//   R2 (marks) A push that is about to reference existing content first refreshes that digest's liveness mark
//      (src/gc/marks.ts: gc/marks/<alg>/<hex>, a compare-and-swap record), and only then checks that the
//      content exists and writes its reference. Nothing whose mark was refreshed within the grace period is
//      deleted either.
//   R3 (condemnation) Before deleting anything of digest X (its bytes, or a link to it), the collection reads
//      X's mark, sees it stale, and swaps it, compare-and-swap on the version it read, for a condemnation
//      that lasts a minute. It then checks again that what it deletes is still old, deletes, and removes the
//      mark. A push's refresh is a compare-and-swap on the same key, so the two are ordered:
//        - refresh first: the mark's version changed, the condemnation fails, X stays;
//        - condemnation first: the refresh sees it and waits until the mark is gone (or the condemnation ran
//          out), and only then checks that X exists: it finds X gone and answers as for any missing blob
//          (a manifest naming it is refused with MANIFEST_BLOB_UNKNOWN; an upload stores the bytes anew).
//      A collection starts no delete with less than 30 s of its condemnation left, so a push never proceeds
//      while a delete it would race is in flight (store calls are bounded by the driver's timeouts).
//
// The mark phase needs no lock either: a reference written after the run listed its repository is either
// to young content (R1) or to refreshed content (R2), so the sweep keeps it. Pushes skip rewriting a mark they
// saw refreshed within a quarter of the grace period (at most 10 minutes), so the grace period must be longer
// than that plus the longest push; the default, a day, is far longer.
//
// As in Distribution's documentation, one consequence stays for clients: a client that checked a blob with
// HEAD, then pushes a manifest naming it long after (past the grace period, while the blob is unreferenced),
// may find it collected in between and get MANIFEST_BLOB_UNKNOWN; pushing the blob again fixes it.
//
// Other replicas' in-process content caches (src/registry/content-cache.ts) hold bytes by digest only:
// whether a repository holds a manifest or blob is read from its link on every request, so a collected one
// answers 404 everywhere at once. Tags and links are never cached.
import { randomUUID } from 'node:crypto'
import { isIndexMediaType } from '../registry/manifest-schemas.js'
import type { Registry } from '../registry/index.js'
import { readRecord } from '../registry/records.js'
import type { Descriptor } from '../types/generated/index.js'
import { isNotFound, type StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import type { Mark } from './marks.js'
import { policyFor, prunesTags, type Retention, type RetentionPolicy } from './retention.js'

export type DeletionKind = 'tag' | 'manifest' | 'layerLink' | 'blob' | 'abandonedWrite' | 'upload'

/** One thing a run deleted (or, dry, would delete). */
export interface Deletion {
  kind: DeletionKind
  repository?: string
  /** The tag, digest or upload id; for an abandoned write, the store's name of what was being written. */
  name: string
  /** An abandoned write's id in the store (an S3 multipart upload id, a temp file). */
  id?: string
  bytes: number
}

export interface GcReport {
  dryRun: boolean
  startedAt: string
  durationMs: number
  /** Count of deleted objects by kind. */
  deleted: Record<DeletionKind, number>
  /** Bytes freed by kind (blobs, abandoned writes and upload data; links, tags and manifest links count 0). */
  bytes: Record<DeletionKind, number>
  /** Bytes of blob, abandoned-write and upload data freed. */
  reclaimedBytes: number
  /** Repositories walked. */
  repositories: number
}

export interface CollectOptions {
  /** Report what would be deleted, delete nothing (the run still writes and removes its scratch keys). */
  dryRun?: boolean
  /** Grace period: nothing written or referenced more recently is deleted. */
  graceMs: number
  /** Told of every deletion as it happens (the CLI prints them). */
  onDelete?: (deletion: Deletion) => void
  /** Told of each finished run (metrics). */
  onRun?: (report: GcReport) => void
  /** Stops the run between two steps (the scheduler's close). */
  signal?: AbortSignal
  /** While this returns false, the run deletes nothing more and stops (the lease was lost). */
  mayContinue?: () => boolean
}

const PAGE = 1000
const ABANDONED_RUN_MS = 24 * 3600_000
/** An index that nests indexes deeper than this is not followed further (its children are kept anyway). */
const MAX_INDEX_DEPTH = 8

export class CollectionStopped extends Error {
  override readonly name = 'CollectionStopped'
}

interface ManifestLink {
  mediaType: string
  size: number
  subject?: string
}

/** Every key under a prefix, a page at a time. */
async function * keysUnder (driver: StorageDriver, prefix: string): AsyncGenerator<string> {
  let startAfter: string | undefined
  for (;;) {
    const page = await driver.list(prefix, { limit: PAGE, startAfter })
    yield * page.keys
    if (!page.truncated || page.keys.length === 0) return
    startAfter = page.keys.at(-1)
  }
}

/** `<prefix><alg>/<hex>` (links) or `blobs/<alg>/<xx>/<hex>` back to `<alg>:<hex>`. */
function digestFromKey (key: string, prefix: string): string | undefined {
  const parts = key.slice(prefix.length).split('/')
  const algorithm = parts[0]
  const encoded = parts.at(-1)
  return algorithm === undefined || encoded === undefined || parts.length < 2 ? undefined : `${algorithm}:${encoded}`
}

export function createCollector (registry: Registry, retention: Retention) {
  const { driver, marks } = registry

  /** Deletes the scratch of runs that crashed: started more than a day ago (a run never takes that long). */
  async function removeAbandonedRuns (current: string): Promise<void> {
    let startAfter: string | undefined
    for (;;) {
      const page = await driver.list(paths.gcRunsPrefix, { limit: 1, startAfter })
      const key = page.keys[0]
      if (key === undefined) return
      const run = key.slice(paths.gcRunsPrefix.length).split('/')[0] ?? ''
      const started = await driver.stat(paths.gcRunStarted(run))
      if (run !== current && (started === undefined || Date.now() - started.modifiedAt.getTime() > ABANDONED_RUN_MS)) {
        await driver.deletePrefix(paths.gcRunPrefix(run))
      }
      startAfter = `${paths.gcRunPrefix(run)}~` // past every key of that run ('~' sorts after every key character)
    }
  }

  async function collect (options: CollectOptions): Promise<GcReport> {
    const started = Date.now()
    const dryRun = options.dryRun ?? false
    const run = randomUUID()
    const cutoff = started - options.graceMs
    const zero = (): Record<DeletionKind, number> => ({ tag: 0, manifest: 0, layerLink: 0, blob: 0, abandonedWrite: 0, upload: 0 })
    const report: GcReport = { dryRun, startedAt: new Date(started).toISOString(), durationMs: 0, deleted: zero(), bytes: zero(), reclaimedBytes: 0, repositories: 0 }
    const policies = await retention.list()

    const checkpoint = (): void => {
      if (options.signal?.aborted === true) throw new CollectionStopped('the collection was stopped')
      if (options.mayContinue !== undefined && !options.mayContinue()) throw new CollectionStopped('the collection lease was lost')
    }
    const record = (deletion: Deletion): void => {
      report.deleted[deletion.kind]++
      report.bytes[deletion.kind] += deletion.bytes
      if (deletion.kind === 'blob' || deletion.kind === 'abandonedWrite' || deletion.kind === 'upload') report.reclaimedBytes += deletion.bytes
      options.onDelete?.(deletion)
    }
    const isOld = async (key: string): Promise<boolean> => {
      const info = await driver.stat(key)
      return info !== undefined && info.modifiedAt.getTime() < cutoff
    }
    const exists = async (key: string): Promise<boolean> => await driver.stat(key) !== undefined
    const markStale = (mark: Mark | undefined): boolean =>
      marks.refreshedAt(mark) < cutoff &&
      !(mark?.record.condemnedUntil !== undefined && Date.parse(mark.record.condemnedUntil) > Date.now())

    /**
     * Deletes what `remove` deletes of digest X under rule R3: only when X's mark is stale, after condemning it,
     * and when `stillOld` holds after the condemnation. Dry: whether a real run would.
     */
    async function condemnedDelete (digest: string, stillOld: () => Promise<boolean>, remove: () => Promise<void>): Promise<boolean> {
      checkpoint()
      const mark = await marks.read(digest)
      if (!markStale(mark)) return false
      if (dryRun) return await stillOld()
      const condemned = await marks.condemn(digest, mark?.version, run)
      if (condemned === undefined) return false // a push refreshed it meanwhile
      try {
        if (!await stillOld()) return false
        if (Date.now() > condemned.deadline) return false
        checkpoint()
        await remove()
        return true
      } finally {
        await marks.release(digest, condemned)
      }
    }

    const markReachable = async (digest: string): Promise<void> => {
      await driver.write(paths.gcReachable(run, digest), Buffer.alloc(0))
    }
    const markInRepo = async (name: string, digest: string): Promise<void> => {
      await driver.write(paths.gcRepoRef(run, name, digest), Buffer.alloc(0))
      await markReachable(digest)
    }
    const isKeptInRepo = async (name: string, digest: string): Promise<boolean> => await exists(paths.gcRepoRef(run, name, digest))

    /** Keeps a manifest of `name` and what it references; follows index children. */
    async function keepManifest (name: string, digest: string, depth = 0): Promise<void> {
      if (await isKeptInRepo(name, digest)) return
      const link = await readRecord<ManifestLink>(driver, paths.manifestLink(name, digest))
      if (link === undefined) return // a tag naming a manifest the repository does not hold
      await markInRepo(name, digest)
      let doc: { config?: Descriptor, layers?: Descriptor[], manifests?: Descriptor[] }
      try {
        doc = JSON.parse((await driver.readAll(paths.blob(digest))).toString('utf8'))
      } catch (err) {
        if (isNotFound(err) || err instanceof SyntaxError) return
        throw err
      }
      if (isIndexMediaType(link.mediaType)) {
        for (const child of doc.manifests ?? []) {
          if (typeof child?.digest !== 'string') continue
          if (depth < MAX_INDEX_DEPTH) await keepManifest(name, child.digest, depth + 1)
          else await markInRepo(name, child.digest)
        }
      } else {
        for (const d of [doc.config, ...(doc.layers ?? [])]) {
          if (typeof d?.digest === 'string') await markInRepo(name, d.digest)
        }
      }
    }

    /** Retention of tags: deletes those the policy does not keep; keeps (marks) the manifests of the rest. */
    async function collectTags (name: string, policy: RetentionPolicy | undefined): Promise<void> {
      const prefix = paths.tagsPrefix(name)
      const keepPattern = policy?.keepTags === undefined ? undefined : new RegExp(`^(?:${policy.keepTags})$`)
      // The N newest tags by push time: a sorted list of at most N, so memory stays O(N).
      const newest: Array<{ at: number, tag: string }> = []
      const keepLast = prunesTags(policy) ? policy?.keepLastTags ?? 0 : 0
      // Tags an immutable-tag rule holds are never deleted (src/governance): retention keeps them like any kept tag.
      const immutable = prunesTags(policy) ? await registry.guard.immutableRules(name) : undefined
      const after = (a: { at: number, tag: string }, b: { at: number, tag: string }): boolean => a.at > b.at || (a.at === b.at && a.tag > b.tag)
      if (keepLast > 0) {
        for await (const key of keysUnder(driver, prefix)) {
          const info = await driver.stat(key)
          if (info === undefined) continue
          const entry = { at: info.modifiedAt.getTime(), tag: key.slice(prefix.length) }
          if (newest.length === keepLast && !after(entry, newest.at(-1) as typeof entry)) continue
          newest.push(entry)
          newest.sort((a, b) => after(a, b) ? -1 : 1)
          if (newest.length > keepLast) newest.pop()
        }
      }
      const threshold = newest.length === keepLast ? newest.at(-1) : undefined
      for await (const key of keysUnder(driver, prefix)) {
        checkpoint()
        const tag = key.slice(prefix.length)
        const info = await driver.stat(key)
        const tagged = await registry.tags.get(name, tag)
        if (info === undefined || tagged === undefined) continue
        const entry = { at: info.modifiedAt.getTime(), tag }
        const kept = !prunesTags(policy) ||
          keepPattern?.test(tag) === true ||
          immutable?.(tag) !== undefined ||
          (keepLast > 0 && (threshold === undefined || !after(threshold, entry))) ||
          entry.at >= cutoff
        if (kept) {
          await keepManifest(name, tagged.digest)
          continue
        }
        let deleted = dryRun
        if (!dryRun) {
          // Checked again just before: a tag moved meanwhile is young, and stays.
          checkpoint()
          if (await isOld(key)) deleted = await registry.tags.delete(name, tag)
        }
        if (deleted) record({ kind: 'tag', repository: name, name: tag, bytes: 0 })
        else await keepManifest(name, tagged.digest)
      }
    }

    /** Untagged manifests: kept unless the policy deletes them; referrers follow their subject. */
    async function collectManifests (name: string, policy: RetentionPolicy | undefined): Promise<void> {
      const prefix = paths.manifestsPrefix(name)
      const untaggedAfterMs = policy?.untaggedAfterSeconds === undefined ? undefined : policy.untaggedAfterSeconds * 1000
      const keepReferrers = policy?.keepReferrers ?? true
      // Roots: every manifest when untagged ones stay; else the young ones.
      for await (const key of keysUnder(driver, prefix)) {
        checkpoint()
        const digest = digestFromKey(key, prefix)
        if (digest === undefined) continue
        const info = await driver.stat(key)
        if (info === undefined) continue
        const age = started - info.modifiedAt.getTime()
        if (untaggedAfterMs === undefined || age < Math.max(untaggedAfterMs, options.graceMs)) await keepManifest(name, digest)
      }
      if (untaggedAfterMs === undefined) return
      // Referrers of kept subjects are kept, until nothing changes (a signature of an SBOM of an image).
      for (let changed = keepReferrers; changed;) {
        changed = false
        for await (const key of keysUnder(driver, prefix)) {
          const digest = digestFromKey(key, prefix)
          if (digest === undefined || await isKeptInRepo(name, digest)) continue
          const link = await readRecord<ManifestLink>(driver, key)
          if (link?.subject !== undefined && await isKeptInRepo(name, link.subject)) {
            await keepManifest(name, digest)
            changed = true
          }
        }
      }
      for await (const key of keysUnder(driver, prefix)) {
        const digest = digestFromKey(key, prefix)
        if (digest === undefined || await isKeptInRepo(name, digest)) continue
        const link = await readRecord<ManifestLink>(driver, key)
        if (link === undefined) continue
        const untagged = async (): Promise<boolean> => (await driver.list(`${paths.taggedPrefix(name, digest)}`, { limit: 1 })).keys.length === 0
        const deleted = await condemnedDelete(digest,
          // Dry, tags retention would delete are still there; for real, a tag set meanwhile is seen here.
          async () => await isOld(key) && (dryRun || await untagged()),
          async () => { await registry.manifests.delete(name, digest) })
        if (deleted) record({ kind: 'manifest', repository: name, name: digest, bytes: 0 })
        else await keepManifest(name, digest)
      }
    }

    /** Layer links no kept manifest of the repository references. */
    async function collectLayerLinks (name: string): Promise<void> {
      const prefix = `repositories/${name}/_layers/`
      for await (const key of keysUnder(driver, prefix)) {
        const digest = digestFromKey(key, prefix)
        if (digest === undefined) continue
        if (await isKeptInRepo(name, digest)) continue
        const deleted = await condemnedDelete(digest, async () => await isOld(key), async () => {
          try {
            await registry.blobs.delete(name, digest)
          } catch {} // unlinked meanwhile by a client: gone either way
        })
        if (deleted) record({ kind: 'layerLink', repository: name, name: digest, bytes: 0 })
        else await markReachable(digest)
      }
    }

    async function collectRepository (name: string): Promise<void> {
      const policy = policyFor(policies, name)
      await collectTags(name, policy)
      await collectManifests(name, policy)
      await collectLayerLinks(name)
      await driver.deletePrefix(paths.gcRepoPrefix(run, name))
    }

    async function collectBlobs (): Promise<void> {
      for await (const key of keysUnder(driver, 'blobs/')) {
        const digest = digestFromKey(key, 'blobs/')
        if (digest === undefined || await exists(paths.gcReachable(run, digest))) continue
        const info = await driver.stat(key)
        if (info === undefined) continue
        const deleted = await condemnedDelete(digest, async () => await isOld(key), async () => { await driver.delete(key) })
        if (deleted) record({ kind: 'blob', name: digest, bytes: info.size })
      }
    }

    /**
     * Partial writes started before the grace cutoff: their writers are gone (a live one is younger). Swept
     * before the sessions, so that the multipart upload of an expired session counts here in a dry run as in
     * a real one (a real session purge would otherwise abort it first).
     */
    async function collectAbandonedWrites (): Promise<void> {
      if (driver.abandonedWrites === undefined || driver.discardAbandonedWrite === undefined) return
      for await (const write of driver.abandonedWrites(new Date(cutoff))) {
        checkpoint()
        if (dryRun || await driver.discardAbandonedWrite(write)) {
          record({ kind: 'abandonedWrite', name: write.name, id: write.id, bytes: write.bytes ?? 0 })
        }
      }
    }

    await driver.write(paths.gcRunStarted(run), Buffer.alloc(0))
    if (!dryRun) await removeAbandonedRuns(run)
    try {
      for await (const name of registry.catalog.names()) {
        checkpoint()
        report.repositories++
        await collectRepository(name)
      }
      await collectBlobs()
      await collectAbandonedWrites()
      checkpoint()
      await registry.uploads.purgeExpired(Date.now(), {
        dryRun,
        onPurged: (id, bytes) => { record({ kind: 'upload', name: id, bytes }) }
      })
    } finally {
      await driver.deletePrefix(paths.gcRunPrefix(run)).catch(() => {})
    }
    report.durationMs = Date.now() - started
    options.onRun?.(report)
    return report
  }

  return { collect }
}

export type Collector = ReturnType<typeof createCollector>
