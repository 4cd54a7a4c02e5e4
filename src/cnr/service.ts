// The CNR/APPR model over the OCI store (see mapping.ts for the mapping). HTTP-free: handlers parse
// requests and call these methods, which return the contract's bodies or throw CnrError.
import { Readable } from 'node:stream'
import { RegistryError } from '../errors/registry-error.js'
import { ensureBlob } from '../registry/artifacts.js'
import { digestOf } from '../registry/digest.js'
import type { MirrorReads } from '../mirror/cache.js'
import type { Registry } from '../registry/index.js'
import { isValidName, isValidTag } from '../registry/reference.js'
import type { TagRecord } from '../registry/tags.js'
import { encodeRecord, readRecord, writeRecord } from '../registry/records.js'
import { NotFoundError } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import type {
  Channel, DeleteChannelReleaseResult, DeleteChannelResult, DeleteReleaseResult, DeletedRelease, PackageSummary, ReleaseManifest
} from '../types/generated/cnr/index.js'
import { mapLimit } from '../util/map-limit.js'
import { lruCache } from '../util/lru.js'
import { createChannelStore, type ChannelChange, type ChannelState } from './channels.js'
import {
  CnrError, channelNotFound, invalidRelease, invalidUsage, packageNotFound, releaseNotFound
} from './errors.js'
import { helmConfig, parseChartYaml } from './helm.js'
import {
  type PackageEntry, buildPackageManifest, buildReleaseIndex, classifyManifest, isImageManifest, isIndex, parseDocument
} from './mapping.js'
import {
  EmptyConfig, Helm, OciTypes, cnrContentMediaType, cnrManifestMediaType, isShortMediaType, packageFilename
} from './media-types.js'
import { createPackageIndex, type PackageRecord } from './package-index.js'
import { MAX_JSON_DEPTH, jsonDeeperThan } from './json.js'
import { createRecords } from './records.js'
import {
  isRelease, looksLikeVersion, parseReleaseQuery, releaseProblem, releaseToTag, selectReleases, sortReleasesDesc, tagToRelease
} from './semver.js'
import { DEFAULT_LIMITS, type DigestLimits, TarballError, cnrDigestOf, inspectTarball } from './tarball.js'
import { naiveIsoFromRfc3339, naiveIsoTime } from './time.js'

/** A release as stored: the tag, what it points at, and its package entries (undefined: not a package). */
export interface Release {
  release: string
  tag: string
  ref: TagRecord
  entries?: PackageEntry[]
}

export interface PushInput {
  blob: Buffer
  release: string
  mediaType: string
  force: boolean
  metadata: unknown
  /** Called once the push is accepted, just before its first write (to set the package's visibility, say). */
  onAccepted?: () => Promise<void>
}

/** The tarball of a release (or a blob) to stream, with what a pull response says about it. */
export interface Download {
  pkg: string
  release: string
  mediaType?: string
  filename: string
  size: number
  open: () => Promise<Readable>
}

interface BlobLink {
  digest: string
  size: number
}

interface Tombstone {
  package: string
  release: string
  media_type: string
  digest: string
  deleted_at: string
}

/** `<namespace>/<package>`, checked against the OCI repository grammar (the package is that repository). */
export function packageName (namespace: string, pkg: string): string {
  const name = `${namespace}/${pkg}`
  if (namespace.includes('/') || pkg.includes('/') || !isValidName(name)) {
    throw invalidUsage(`invalid package name '${name}': namespace and name must be lowercase letters and digits, ` +
      'optionally separated by ".", "_", "__" or "-" (at most 255 characters in all)', { package: name })
  }
  return name
}

/** Unpacking a blob to find its CNR digest: within a view, and within another writer's request. */
const VIEW_DIGEST_LIMITS: DigestLimits = { maxUncompressedBytes: DEFAULT_LIMITS.maxUncompressedBytes, timeoutMs: 20_000 }
const WRITE_DIGEST_LIMITS: DigestLimits = { maxUncompressedBytes: DEFAULT_LIMITS.maxUncompressedBytes, timeoutMs: 2_000 }

