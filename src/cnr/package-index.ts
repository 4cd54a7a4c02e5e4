// The CNR package index: one summary record per package (its releases and their media types) for list
// pages, and search postings keyed by the 1-, 2- and 3-grams of the package name. The OCI store stays the
// source of truth; the index follows its registry events (index-projector.ts), whoever wrote, can be rebuilt
// from the store, and a page of the list or of a search costs one prefix listing plus one record read per item:
//   - list: `cnr/packages/[<ns>/]`, in name order;
//   - search for q: the postings of q itself when it is at most 3 characters long (exactly the names that
//     contain it), otherwise of q's first trigram, filtered by the whole of q on the key alone.
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import { mapLimit } from '../util/map-limit.js'
import type { Records } from './records.js'
import { isRelease } from './semver.js'
import { naiveIsoTime } from './time.js'

export interface PackageRecord {
  name: string
  /** First time the package was seen, naive UTC ISO. */
  createdAt: string
  /** Release -> its media types, sorted. */
  releases: Record<string, string[]>
}

export interface IndexQuery {
  namespace?: string
  /** Case-insensitive substring of `<ns>/<name>`. */
  query?: string
  /** Only packages with a release of this media type. */
  mediaType?: string
  limit: number
  /** Names up to and including this one are skipped. */
  last?: string
}

export interface IndexPage {
  items: PackageRecord[]
  truncated: boolean
}

const KEY_PAGE = 1000

/** Every distinct 1-, 2- and 3-gram of a name. */
export function gramsOf (name: string): string[] {
  const grams = new Set<string>()
  for (let size = 1; size <= 3; size++) {
    for (let i = 0; i + size <= name.length; i++) grams.add(name.slice(i, i + size))
  }
  return [...grams]
}

/** Whether a stored value has the shape of a package record. */
function isPackageRecord (value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const { name, createdAt, releases } = value as Partial<PackageRecord>
  return typeof name === 'string' && typeof createdAt === 'string' && typeof releases === 'object' && releases !== null &&
    !Array.isArray(releases) && Object.values(releases).every(types => Array.isArray(types))
}

const hex = (gram: string): string => Buffer.from(gram, 'utf8').toString('hex')

export function createPackageIndex (driver: StorageDriver, records: Records) {
  async function addPostings (name: string): Promise<void> {
    await mapLimit(gramsOf(name.toLowerCase()), 8, async gram => {
      await driver.createIfAbsent(paths.cnrSearchPosting(hex(gram), name), Buffer.alloc(0))
    })
  }

  /** Names from one prefix listing, in name order, after `last`. */
  async function * names (prefix: string, last: string | undefined): AsyncGenerator<string> {
    let startAfter = last === undefined ? undefined : prefix + last
    for (;;) {
      const page = await driver.list(prefix, { limit: KEY_PAGE, startAfter })
      for (const key of page.keys) yield key.slice(prefix.length)
      if (!page.truncated || page.keys.length === 0) return
      startAfter = page.keys.at(-1)
    }
  }

  const index = {
    async get (name: string): Promise<PackageRecord | undefined> {
      return (await records.read<PackageRecord>(paths.cnrPackage(name)))?.value
    },

    /**
     * Records the media types a release has now (none: the release is gone). Creates the package's record
     * (and its search postings) the first time a release is recorded.
     */
    async setRelease (name: string, release: string, mediaTypes: string[]): Promise<void> {
      await index.update(name, releases => {
        if (mediaTypes.length === 0) delete releases[release]
        else releases[release] = [...mediaTypes].sort()
      }, mediaTypes.length > 0)
    },

    /**
     * Rewrites a package's record with releases re-derived from the store (a rebuild): a record that cannot
     * be read is replaced, and the search postings are written again in case some were lost.
     */
    async restore (name: string, releases: Record<string, string[]>): Promise<void> {
      const key = paths.cnrPackage(name)
      let readable: boolean
      try {
        const stored = await records.read<unknown>(key)
        readable = stored === undefined || isPackageRecord(stored.value)
      } catch (err) {
        if (!(err instanceof SyntaxError)) throw err
        readable = false
      }
      if (!readable) await driver.delete(key) // start it afresh
      await index.update(name, current => {
        for (const release of Object.keys(current)) delete current[release]
        Object.assign(current, releases)
      }, Object.keys(releases).length > 0)
      if (Object.keys(releases).length > 0) await addPostings(name)
    },

    async update (name: string, change: (releases: Record<string, string[]>) => void, create: boolean): Promise<void> {
      let created = false
      await records.update<PackageRecord>(paths.cnrPackage(name), current => {
        if (current === undefined && !create) return undefined
        created = current === undefined
        const next: PackageRecord = current ?? { name, createdAt: naiveIsoTime(new Date()), releases: {} }
        const before = JSON.stringify(next.releases)
        change(next.releases)
        return created || JSON.stringify(next.releases) !== before ? next : undefined
      })
      if (created) await addPostings(name)
    },

    /** A page of packages that have at least one release (of `mediaType`, when given), in name order. */
    async list ({ namespace, query, mediaType, limit, last }: IndexQuery): Promise<IndexPage> {
      const q = query?.toLowerCase() ?? ''
      const prefix = q === '' ? paths.cnrPackagesPrefix : paths.cnrSearchPrefix(hex(q.slice(0, 3)))
      const scope = namespace === undefined ? undefined : `${namespace}/`
      const start = scope !== undefined && (last === undefined || last < scope) ? scope : last
      const items: PackageRecord[] = []
      for await (const name of names(prefix, start)) {
        if (scope !== undefined && !name.startsWith(scope)) {
          if (name > scope) break // names sort: none of the rest is in the namespace either
          continue
        }
        if (q.length > 3 && !name.includes(q)) continue
        if (items.length === limit) return { items, truncated: true }
        const record = await index.get(name)
        if (record === undefined) continue
        const releases = Object.entries(record.releases)
          .filter(([release, types]) => isRelease(release) && (mediaType === undefined || types.includes(mediaType)))
        if (releases.length === 0) continue
        items.push(record)
      }
      return { items, truncated: false }
    }
  }
  return index
}

export type PackageIndex = ReturnType<typeof createPackageIndex>
