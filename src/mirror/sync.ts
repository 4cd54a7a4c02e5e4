// Scheduled sync (pull replication): a mirror entry with a `sync` section copies the upstream tags of the
// repositories it lists that match its tag pattern into the mirror prefix, with their referrers (signatures,
// SBOMs, also cosign's `sha256-<hex>.sig|att|sbom` tags), through the registry services, so the CNR index,
// quotas, webhooks and GC marks see every write as they see a push.
//
// Each replica runs the schedule; a lease per mirror in the store lets one replica sync a mirror at a time, and
// a replica skips a run another replica finished less than an interval ago. A tag whose upstream digest is the
// one last copied (recorded in the store) costs one HEAD; a copy cut off halfway continues on the next run,
// skipping what is already here (see copy.ts).
import type { Logger } from 'pino'
import { acquireLease } from '../gc/lease.js'
import type { Registry } from '../registry/index.js'
import { readRecord, writeRecord } from '../registry/records.js'
import { paths } from '../storage/paths.js'
import type { MirrorConfig } from './config.js'
import { addTally, copyImage, emptyTally, localEnd, remoteEnd, type CopyOptions, type CopyTally } from './copy.js'
import { createRegistryClient, type RegistryClient, type RemoteRegistry } from './registry-client.js'
import { COSIGN_TAG, REFERRERS_SCHEMA_TAG, isSigned } from './signatures.js'

/** A mirror entry that syncs (from BERTH_MIRRORS; see src/mirror/config.ts). */
export interface SyncedMirror {
  /** The mirror's name: its local prefix (`hub` for hub/alpine). */
  name: string
  upstream: RemoteRegistry
  /** Upstream repositories are `<upstreamPrefix>/<repository>`. */
  upstreamPrefix?: string
  sync: {
    /** Upstream repository names (under upstreamPrefix), copied to `<name>/<repository>`. */
    repositories: string[]
    /** Tags to copy: a regular expression matched against the whole tag. */
    tags: string
    /** Between two runs; 0: only `berth mirror sync NAME` runs it. */
    intervalSeconds: number
    /** Copy only images with a signature referrer (cosign or notation). */
    onlySigned: boolean
  }
}

export interface SyncedTag {
  repository: string
  tag: string
  digest: string
}

/** What one run did; also the status record kept in the store. */
export interface SyncReport {
  mirror: string
  startedAt: string
  finishedAt: string
  /** ok; failed: some tags could not be copied (the others were); busy: another replica holds the mirror's lease. */
  result: 'ok' | 'failed' | 'busy'
  /** Tags copied (new or moved), with the digest they name. */
  copied: SyncedTag[]
  unchanged: number
  skippedUnsigned: number
  written: CopyTally
  errors: string[]
}

interface CopiedRecord {
  digest: string
  copiedAt: string
}

export interface MirrorSyncOptions {
  log: Logger
  /** Told of every finished run (metrics). */
  onRun?: (report: SyncReport) => void
  /** The client for an upstream (tests count or cut requests). */
  clientFor?: (remote: RemoteRegistry) => RegistryClient
}

const MAX_ERRORS_KEPT = 20