export interface CnrServiceOptions {
  /** The largest package manifest a push may write (the OCI surface's limit; 4 MiB, which every client accepts). */
  maxManifestBytes?: number
  /** The pull-through cache: reads of packages under a mirror prefix fetch missing releases and tarballs. */
  mirror?: MirrorReads | undefined
}

export function createCnrService (registry: Registry, { maxManifestBytes = 4 * 1024 * 1024, mirror }: CnrServiceOptions = {}) {
  const { driver, tags, manifests, blobs, events } = registry
  const records = createRecords(driver)
  const index = createPackageIndex(driver, records)
  const channels = createChannelStore(records)
  // Both are functions of content addressed by digest, so they never go stale.
  const entriesCache = lruCache<string, PackageEntry[] | false>(20_000)
  const cnrDigests = lruCache<string, string>(100_000)

  // ---------------------------------------------------------------------------------------------------
  // Reading the OCI store

  async function readDocument (ref: { digest: string, mediaType: string, size: number }) {
    return parseDocument((await manifests.read(ref)).bytes)
  }

  /** A child manifest's document, or undefined when the store does not hold it. */
  async function readHeldDocument (ref: { digest: string, mediaType: string, size: number }) {
    try {
      return await readDocument(ref)
    } catch (err) {
      if (err instanceof NotFoundError) return undefined
      throw err
    }
  }

  async function entriesOf (ref: TagRecord): Promise<PackageEntry[] | undefined> {
    const cached = entriesCache.get(ref.digest)
    if (cached !== undefined) return cached === false ? undefined : cached
    const doc = await readDocument(ref)
    const entries: PackageEntry[] = []
    let whole = true
    if (isIndex(ref.mediaType)) {
      for (const child of doc.manifests ?? []) {
        if (!isImageManifest(child.mediaType)) continue
        const childDoc = await readHeldDocument(child)
        // A sparse index (a mirror's, pulled through /v2) lacks children until they are fetched.
        if (childDoc === undefined) { whole = false; continue }
        const entry = classifyManifest(child, childDoc)
        if (entry !== undefined && !entries.some(e => e.mediaType === entry.mediaType)) entries.push(entry)
      }
    } else if (isImageManifest(ref.mediaType)) {
      const entry = classifyManifest({ mediaType: ref.mediaType, digest: ref.digest, size: ref.size }, doc)
      if (entry !== undefined) entries.push(entry)
    }
    if (whole) entriesCache.set(ref.digest, entries.length > 0 ? entries : false)
    return entries.length > 0 ? entries : undefined
  }

  async function readRelease (name: string, release: string): Promise<Release | undefined> {
    const tag = releaseToTag(release)
    const ref = await tags.get(name, tag)
    if (ref === undefined) return undefined
    return { release, tag, ref, entries: await entriesOf(ref) }
  }

  /**
   * A release as a read finds it: for a package under a mirror prefix, its tag (and the release index's entries)
   * are fetched from the upstream first when missing or past their TTL (src/mirror/cache.ts).
   */
  async function readReleaseMirrored (name: string, release: string): Promise<Release | undefined> {
    if (mirror?.covers(name) === true) await mirror.ensureTag(name, releaseToTag(release))
    return await readRelease(name, release)
  }

  /** A stored blob or, when the package is mirrored and the repository lacks it, the upstream's as it is stored. */
  async function openBlob (name: string, digest: string): Promise<Readable> {
    const fetching = mirror?.covers(name) === true ? await mirror.openBlob(name, digest) : undefined
    return fetching ?? await blobs.open(name, digest)
  }

  /**
   * The releases a query chooses among. A mirrored package's exact release is fetched when missing; other
   * queries of a mirrored package choose among the upstream's releases too.
   */
  async function queryReleases (name: string, query: string | undefined): Promise<string[]> {
    if (mirror?.covers(name) !== true) return await releaseNames(name)
    if (query !== undefined && isRelease(query)) {
      await mirror.ensureTag(name, releaseToTag(query))
      return await releaseNames(name)
    }
    const upstream = (await mirror.allUpstreamTags(name) ?? []).map(tagToRelease).filter((r): r is string => r !== undefined)
    return [...new Set([...await releaseNames(name), ...upstream])]
  }

  /** Every tag of the repository that names a release (one prefix listing, keys only). */
  async function releaseNames (name: string): Promise<string[]> {
    const releases: string[] = []
    let last: string | undefined
    for (;;) {
      const page = await tags.list(name, { limit: 1000, last })
      for (const tag of page.items) {
        const release = tagToRelease(tag)
        if (release !== undefined) releases.push(release)
      }
      if (!page.truncated || page.items.length === 0) return releases
      last = page.items.at(-1)
    }
  }

  /** Releases that hold packages, highest first. */
  async function packageReleases (name: string, names?: string[]): Promise<Release[]> {
    const found = await mapLimit(sortReleasesDesc(names ?? await releaseNames(name)), 8, async r => await readRelease(name, r))
    return found.filter((r): r is Release & { entries: PackageEntry[] } => r?.entries !== undefined)
  }

  async function assertPackageExists (name: string, releases?: string[]): Promise<void> {
    if ((releases ?? await releaseNames(name)).length > 0) return
    if (await index.get(name) === undefined) throw packageNotFound(name)
  }

  /** Resolves a release query (`default`, `1.0.1`, `>=1.0,<2`) to the best release that holds packages. */
  async function resolve (name: string, query: string | undefined): Promise<Release & { entries: PackageEntry[] }> {
    const releases = await queryReleases(name, query)
    if (releases.length === 0) throw packageNotFound(name, query ?? null)
    const parsed = parseReleaseQuery(query)
    for (const candidate of selectReleases(releases, parsed)) {
      const release = await readReleaseMirrored(name, candidate)
      if (release?.entries !== undefined) return release as Release & { entries: PackageEntry[] }
    }
    throw releaseNotFound(name, parsed.text)
  }

  /** The entry of a media type; `-` picks the only one. */
  function pickEntry (name: string, release: Release & { entries: PackageEntry[] }, mediaType: string): PackageEntry {
    if (mediaType === '-') {
      if (release.entries.length === 1) return release.entries[0] as PackageEntry
      const types = release.entries.map(e => e.mediaType)
      throw invalidUsage(`media-type non specified: [${types.join(',')}]`, { package: name, release: release.release, media_types: types })
    }
    const entry = release.entries.find(e => e.mediaType === mediaType)
    if (entry === undefined) throw packageNotFound(name, release.release, mediaType)
    return entry
  }

  /**
   * The CNR digest of an entry: recorded at push, or computed from the stored blob within `limits` and
   * remembered. Undefined when the time ran out (nothing is remembered then: a later call tries again).
   */
  async function cnrDigestFor (name: string, entry: PackageEntry, limits: DigestLimits = VIEW_DIGEST_LIMITS): Promise<string | undefined> {
    if (entry.cnrDigest !== undefined) return entry.cnrDigest
    const layer = entry.layer.digest
    let digest = cnrDigests.get(layer) ?? (await readRecord<{ cnrDigest: string }>(driver, paths.cnrDigest(layer)))?.cnrDigest
    if (digest === undefined) {
      digest = await cnrDigestOf(async () => await openBlob(name, layer), layer, limits)
      if (digest === undefined) return undefined
      await writeRecord(driver, paths.cnrDigest(layer), { cnrDigest: digest })
      await writeRecord(driver, paths.cnrBlob(name, digest), { digest: layer, size: entry.layer.size } satisfies BlobLink)
    }
    cnrDigests.set(layer, digest)
    return digest
  }

  /** The digest a view shows: the CNR digest or, while it is not known yet, the layer's own (pulls by digest take both). */
  async function shownDigest (name: string, entry: PackageEntry): Promise<string> {
    return await cnrDigestFor(name, entry) ?? entry.layer.digest.replace(/^[a-z0-9]+:/, '')
  }

  async function manifestView (name: string, release: string, entry: PackageEntry): Promise<ReleaseManifest> {
    return {
      package: name,
      release,
      created_at: naiveIsoFromRfc3339(entry.createdAt) ?? null,
      mediaType: cnrManifestMediaType(entry.mediaType),
      metadata: entry.metadata,
      content: { mediaType: cnrContentMediaType(entry.mediaType), size: entry.layer.size, digest: await shownDigest(name, entry), urls: [] }
    }
  }

  function download (name: string, release: string, entry: PackageEntry): Download {
    return {
      pkg: name,
      release,
      mediaType: entry.mediaType,
      filename: packageFilename(name, release),
      size: entry.layer.size,
      open: async () => await openBlob(name, entry.layer.digest)
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Writing: every change to a package's tags happens under its lease.

  /** Points the release's tag (and the channels whose current release it is) at an index of `entries`. */
  async function writeRelease (name: string, release: string, entries: PackageEntry[]): Promise<void> {
    const tag = releaseToTag(release)
    if (entries.length === 0) {
      await tags.delete(name, tag)
      await moveChannelTags(name, await channels.removeRelease(name, release))
    } else {
      const bytes = buildReleaseIndex(name, release, entries)
      const { digest } = await manifests.put(name, tag, bytes, OciTypes.index)
      const record: TagRecord = { digest, mediaType: OciTypes.index, size: bytes.length }
      for (const [channel, state] of Object.entries(await channels.all(name))) {
        if (state.current === release) await tags.set(name, channel, record)
      }
    }
    // The index follows from the tag events of these writes (index-projector.ts).
  }

  /** Makes each changed channel's tag follow its current release (or go, with the channel). */
  async function moveChannelTags (name: string, changes: ChannelChange[]): Promise<void> {
    for (const { channel, state } of changes) {
      const target = state === undefined ? undefined : await tags.get(name, releaseToTag(state.current))
      if (target === undefined) await tags.delete(name, channel)
      else await tags.set(name, channel, target)
      await channelChanged(name, channel, state)
    }
  }

  async function channelChanged (name: string, channel: string, state: ChannelState | undefined): Promise<void> {
    await events.emit('cnr-channel-changed', {
      repository: name, channel, releases: state?.releases ?? [], ...(state === undefined ? {} : { current: state.current })
    })
  }

  function channelView (channel: string, state: ChannelState): Channel {
    return { current: state.current, name: channel, releases: state.releases }
  }

  /** A channel name must be an OCI tag that no client could read as a version, so that tags never collide. */
  function assertChannelName (name: string, channel: string): void {
    if (!isValidTag(channel) || looksLikeVersion(channel)) {
      throw invalidUsage(`invalid channel name '${channel}': a channel is an OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}) ` +
        'and must not read as a release or version', { package: name, channel })
    }
  }

  /**
   * Refuses (tag-immutable), before anything is written, a change to a release's tag or to the tags of the channels
   * whose current release it is (they follow it): `replace` for a push, `delete` when the release goes.
   */
  async function assertReleaseChangeable (name: string, release: string, change: 'replace' | 'delete'): Promise<void> {
    if (await registry.guard.immutableRules(name) === undefined) return
    await tags.assertChangeable(name, releaseToTag(release), change)
    for (const [channel, state] of Object.entries(await channels.all(name))) {
      if (state.current === release) await tags.assertChangeable(name, channel, change === 'delete' ? 'replace' : change)
    }
  }

  // ---------------------------------------------------------------------------------------------------

  const service = {
    index,

    /**
     * Pushes one release and media type. Everything the push may be refused for is checked before anything
     * is written (the tarball, the metadata, the manifest, then under the lease whether the release exists),
     * so a refused push leaves no repository, blob link, tag or record behind.
     */
    async push (name: string, input: PushInput): Promise<{ status: 'ok' }> {
      const { release, mediaType, force } = input
      const problem = releaseProblem(release)
      if (problem !== undefined) throw invalidRelease(release, 'version', problem)
      if (mediaType === '-' || !isShortMediaType(mediaType)) {
        throw invalidUsage(`invalid media_type '${mediaType}': use a short name such as helm or kpm`, { media_type: mediaType })
      }
      if (jsonDeeperThan(input.metadata)) {
        throw invalidUsage(`metadata is nested more than ${MAX_JSON_DEPTH} levels deep`, { package: name, parameter: 'metadata' })
      }
      let tarball
      try {
        tarball = await inspectTarball(Readable.from([input.blob]))
      } catch (err) {
        if (err instanceof TarballError) {
          throw new CnrError('invalid-parameters', `blob must be a gzip-compressed tar archive, base64-encoded: ${err.message}`,
            { parameter: 'blob', problem: err.problem })
        }
        throw err
      }
      const layer = { digest: digestOf('sha256', input.blob), size: input.blob.length }
      let config: { bytes: Buffer, digest: string, size: number, name: string, description?: string } | undefined
      if (mediaType === Helm.mediaType) {
        const doc = helmConfig(parseChartYaml(tarball.chartYaml), release, name.split('/')[1] as string)
        const bytes = Buffer.from(JSON.stringify(doc))
        config = { bytes, digest: digestOf('sha256', bytes), size: bytes.length, name: doc.name as string, description: doc.description as string | undefined }
      }
      const bytes = buildPackageManifest({
        pkg: name, release, mediaType, layer, cnrDigest: tarball.cnrDigest, config, metadata: input.metadata, created: new Date().toISOString()
      })
      if (bytes.length > maxManifestBytes) {
        throw invalidUsage(`the package manifest would be ${bytes.length} bytes, more than the ${maxManifestBytes} an OCI registry may hold: ` +
          'make the metadata smaller', { package: name, parameter: 'metadata' })
      }
      const digest = digestOf('sha256', bytes)
      await records.withPackageLock(name, async () => {
        const current = await readRelease(name, release)
        const exists = { package: name, release, media_type: mediaType }
        if (current !== undefined && current.entries === undefined && !force) {
          throw new CnrError('package-exists', `tag ${current.tag} of ${name} holds something that is not a package; push with force=true to replace it`, exists)
        }
        if (current?.entries?.some(e => e.mediaType === mediaType) === true && !force) {
          throw new CnrError('package-exists', 'Package exists already', exists)
        }
        const tombstoneKey = paths.cnrDeleted(name, releaseToTag(release), mediaType)
        const tombstone = await readRecord<Tombstone>(driver, tombstoneKey)
        if (tombstone !== undefined && !force) {
          throw new CnrError('package-exists', `release ${release} (${mediaType}) of ${name} was deleted at ${tombstone.deleted_at}; ` +
            'releases are immutable: push with force=true to publish it again', { ...exists, deleted_at: tombstone.deleted_at })
        }
        // Immutable tags and the quota are checked here, before the first write, by the same checks every door's
        // writes pass: a release tag an immutable rule matches never changes once pushed, even with force=true.
        await assertReleaseChangeable(name, release, 'replace')
        await blobs.checkQuota(name, undefined, input.blob.length + (config?.size ?? EmptyConfig.bytes.length) + bytes.length)
        // Accepted: from here on the push writes. (Content-addressed blobs first: writing them twice does no harm.)
        await input.onAccepted?.()
        await ensureBlob(registry, name, input.blob)
        await ensureBlob(registry, name, config?.bytes ?? EmptyConfig.bytes)
        await manifests.put(name, digest, bytes, OciTypes.manifest)
        const entry = classifyManifest({ mediaType: OciTypes.manifest, digest, size: bytes.length }, parseDocument(bytes)) as PackageEntry
        await writeRelease(name, release, [...(current?.entries ?? []).filter(e => e.mediaType !== mediaType), entry])
        if (tombstone !== undefined) await driver.delete(tombstoneKey)
        await events.emit('cnr-release-pushed', { repository: name, release, mediaType, digest })
      })
      await writeRecord(driver, paths.cnrBlob(name, tarball.cnrDigest), { digest: layer.digest, size: layer.size } satisfies BlobLink)
      await writeRecord(driver, paths.cnrDigest(layer.digest), { cnrDigest: tarball.cnrDigest })
      return { status: 'ok' }
    },

    /** Every release and media type (endpoint 8), highest release first. */
    async showPackage (name: string, mediaType?: string): Promise<ReleaseManifest[]> {
      const names = await releaseNames(name)
      await assertPackageExists(name, names)
      const views: ReleaseManifest[] = []
      for (const release of await packageReleases(name, names)) {
        for (const entry of release.entries ?? []) {
          if (mediaType === undefined || entry.mediaType === mediaType) views.push(await manifestView(name, release.release, entry))
        }
      }
      return views
    },

    /** The media types of one exact release (endpoint 9). */
    async showRelease (name: string, release: string): Promise<ReleaseManifest[]> {
      const found = isRelease(release) ? await readReleaseMirrored(name, release) : undefined
      if (found?.entries === undefined) throw packageNotFound(name, release)
      return await mapLimit(found.entries, 4, async e => await manifestView(name, release, e))
    },

    /** One release query and media type, with the channels whose current release it is (endpoint 10). */
    async showManifest (name: string, query: string, mediaType: string): Promise<ReleaseManifest> {
      const release = await resolve(name, query)
      const entry = pickEntry(name, release, mediaType)
      const view = await manifestView(name, release.release, entry)
      const all = await channels.all(name)
      view.channels = Object.keys(all).filter(c => all[c]?.current === release.release).sort()
      return view
    },

    async pull (name: string, query: string, mediaType: string): Promise<Download> {
      const release = await resolve(name, query)
      return download(name, release.release, pickEntry(name, release, mediaType))
    },

    /** A tarball by CNR digest (or by its OCI digest), within one package. */
    async pullBlob (name: string, hex: string): Promise<Download> {
      const missing = () => packageNotFound(name, hex)
      if (!/^[a-f0-9]{64}$/.test(hex)) throw missing()
      let link = await readRecord<BlobLink>(driver, paths.cnrBlob(name, hex))
      if (link === undefined) {
        const digest = `sha256:${hex}`
        if (!await blobs.exists(name, digest)) throw missing()
        link = { digest, size: (await blobs.stat(name, digest)).size }
      }
      const { digest, size } = link
      return {
        pkg: name,
        release: hex,
        filename: packageFilename(name, hex.slice(0, 8)),
        size,
        open: async () => {
          try {
            return await blobs.open(name, digest)
          } catch (err) {
            if (err instanceof RegistryError) throw missing()
            throw err
          }
        }
      }
    },

    /** Deletes one exact release and media type (`-`: the only one); the release leaves its channels when it is gone. */
    async deleteRelease (name: string, release: string, mediaType: string): Promise<DeleteReleaseResult> {
      return await records.withPackageLock(name, async () => {
        const found = isRelease(release) ? await readRelease(name, release) : undefined
        if (found?.entries === undefined) throw packageNotFound(name, release, mediaType)
        const entry = pickEntry(name, found as Release & { entries: PackageEntry[] }, mediaType)
        await assertReleaseChangeable(name, release, found.entries.length === 1 ? 'delete' : 'replace')
        const tombstone: Tombstone = {
          package: name,
          release,
          media_type: entry.mediaType,
          digest: await shownDigest(name, entry),
          deleted_at: naiveIsoTime(new Date())
        }
        await driver.write(paths.cnrDeleted(name, found.tag, entry.mediaType), encodeRecord(tombstone))
        await writeRelease(name, release, found.entries.filter(e => e !== entry))
        await events.emit('cnr-release-deleted', { repository: name, release, mediaType: entry.mediaType })
        return { status: 'deleted', package: name, release }
      })
    },

    /** Releases and media types deleted from a package, oldest first. */
    async deletedReleases (name: string): Promise<DeletedRelease[]> {
      const prefix = paths.cnrDeletedPrefix(name)
      const keys: string[] = []
      for (let startAfter: string | undefined; ;) {
        const page = await driver.list(prefix, { limit: 1000, startAfter })
        keys.push(...page.keys)
        if (!page.truncated || page.keys.length === 0) break
        startAfter = page.keys.at(-1)
      }
      if (keys.length === 0) await assertPackageExists(name)
      const found = await mapLimit(keys, 8, async key => await readRecord<Tombstone>(driver, key))
      return found.filter((t): t is Tombstone => t !== undefined).sort((a, b) => a.deleted_at.localeCompare(b.deleted_at))
    },

    async listChannels (name: string): Promise<Channel[]> {
      await assertPackageExists(name)
      return Object.entries(await channels.all(name)).map(([channel, state]) => ({ releases: state.releases, name: channel, current: state.current }))
    },

    async showChannel (name: string, channel: string): Promise<Channel> {
      await assertPackageExists(name)
      const state = (await channels.all(name))[channel]
      if (state === undefined) throw channelNotFound(name, channel)
      return channelView(channel, state)
    },

    /** Adds an exact, existing release to a channel (created when absent) and makes it the current one. */
    async addChannelRelease (name: string, channel: string, release: string): Promise<Channel> {
      assertChannelName(name, channel)
      return await records.withPackageLock(name, async () => {
        const releases = await releaseNames(name)
        await assertPackageExists(name, releases)
        if (!isRelease(release)) {
          parseReleaseQuery(release) // 422 for what is not even a query; a query that is not one release is 404
          throw releaseNotFound(name, release)
        }
        const found = await readRelease(name, release)
        if (found?.entries === undefined) throw releaseNotFound(name, release)
        const existing = await tags.get(name, channel)
        if (existing !== undefined && (await channels.all(name))[channel] === undefined) {
          throw new CnrError('package-exists', `tag '${channel}' of ${name} is in use and is not a channel; choose another channel name`, { package: name, channel })
        }
        await tags.assertChangeable(name, channel, found.ref.digest, existing ?? null)
        const state = await channels.addRelease(name, channel, release)
        await tags.set(name, channel, found.ref)
        await channelChanged(name, channel, state)
        return channelView(channel, state)
      })
    },

    async deleteChannelRelease (name: string, channel: string, release: string): Promise<DeleteChannelReleaseResult> {
      return await records.withPackageLock(name, async () => {
        await assertPackageExists(name)
        if ((await channels.all(name))[channel] === undefined) throw channelNotFound(name, channel)
        const found = isRelease(release) ? await readRelease(name, release) : undefined
        if (found?.entries === undefined) throw packageNotFound(name, release)
        if ((await channels.all(name))[channel]?.current === release) await tags.assertChangeable(name, channel, 'replace')
        await moveChannelTags(name, await channels.removeRelease(name, release, channel))
        return { status: 'deleted', package: name, name: channel, release }
      })
    },

    async deleteChannel (name: string, channel: string): Promise<DeleteChannelResult> {
      return await records.withPackageLock(name, async () => {
        await assertPackageExists(name)
        await tags.assertChangeable(name, channel, 'delete')
        if (!await channels.delete(name, channel)) throw channelNotFound(name, channel)
        await tags.delete(name, channel)
        await channelChanged(name, channel, undefined)
        return { channel, package: name, action: 'delete' }
      })
    },

    /** A page of package summaries (endpoint 5). */
    async list (query: { namespace?: string, query?: string, mediaType?: string, limit: number, last?: string }) {
      const page = await index.list(query)
      return { items: page.items.map(r => summaryView(r, query.mediaType)), truncated: page.truncated }
    },

    // -------------------------------------------------------------------------------------------------
    // Keeping the index in step with the store, whoever wrote to it (see index-projector.ts).

    /**
     * Re-reads the given tags of a repository after they changed. Only manifests are read: this runs inside
     * every write, whichever door, and CNR digests are worked out when a view first needs them.
     */
    async syncTags (name: string, changed: string[]): Promise<void> {
      for (const tag of changed) {
        const release = tagToRelease(tag)
        if (release === undefined) continue
        const found = await readRelease(name, release)
        await index.setRelease(name, release, found?.entries?.map(e => e.mediaType) ?? [])
        // Within the writer's request, so on a short budget: a digest not found in time is computed when first shown.
        // A mirrored release's tarball not held yet is not fetched for it: that waits for a view or a download.
        for (const entry of found?.entries ?? []) {
          if (mirror?.covers(name) === true && !await blobs.exists(name, entry.layer.digest)) continue
          await cnrDigestFor(name, entry, WRITE_DIGEST_LIMITS)
        }
      }
    },

    /** Re-derives a package's whole index record from its releases in the store (a rebuild). */
    async syncAll (name: string): Promise<void> {
      const releases: Record<string, string[]> = {}
      for (const release of await packageReleases(name)) releases[release.release] = (release.entries ?? []).map(e => e.mediaType).sort()
      await index.restore(name, releases)
    }
  }
  return service
}

function summaryView (record: PackageRecord, mediaType: string | undefined): PackageSummary {
  const releases = sortReleasesDesc(Object.keys(record.releases).filter(r => mediaType === undefined || record.releases[r]?.includes(mediaType)))
  const latest = releases[0] as string
  return {
    releases,
    default: latest,
    manifests: mediaType === undefined ? record.releases[latest] ?? [] : [mediaType],
    name: record.name,
    visibility: 'public',
    created_at: record.createdAt
  }
}

export type CnrService = ReturnType<typeof createCnrService>
