// Liveness marks: one small record per digest, `gc/marks/<alg>/<hex>`, that pushes refresh and garbage
// collection condemns, both with compare-and-swap, so the two are ordered on one key (see collector.ts for
// the whole protocol and why it is safe).
//
//   {"refreshedAt": ISO}                      a push referenced the digest at that time
//   {"condemnedUntil": ISO, "run": id}        a collection is deleting the digest's links or bytes right now
//
// A push calls refresh() for every digest it is about to reference, BEFORE it checks that the content exists
// and writes the reference. Content written within the refresh interval needs no mark written: its bytes are
// young (R1 of collector.ts), and so is every link to them (a link is written only while the bytes exist, and
// a collection deletes a digest's links before its bytes), so no collection can find anything of it old, and
// a collection re-checks that age after condemning, just before it deletes. A push of new content therefore
// writes no mark at all: one stat of the bytes instead of a locked, synced compare-and-swap per digest. A collection deletes content only after condemn() succeeded on a version of the
// mark it read as stale: a refresh in between changes the version and the condemnation fails; a refresh after
// it sees the condemnation and waits until the collection is done (or its time ran out) before it goes on.
import { LRUCache } from 'lru-cache'
import type { StorageDriver, VersionedRecord } from '../storage/driver.js'
import { paths } from '../storage/paths.js'

export interface MarkRecord {
  refreshedAt?: string
  condemnedUntil?: string
  run?: string
}

export interface Mark {
  record: MarkRecord
  version: string
}

/** BERTH_GC_GRACE_SECONDS's default, a day: for services built without a configuration (tests, tools). */
export const DEFAULT_GC_GRACE_MS = 24 * 3600_000
/** How long a condemnation holds: a collection must finish its deletes of a digest well within it. */
export const CONDEMN_MS = 60_000
/** A collection starts no delete under a condemnation with less than this left (bounds one store call). */
export const CONDEMN_MARGIN_MS = 30_000
/** Pushes refresh a mark at most this often (and more often when the grace period is short). */
const MAX_REFRESH_INTERVAL_MS = 10 * 60_000
const POLL_MS = 50
const REMEMBERED = 10_000

/** The interval after which a push refreshes a mark again: a quarter of the grace period, at most 10 minutes. */
export function refreshIntervalMs (graceMs: number): number {
  return Math.min(MAX_REFRESH_INTERVAL_MS, Math.floor(graceMs / 4))
}

function parse (data: Buffer): MarkRecord {
  try {
    const record = JSON.parse(data.toString('utf8')) as MarkRecord
    return typeof record === 'object' && record !== null ? record : {}
  } catch {
    return {} // a damaged mark is an old one
  }
}

const encode = (record: MarkRecord): Buffer => Buffer.from(JSON.stringify(record))

export function createMarks (driver: StorageDriver, { graceMs }: { graceMs: number }) {
  const interval = refreshIntervalMs(graceMs)
  /** Digests whose mark this process saw refreshed, with the refresh time recorded in the store. */
  const recent = new LRUCache<string, number>({ max: REMEMBERED })

  async function read (digest: string): Promise<Mark | undefined> {
    const found: VersionedRecord | undefined = await driver.readVersioned(paths.gcMark(digest))
    return found === undefined ? undefined : { record: parse(found.data), version: found.version }
  }

  const marks = {
    read,

    /**
     * Records that a push is about to reference `digest`. Resolves once no collection can delete the digest's
     * content for a grace period from now; waits while a collection holds it condemned.
     */
    async refresh (digest: string): Promise<void> {
      const now = Date.now()
      const seen = recent.get(digest)
      if (seen !== undefined && now - seen < interval) return
      for (;;) {
        const mark = await read(digest)
        const refreshedAt = Date.parse(mark?.record.refreshedAt ?? '')
        if (mark?.record.condemnedUntil !== undefined && Date.parse(mark.record.condemnedUntil) > Date.now()) {
          await new Promise(resolve => setTimeout(resolve, POLL_MS)) // a collection is deleting it: let it finish
          continue
        }
        if (Number.isFinite(refreshedAt) && Date.now() - refreshedAt < interval) {
          recent.set(digest, refreshedAt)
          return
        }
        const written = (await driver.stat(paths.blob(digest)))?.modifiedAt.getTime()
        if (written !== undefined && Date.now() - written < interval) {
          recent.set(digest, written)
          return
        }
        const at = Date.now()
        if (await driver.compareAndSwap(paths.gcMark(digest), mark?.version, encode({ refreshedAt: new Date(at).toISOString() })) !== undefined) {
          recent.set(digest, at)
          return
        }
        // Changed meanwhile (another push, or a collection): read again.
      }
    },

    async refreshAll (digests: Iterable<string>): Promise<void> {
      for (const digest of new Set(digests)) await marks.refresh(digest)
    },

    /** When the mark was last refreshed (0: never, or unreadable). */
    refreshedAt (mark: Mark | undefined): number {
      const at = Date.parse(mark?.record.refreshedAt ?? '')
      return Number.isFinite(at) ? at : 0
    },

    /**
     * Condemns `digest` for collection run `run`, if its mark is still the `seen` version (undefined: absent).
     * Returns the deadline before which the collection must have started its last delete, or undefined.
     */
    async condemn (digest: string, seen: string | undefined, run: string): Promise<{ version: string, deadline: number } | undefined> {
      const until = Date.now() + CONDEMN_MS
      const version = await driver.compareAndSwap(paths.gcMark(digest), seen, encode({ condemnedUntil: new Date(until).toISOString(), run }))
      return version === undefined ? undefined : { version, deadline: until - CONDEMN_MARGIN_MS }
    },

    /** Ends a condemnation: the mark goes with the content (absent and stale mean the same to every reader). */
    async release (digest: string, condemned: { version: string }): Promise<void> {
      const current = await driver.readVersioned(paths.gcMark(digest))
      if (current?.version === condemned.version) await driver.delete(paths.gcMark(digest))
    }
  }
  return marks
}

export type Marks = ReturnType<typeof createMarks>
