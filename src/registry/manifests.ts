// Manifests: stored byte for byte in the content-addressed store, linked into repositories, tagged,
// indexed by subject for the referrers API, and negotiated on Accept when a tag names an index.
import {
  RegistryError, digestInvalid, manifestInvalid, manifestUnknown
} from '../errors/registry-error.js'
import { DEFAULT_GC_GRACE_MS, createMarks, type Marks } from '../gc/marks.js'
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import type { Descriptor, ImageIndex, ImageManifest } from '../types/generated/index.js'
import { mapLimit } from '../util/map-limit.js'
import type { Blobs } from './blobs.js'
import type { Catalog } from './catalog.js'
import { createContentCache, type ContentCache } from './content-cache.js'
import { digestOf, looksLikeDigest, parseDigest } from './digest.js'
import type { RegistryEvents } from './events.js'
import { allowAll, type RegistryGuard } from './guard.js'
import {
  MediaTypes, isIndexMediaType, isManifestMediaType, validateManifest, type ManifestMediaType
} from './manifest-schemas.js'
import { readRecord, writeRecord } from './records.js'
import { assertValidTag, isValidTag } from './reference.js'
import type { Referrers } from './referrers.js'
import type { Tags } from './tags.js'

/** What a repository records about a manifest it holds. */
interface ManifestLink {
  mediaType: string
  size: number
  subject?: string
}

/** A manifest resolved from a tag or digest, without its bytes. */
export interface ManifestRef {
  digest: string
  mediaType: string
  size: number
}

export interface StoredManifest extends ManifestRef {
  bytes: Buffer
}

export interface PutResult {
  digest: string
  subject?: string
  tags: string[]
}

type ParsedManifest = Partial<ImageManifest & ImageIndex> & Record<string, unknown>

export interface ManifestDeps {
  blobs: Blobs
  tags: Tags
  referrers: Referrers
  catalog: Catalog
  events: RegistryEvents
  /** Manifest bytes by digest (shared with blobs). */
  content?: ContentCache
  /** Immutable tags and quotas, checked before anything is written. */
  guard?: RegistryGuard
  /** Liveness marks that keep garbage collection off what a push references (src/gc/marks.ts). */
  marks?: Marks
}

/** Platform served to clients that cannot read an index (docker-style clients predating manifest lists). */
const DEFAULT_PLATFORM = { os: 'linux', architecture: 'amd64' }

export interface ManifestOptions {
  /**
   * Sparse manifests (BERTH_SPARSE_MANIFESTS): an index may list child manifests the repository does not hold,
   * and an image manifest may list layers that were never uploaded (a mirror of one platform of a multi-arch
   * image). The config blob is required either way: without it the image cannot be inspected.
   */
  sparse: boolean
}

