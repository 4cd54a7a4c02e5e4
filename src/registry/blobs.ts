// Blobs: bytes live once in the content-addressed store; a repository sees a blob only through its link.
import type { Readable } from 'node:stream'
import { blobUnknown } from '../errors/registry-error.js'
import { DEFAULT_GC_GRACE_MS, createMarks, type Marks } from '../gc/marks.js'
import { isNotFound, type StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import type { Catalog } from './catalog.js'
import { SMALL_BLOB_BYTES, createContentCache, type ContentCache } from './content-cache.js'
import { parseDigest } from './digest.js'
import type { RegistryEvents } from './events.js'
import { allowAll, type WritePolicies } from './guard.js'
import { readRecord, writeRecord } from './records.js'

interface LayerLink {
  size: number
}

export function createBlobs (driver: StorageDriver, catalog: Catalog, events: RegistryEvents, content: ContentCache = createContentCache(),
  { marks = createMarks(driver, { graceMs: DEFAULT_GC_GRACE_MS }), guard = allowAll }: WritePolicies = {}) {
  const blobs = {
    /** Throws quota-exceeded when linking `size` bytes of `digest` (undefined: not known yet) would pass the namespace's quota. */
    async checkQuota (name: string, digest: string | undefined, size: number): Promise<void> {
      await guard.checkQuota(name, digest, size)
    },

    /** Size of a blob the repository links, or BLOB_UNKNOWN. */
    async stat (name: string, digest: string): Promise<{ size: number }> {
      parseDigest(digest)
      const link = await readRecord<LayerLink>(driver, paths.layerLink(name, digest))
      if (link === undefined) throw blobUnknown(digest)
      return { size: link.size }
    },

    async exists (name: string, digest: string): Promise<boolean> {
      return await driver.stat(paths.layerLink(name, digest)) !== undefined
    },

    /** Streams a linked blob, or an inclusive byte range of it. */
    async open (name: string, digest: string, range?: { start: number, end: number }): Promise<Readable> {
      try {
        return await driver.read(paths.blob(digest), range)
      } catch (err) {
        throw isNotFound(err) ? blobUnknown(digest) : err
      }
    },

    /**
     * A linked blob of `size` bytes (from stat()), or an inclusive byte range of it, for a download: a small blob
     * comes whole from memory (bytes by digest never change), a larger one streams from the store.
     */
    async download (name: string, digest: string, size: number, range?: { start: number, end: number }): Promise<Readable | Buffer> {
      if (size > SMALL_BLOB_BYTES) return await blobs.open(name, digest, range)
      let bytes: Buffer
      try {
        bytes = await content.get(digest, async () => await driver.readAll(paths.blob(digest)))
      } catch (err) {
        throw isNotFound(err) ? blobUnknown(digest) : err
      }
      return range === undefined ? bytes : bytes.subarray(range.start, range.end + 1)
    },

    /** Size of the blob in the shared store, whichever repositories link it. */
    async storedSize (digest: string): Promise<number | undefined> {
      return (await driver.stat(paths.blob(digest)))?.size
    },

    async link (name: string, digest: string, size: number): Promise<void> {
      await guard.checkQuota(name, digest, size)
      await writeRecord(driver, paths.layerLink(name, digest), { size } satisfies LayerLink)
      await catalog.ensure(name)
      await events.emit('blob-committed', { repository: name, digest, size })
    },

    /**
     * Keeps garbage collection from deleting the blob (its bytes and links) for a grace period: called before a
     * push checks that the blob exists and links it (see src/gc/collector.ts).
     */
    async protect (digest: string): Promise<void> {
      await marks.refresh(digest)
    },

    /** Unlinks the blob from the repository. The bytes stay for other repositories until garbage collection. */
    async delete (name: string, digest: string): Promise<void> {
      parseDigest(digest)
      if (!await driver.delete(paths.layerLink(name, digest))) throw blobUnknown(digest)
      await events.emit('blob-deleted', { repository: name, digest })
    },

    /**
     * The first of `candidates` (repository names) that links the blob, by one stat of its link key each; stops
     * reading `candidates` there. Undefined when none does.
     */
    async findLinked (digest: string, candidates: AsyncIterable<string>): Promise<string | undefined> {
      parseDigest(digest)
      for await (const name of candidates) {
        if (await blobs.exists(name, digest)) return name
      }
      return undefined
    },

    /**
     * Links an existing blob into `name`: from repository `from` when given, or from the shared store
     * (automatic mount). Returns false when there is nothing to mount.
     */
    async mount (name: string, digest: string, from: string | undefined): Promise<boolean> {
      parseDigest(digest)
      const sizeOf = async (): Promise<number | undefined> => from !== undefined
        ? (await readRecord<LayerLink>(driver, paths.layerLink(from, digest)))?.size
        : await blobs.storedSize(digest)
      if (await sizeOf() === undefined) return false
      // Protected first, then checked again: a collection that deleted it in between is seen here.
      await blobs.protect(digest)
      const size = await sizeOf()
      if (size === undefined) return false
      await blobs.link(name, digest, size)
      return true
    }
  }
  return blobs
}

export type Blobs = ReturnType<typeof createBlobs>