export function createMirrorSync (registry: Registry, mirrors: SyncedMirror[], options: MirrorSyncOptions) {
  const { log, clientFor = createRegistryClient } = options
  const driver = registry.driver
  const local = localEnd(registry)
  const timers = new Map<string, NodeJS.Timeout>()
  const running = new Set<Promise<unknown>>()
  let stopping = new AbortController()

  async function runMirror (mirror: SyncedMirror, copyOptions: CopyOptions, isHeld: () => boolean): Promise<SyncReport> {
    const report: SyncReport = {
      mirror: mirror.name, startedAt: new Date().toISOString(), finishedAt: '', result: 'ok', copied: [], unchanged: 0, skippedUnsigned: 0, written: emptyTally(), errors: []
    }
    const client = clientFor(mirror.upstream)
    const remote = remoteEnd(client)
    const pattern = new RegExp(`^(?:${mirror.sync.tags})$`)
    const fail = (what: string, err: unknown): void => {
      report.result = 'failed'
      const message = `${what}: ${(err as Error).message ?? String(err)}`
      if (report.errors.length < MAX_ERRORS_KEPT) report.errors.push(message)
      log.warn({ mirror: mirror.name, err }, `mirror sync: ${what} failed`)
    }

    for (const repository of mirror.sync.repositories) {
      const upstreamRepo = mirror.upstreamPrefix === undefined || mirror.upstreamPrefix === '' ? repository : `${mirror.upstreamPrefix}/${repository}`
      const localRepo = `${mirror.name}/${repository}`
      let tags: string[]
      try {
        tags = []
        for await (const tag of client.listTags(upstreamRepo)) tags.push(tag)
      } catch (err) {
        fail(`listing the tags of ${upstreamRepo}`, err)
        continue
      }
      const tagSet = new Set(tags)
      // Images first, so that the cosign tags of the images just copied find their subject here. Referrers
      // tag-schema indexes are not images: the client reads them as referrers.
      const images = tags.filter(tag => !COSIGN_TAG.test(tag) && !REFERRERS_SCHEMA_TAG.test(tag) && pattern.test(tag))
      const cosignTags = tags.filter(tag => COSIGN_TAG.test(tag))
      for (const tag of images) {
        if (!isHeld() || copyOptions.signal?.aborted === true) return report
        try {
          await syncTag(mirror, client, remote, upstreamRepo, localRepo, tag, report, copyOptions, async digest =>
            !mirror.sync.onlySigned || await isSigned(client, upstreamRepo, digest, tagSet))
        } catch (err) {
          fail(`copying ${upstreamRepo}:${tag}`, err)
        }
      }
      for (const tag of cosignTags) {
        if (!isHeld() || copyOptions.signal?.aborted === true) return report
        const subject = tag.replace(COSIGN_TAG, 'sha256:$1')
        try {
          if (!await local.hasManifest(localRepo, subject)) continue // its image was not copied (not matching, unsigned)
          await syncTag(mirror, client, remote, upstreamRepo, localRepo, tag, report, copyOptions, async () => true)
        } catch (err) {
          fail(`copying ${upstreamRepo}:${tag}`, err)
        }
      }
    }
    return report
  }

  async function syncTag (mirror: SyncedMirror, client: RegistryClient, remote: ReturnType<typeof remoteEnd>, upstreamRepo: string, localRepo: string,
    tag: string, report: SyncReport, copyOptions: CopyOptions, wanted: (digest: string) => Promise<boolean>): Promise<void> {
    const head = await client.headManifest(upstreamRepo, tag)
    if (head === undefined) return // deleted since the listing
    const key = paths.mirrorSyncCopied(mirror.name, localRepo, tag)
    const last = await readRecord<CopiedRecord>(driver, key)
    if (last?.digest === head.digest && (await registry.tags.get(localRepo, tag))?.digest === head.digest) {
      report.unchanged++
      return
    }
    if (!await wanted(head.digest)) {
      report.skippedUnsigned++
      return
    }
    const { digest, tally } = await copyImage(remote, upstreamRepo, local, localRepo, head.digest, { ...copyOptions, tag })
    addTally(report.written, tally)
    await writeRecord(driver, key, { digest, copiedAt: new Date().toISOString() } satisfies CopiedRecord)
    report.copied.push({ repository: localRepo, tag, digest })
    log.info({ mirror: mirror.name, repository: localRepo, tag, digest, written: tally }, 'mirror sync: copied a tag')
  }

  function find (name: string): SyncedMirror {
    const mirror = mirrors.find(m => m.name === name)
    if (mirror === undefined) throw new Error(`no mirror "${name}" syncs (mirrors with a "sync" section: ${mirrors.map(m => m.name).join(', ') || 'none'})`)
    return mirror
  }

  const sync = {
    mirrors,

    /** Runs one sync of mirror `name` now, under its lease: `busy` when another replica holds it. */
    async run (name: string, copyOptions: CopyOptions = {}): Promise<SyncReport> {
      const mirror = find(name)
      const held = await acquireLease(driver, undefined, paths.mirrorSyncLease(name))
      if (held === undefined) {
        const now = new Date().toISOString()
        return { mirror: name, startedAt: now, finishedAt: now, result: 'busy', copied: [], unchanged: 0, skippedUnsigned: 0, written: emptyTally(), errors: [] }
      }
      let report: SyncReport
      try {
        report = await runMirror(mirror, copyOptions, held.held)
        report.finishedAt = new Date().toISOString()
        await writeRecord(driver, paths.mirrorSyncStatus(name), report)
      } finally {
        await held.release()
      }
      try { options.onRun?.(report) } catch (err) { log.warn({ err }, 'a mirror sync listener failed') }
      return report
    },

    /** The last run of each syncing mirror, as recorded in the store (undefined: never ran). */
    async status (): Promise<Array<{ mirror: SyncedMirror, last?: SyncReport }>> {
      return await Promise.all(mirrors.map(async mirror => {
        const last = await readRecord<SyncReport>(driver, paths.mirrorSyncStatus(mirror.name))
        return { mirror, ...(last === undefined ? {} : { last }) }
      }))
    },

    /** Starts this replica's schedule (the server does; the CLI does not). Stopped by close(). */
    start (): void {
      stopping = new AbortController()
      for (const mirror of mirrors) {
        const intervalMs = mirror.sync.intervalSeconds * 1000
        if (intervalMs <= 0 || timers.has(mirror.name)) continue
        const schedule = (delayMs: number): void => {
          if (stopping.signal.aborted) return
          const timer = setTimeout(tick, Math.max(0, delayMs))
          timer.unref()
          timers.set(mirror.name, timer)
        }
        const tick = (): void => {
          const done = (async () => {
            // Another replica ran it less than an interval ago: wait until the interval is over.
            const last = await readRecord<SyncReport>(driver, paths.mirrorSyncStatus(mirror.name))
            const due = last === undefined ? 0 : Date.parse(last.finishedAt) + intervalMs - Date.now()
            if (due > 1000) return due
            const report = await sync.run(mirror.name, { signal: stopping.signal })
            if (report.result === 'busy') log.debug({ mirror: mirror.name }, 'mirror sync: another replica is syncing it')
            else log.info({ mirror: mirror.name, result: report.result, copied: report.copied.length, unchanged: report.unchanged, written: report.written }, 'mirror sync finished')
            return intervalMs
          })().catch((err: unknown) => {
            log.warn({ mirror: mirror.name, err }, 'mirror sync failed; the next run retries')
            return intervalMs
          })
          running.add(done)
          void done.then(next => { running.delete(done); schedule(next) })
        }
        schedule(0)
      }
    },

    async close (): Promise<void> {
      stopping.abort()
      for (const timer of timers.values()) clearTimeout(timer)
      timers.clear()
      await Promise.all([...running])
    }
  }
  return sync
}

export type MirrorSync = ReturnType<typeof createMirrorSync>

/** The mirrors (BERTH_MIRRORS, parsed in config.ts) that have a `sync` section, as the sync runs them. */
export function syncedMirrors (mirrors: readonly MirrorConfig[]): SyncedMirror[] {
  return mirrors.flatMap(m => m.sync === undefined ? [] : [{
    name: m.prefix,
    upstream: { url: m.upstream, ...(m.username === undefined ? {} : { username: m.username, password: m.password }) },
    ...(m.upstreamPrefix === undefined ? {} : { upstreamPrefix: m.upstreamPrefix }),
    sync: { repositories: m.sync.repositories, tags: m.sync.tags ?? '.*', intervalSeconds: m.sync.intervalSeconds, onlySigned: m.sync.onlySigned }
  }])
}