export function createManifests (driver: StorageDriver, {
  blobs, tags, referrers, catalog, events, content = createContentCache(), guard = allowAll, marks = createMarks(driver, { graceMs: DEFAULT_GC_GRACE_MS })
}: ManifestDeps, { sparse }: ManifestOptions = { sparse: false }) {
  // Content by digest never goes stale; only existence can change, and that is read from links every time.
  async function readBytes (digest: string): Promise<Buffer> {
    return await content.get(digest, async () => await driver.readAll(paths.blob(digest)))
  }

  async function resolveDigest (name: string, digest: string): Promise<ManifestRef> {
    const link = await readRecord<ManifestLink>(driver, paths.manifestLink(name, digest))
    if (link === undefined) throw manifestUnknown(digest)
    return { digest, mediaType: link.mediaType, size: link.size }
  }

  /**
   * Every blob and child manifest the manifest references must already be in the repository (sparse: only the
   * config blob). Every digest must be well-formed either way.
   */
  async function checkReferences (name: string, mediaType: ManifestMediaType, doc: ParsedManifest, sparse: boolean): Promise<string[]> {
    const index = isIndexMediaType(mediaType)
    const referenced = index
      ? doc.manifests ?? []
      : [doc.config as Descriptor, ...(doc.layers ?? [])].filter(d => !isForeignLayer(d))
    for (const d of referenced) parseDigest(d.digest)
    const required = !sparse ? referenced : index ? [] : [doc.config as Descriptor]
    const missing = await mapLimit(required, 8, async d => {
      const present = index
        ? await driver.stat(paths.manifestLink(name, d.digest)) !== undefined
        : await blobs.exists(name, d.digest)
      return present ? undefined : d.digest
    })
    const first = missing.find(d => d !== undefined)
    if (first !== undefined) {
      throw new RegistryError('manifest-blob-unknown', `manifest references ${index ? 'a manifest' : 'a blob'} unknown to the repository: ${first}`, { digest: first })
    }
    return referenced.map(d => d.digest)
  }

  const manifests = {
    /** Resolves a tag or digest in a repository. Unknown or malformed tags are simply unknown (404). */
    async resolve (name: string, reference: string): Promise<ManifestRef> {
      if (looksLikeDigest(reference)) {
        parseDigest(reference)
        return await resolveDigest(name, reference)
      }
      const tag = isValidTag(reference) ? await tags.get(name, reference) : undefined
      if (tag === undefined) throw manifestUnknown(reference)
      return tag
    },

    /**
     * Resolves a reference for a client that accepts `accept` media types (empty: anything). When the
     * reference names an index the client cannot read, the fitting entry is served instead.
     */
    async negotiate (name: string, reference: string, accept: string[]): Promise<ManifestRef> {
      const ref = await manifests.resolve(name, reference)
      if (!isIndexMediaType(ref.mediaType) || accepts(accept, ref.mediaType)) return ref
      const index = JSON.parse((await readBytes(ref.digest)).toString('utf8')) as ImageIndex
      // In order of preference; a sparse index may lack some entries, so the first one held is served.
      for (const entry of indexEntriesFor(index.manifests, accept)) {
        try {
          return await resolveDigest(name, entry.digest)
        } catch (err) {
          if (!(err instanceof RegistryError && err.reason === 'manifest-unknown')) throw err
        }
      }
      throw new RegistryError('manifest-unknown', `${reference} is an index (${ref.mediaType}) and none of its entries the repository holds matches the Accept header`, { reference })
    },

    async read (ref: ManifestRef): Promise<StoredManifest> {
      return { ...ref, bytes: await readBytes(ref.digest) }
    },

    /** `options.sparse` overrides the configured rule (the pull-through cache stores manifests before their layers). */
    async put (name: string, reference: string, bytes: Buffer, contentType: string | undefined, extraTags: string[] = [], options: { sparse?: boolean } = {}): Promise<PutResult> {
      const sparseHere = options.sparse ?? sparse
      let digest: string
      const tagsToSet = [...extraTags]
      if (looksLikeDigest(reference)) {
        digest = digestOf(parseDigest(reference).algorithm, bytes)
        if (digest !== reference) throw digestInvalid('manifest digest does not match its content', { expected: reference, actual: digest })
      } else {
        assertValidTag(reference)
        digest = digestOf('sha256', bytes)
        tagsToSet.unshift(reference)
      }
      tagsToSet.forEach(assertValidTag)

      let doc: ParsedManifest
      try {
        doc = JSON.parse(bytes.toString('utf8')) as ParsedManifest
      } catch {
        throw manifestInvalid('manifest is not valid JSON')
      }
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw manifestInvalid('manifest must be a JSON object')
      const mediaType = manifestMediaType(contentType, doc)
      const problem = validateManifest(mediaType, doc)
      if (problem !== undefined) throw manifestInvalid(`invalid ${mediaType}: ${problem}`)
      const referenced = await checkReferences(name, mediaType, doc, sparseHere)
      // Protect what the manifest references (and the manifest, when it is stored already: new bytes are young),
      // then check again: a collection that deleted any of it before the marks were refreshed is seen by the
      // second check (src/gc/collector.ts).
      const stored = await driver.stat(paths.blob(digest)) !== undefined
      await marks.refreshAll(stored ? [digest, ...referenced] : referenced)
      await checkReferences(name, mediaType, doc, sparseHere)
      for (const tag of tagsToSet) await tags.assertChangeable(name, tag, digest)
      await guard.checkQuota(name, digest, bytes.length)

      // Bytes first, then the repository link, then referrers and tags: nothing points at missing content.
      if (!stored || await driver.stat(paths.blob(digest)) === undefined) await driver.write(paths.blob(digest), bytes)
      content.set(digest, bytes)
      const subject = doc.subject?.digest
      await writeRecord(driver, paths.manifestLink(name, digest), { mediaType, size: bytes.length, subject } satisfies ManifestLink)
      await catalog.ensure(name)
      if (subject !== undefined) {
        await referrers.add(name, subject, referrerDescriptor(digest, mediaType, bytes.length, doc))
      }
      await events.emit('manifest-put', { repository: name, digest, mediaType, size: bytes.length, ...(subject === undefined ? {} : { subject }) })
      const record = { digest, mediaType, size: bytes.length }
      for (const tag of tagsToSet) await tags.set(name, tag, record)
      await events.emit('push-completed', { repository: name, ...record, tags: tagsToSet, ...(subject === undefined ? {} : { subject }) })
      return { digest, subject, tags: tagsToSet }
    },

    /** Deletes a tag (the manifest stays), or a manifest by digest together with the tags that named it. */
    async delete (name: string, reference: string): Promise<void> {
      if (!looksLikeDigest(reference)) {
        if (!isValidTag(reference) || !await tags.delete(name, reference)) throw manifestUnknown(reference)
        return
      }
      parseDigest(reference)
      const link = await readRecord<ManifestLink>(driver, paths.manifestLink(name, reference))
      if (link === undefined) throw manifestUnknown(reference)
      await tags.assertNoImmutableTag(name, reference)
      await tags.deleteAllFor(name, reference)
      if (link.subject !== undefined) await referrers.remove(name, link.subject, reference)
      await driver.delete(paths.manifestLink(name, reference))
      const { subject } = link
      await events.emit('manifest-deleted', { repository: name, digest: reference, mediaType: link.mediaType, size: link.size, ...(subject === undefined ? {} : { subject }) })
      if ((await driver.list(paths.manifestsPrefix(name), { limit: 1 })).keys.length === 0) {
        await events.emit('repository-emptied', { repository: name })
      }
    }
  }
  return manifests
}

/** The media type of a pushed manifest: the Content-Type, else the document's own mediaType, else its shape. */
function manifestMediaType (contentType: string | undefined, doc: ParsedManifest): ManifestMediaType {
  const declared = contentType?.split(';')[0]?.trim().toLowerCase() ?? ''
  const inBody = typeof doc.mediaType === 'string' ? doc.mediaType : undefined
  if (isManifestMediaType(declared)) {
    if (inBody !== undefined && inBody !== declared) {
      throw manifestInvalid(`Content-Type ${declared} does not match the manifest's mediaType ${inBody}`)
    }
    return declared
  }
  if (inBody !== undefined) {
    if (isManifestMediaType(inBody)) return inBody
    throw manifestInvalid(`unsupported manifest media type "${inBody}"`)
  }
  const generic = declared === '' || declared === 'application/json' || declared === 'application/octet-stream'
  if (!generic) throw manifestInvalid(`unsupported manifest media type "${declared}"`)
  if (Array.isArray(doc.manifests)) return MediaTypes.ociIndex
  if (doc.config !== undefined) return MediaTypes.ociManifest
  throw manifestInvalid('cannot tell the manifest media type: set Content-Type or mediaType')
}

/** The descriptor listed by the referrers API for a manifest that has a subject. */
function referrerDescriptor (digest: string, mediaType: string, size: number, doc: ParsedManifest): Descriptor {
  const artifactType = doc.artifactType ?? (isIndexMediaType(mediaType) ? undefined : doc.config?.mediaType)
  const descriptor: Descriptor = { mediaType, digest, size }
  if (artifactType !== undefined) descriptor.artifactType = artifactType
  if (doc.annotations !== undefined) descriptor.annotations = doc.annotations
  return descriptor
}

/** Layers that clients fetch from elsewhere (`urls`) need not be uploaded. */
function isForeignLayer (d: Descriptor): boolean {
  return (d.urls?.length ?? 0) > 0 && /nondistributable|foreign/.test(d.mediaType)
}

export function accepts (accept: string[], mediaType: string): boolean {
  return accept.length === 0 || accept.includes(mediaType) || accept.includes('*/*')
}

/** The index entries a client accepting `accept` can read, the default platform first. */
function indexEntriesFor (entries: Descriptor[], accept: string[]): Descriptor[] {
  const candidates = entries.filter(d => accepts(accept, d.mediaType))
  const isDefault = (d: Descriptor): boolean => d.platform?.os === DEFAULT_PLATFORM.os && d.platform.architecture === DEFAULT_PLATFORM.architecture
  return [...candidates.filter(isDefault), ...candidates.filter(d => !isDefault(d))]
}

export type Manifests = ReturnType<typeof createManifests>
