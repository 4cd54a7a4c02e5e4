// Copying an image between two registries, one of which is this Berth: its manifest (an index with every child
// manifest), config and layers, then its referrers (signatures, SBOMs) with their own content. Used by the
// scheduled sync (remote → local, sync.ts) and by push replication (local → remote, replicate.ts).
//
// Resumable and idempotent: every blob and manifest the destination already holds is skipped after one HEAD
// (or one stat of the local store), and a manifest is written only once everything it references is there, so
// a copy cut off halfway leaves nothing half-visible and the next attempt continues where it stopped.
import type { Readable } from 'node:stream'
import { RegistryError } from '../errors/registry-error.js'
import type { Registry } from '../registry/index.js'
import { isIndexMediaType } from '../registry/manifest-schemas.js'
import type { Descriptor } from '../types/generated/index.js'
import type { RegistryClient } from './registry-client.js'

/** Where content is read from. */
export interface CopySource {
  getManifest: (repo: string, reference: string) => Promise<{ digest: string, mediaType: string, bytes: Buffer } | undefined>
  openBlob: (repo: string, digest: string) => Promise<{ size: number, body: Readable } | undefined>
  referrers: (repo: string, digest: string) => Promise<Descriptor[]>
}

/** Where content is written. */
export interface CopyDestination {
  hasManifest: (repo: string, digest: string) => Promise<boolean>
  /** Whether the repository holds the blob (a destination may link it from elsewhere in its store here). */
  hasBlob: (repo: string, digest: string, size: number) => Promise<boolean>
  putBlob: (repo: string, digest: string, size: number, open: () => Promise<Readable>) => Promise<void>
  putManifest: (repo: string, reference: string, mediaType: string, bytes: Buffer) => Promise<void>
  /** Makes a copied referrer listed among its subject's referrers, where the destination does not do it itself. */
  linkReferrer?: (repo: string, subject: string, referrer: Descriptor) => Promise<void>
}

/** What one copy wrote (things already at the destination are not counted). */
export interface CopyTally {
  manifests: number
  blobs: number
  referrers: number
  bytes: number
}

export const emptyTally = (): CopyTally => ({ manifests: 0, blobs: 0, referrers: 0, bytes: 0 })

export function addTally (into: CopyTally, more: CopyTally): void {
  into.manifests += more.manifests
  into.blobs += more.blobs
  into.referrers += more.referrers
  into.bytes += more.bytes
}

export interface CopyOptions {
  /** Told after each blob or manifest is written (tests interrupt a copy here; logs). */
  onWritten?: (kind: 'blob' | 'manifest', digest: string, size: number) => void
  /** Checked between steps: a copy whose signal aborted stops there (and resumes on the next attempt). */
  signal?: AbortSignal
}

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'

/** Referrers of referrers are followed this deep (a signature of an SBOM of the image). */
const REFERRER_DEPTH = 2

export class CopyError extends Error {
  override readonly name = 'CopyError'
}

interface ParsedManifest {
  manifests?: Descriptor[]
  config?: Descriptor
  layers?: Descriptor[]
}

/**
 * Copies `reference` (a tag or digest) of `from` in `src` to `to` in `dst`, under `tag` when given (else by
 * digest), then its referrers. Returns the digest copied and what was written.
 */
export async function copyImage (src: CopySource, from: string, dst: CopyDestination, to: string, reference: string,
  { tag, referrers = true, ...options }: CopyOptions & { tag?: string, referrers?: boolean } = {}): Promise<{ digest: string, tally: CopyTally }> {
  const tally = emptyTally()
  const manifest = await src.getManifest(from, reference)
  if (manifest === undefined) throw new CopyError(`${from}:${reference} is not in the source`)
  await copyManifest(src, from, dst, to, manifest, tag, tally, options)
  if (referrers) await copyReferrers(src, from, dst, to, manifest.digest, REFERRER_DEPTH, tally, options)
  return { digest: manifest.digest, tally }
}

function checkAborted (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new CopyError('the copy was stopped; it resumes on the next attempt')
}

async function copyManifest (src: CopySource, from: string, dst: CopyDestination, to: string,
  manifest: { digest: string, mediaType: string, bytes: Buffer }, tag: string | undefined, tally: CopyTally, options: CopyOptions): Promise<void> {
  checkAborted(options.signal)
  // A manifest the destination holds holds all it references (both sides refuse dangling manifests): only the tag is left.
  const held = await dst.hasManifest(to, manifest.digest)
  if (held && tag === undefined) return
  if (!held) {
    let doc: ParsedManifest
    try {
      doc = JSON.parse(manifest.bytes.toString('utf8')) as ParsedManifest
    } catch {
      throw new CopyError(`${from}@${manifest.digest} is not JSON`)
    }
    if (isIndexMediaType(manifest.mediaType) || Array.isArray(doc.manifests)) {
      for (const child of doc.manifests ?? []) {
        if (await dst.hasManifest(to, child.digest)) continue
        const bytes = await src.getManifest(from, child.digest)
        if (bytes === undefined) throw new CopyError(`${from}@${manifest.digest} lists ${child.digest}, which the source does not have`)
        await copyManifest(src, from, dst, to, bytes, undefined, tally, options)
      }
    } else {
      const blobs = [doc.config, ...(doc.layers ?? [])].filter((d): d is Descriptor => d !== undefined && (d.urls?.length ?? 0) === 0)
      for (const blob of blobs) await copyBlob(src, from, dst, to, blob, tally, options)
    }
  }
  checkAborted(options.signal)
  await dst.putManifest(to, tag ?? manifest.digest, manifest.mediaType, manifest.bytes)
  tally.manifests++
  options.onWritten?.('manifest', manifest.digest, manifest.bytes.length)
}

async function copyBlob (src: CopySource, from: string, dst: CopyDestination, to: string, blob: Descriptor, tally: CopyTally, options: CopyOptions): Promise<void> {
  checkAborted(options.signal)
  if (await dst.hasBlob(to, blob.digest, blob.size)) return
  await dst.putBlob(to, blob.digest, blob.size, async () => {
    const opened = await src.openBlob(from, blob.digest)
    if (opened === undefined) throw new CopyError(`${from} lacks blob ${blob.digest}`)
    return opened.body
  })
  tally.blobs++
  tally.bytes += blob.size
  options.onWritten?.('blob', blob.digest, blob.size)
}

async function copyReferrers (src: CopySource, from: string, dst: CopyDestination, to: string, subject: string, depth: number,
  tally: CopyTally, options: CopyOptions): Promise<void> {
  if (depth === 0) return
  for (const referrer of await src.referrers(from, subject)) {
    checkAborted(options.signal)
    if (!await dst.hasManifest(to, referrer.digest)) {
      const manifest = await src.getManifest(from, referrer.digest)
      if (manifest === undefined) continue // deleted meanwhile
      const before = tally.manifests
      await copyManifest(src, from, dst, to, manifest, undefined, tally, options)
      tally.referrers += tally.manifests > before ? 1 : 0
    }
    await dst.linkReferrer?.(to, subject, referrer)
    await copyReferrers(src, from, dst, to, referrer.digest, depth - 1, tally, options)
  }
}

// ---- the two ends ---------------------------------------------------------------------------------------------

/** A remote registry as source or destination, through the registry client. */
export function remoteEnd (client: RegistryClient): CopySource & CopyDestination {
  return {
    getManifest: async (repo, reference) => await client.getManifest(repo, reference),
    openBlob: async (repo, digest) => await client.getBlob(repo, digest),
    referrers: async (repo, digest) => await client.referrers(repo, digest),
    hasManifest: async (repo, digest) => await client.headManifest(repo, digest) !== undefined,
    hasBlob: async (repo, digest) => await client.headBlob(repo, digest) !== undefined,
    putBlob: async (repo, digest, size, open) => {
      // The client wants a synchronous body factory: open first, hand it over once (pushBlob's own HEAD is
      // answered "absent" just as ours was, so it reads the body at most once).
      const body = await open()
      let used = false
      await client.pushBlob(repo, digest, size, () => {
        if (used) throw new CopyError(`blob ${digest} can be sent only once per attempt`)
        used = true
        return body
      })
      if (!used) body.destroy()
    },
    putManifest: async (repo, reference, mediaType, bytes) => { await client.putManifest(repo, reference, mediaType, bytes) },
    // A registry without the referrers API lists a subject's referrers in an index under the tag schema's
    // `<alg>-<hex>` tag, which the pusher keeps (as oras and cosign do).
    async linkReferrer (repo, subject, referrer) {
      if ((await client.referrers(repo, subject)).some(d => d.digest === referrer.digest)) return
      const tag = subject.replace(':', '-')
      const current = await client.getManifest(repo, tag)
      const index = current === undefined
        ? { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] as Descriptor[] }
        : JSON.parse(current.bytes.toString('utf8')) as { manifests: Descriptor[] }
      index.manifests = [...(index.manifests ?? []).filter(d => d.digest !== referrer.digest), referrer]
      await client.putManifest(repo, tag, OCI_INDEX, Buffer.from(JSON.stringify(index)))
    }
  }
}

/** This Berth as source or destination, through the registry services (so events, quotas and GC marks see the writes). */
export function localEnd (registry: Registry): CopySource & CopyDestination {
  const notFound = (err: unknown): boolean => err instanceof RegistryError && (err.reason === 'manifest-unknown' || err.reason === 'blob-unknown')
  return {
    async getManifest (repo, reference) {
      try {
        return await registry.manifests.read(await registry.manifests.resolve(repo, reference))
      } catch (err) {
        if (notFound(err)) return undefined
        throw err
      }
    },
    async openBlob (repo, digest) {
      try {
        const { size } = await registry.blobs.stat(repo, digest)
        return { size, body: await registry.blobs.open(repo, digest) }
      } catch (err) {
        if (notFound(err)) return undefined
        throw err
      }
    },
    async referrers (repo, digest) {
      const found: Descriptor[] = []
      for (let last: string | undefined; ;) {
        const page = await registry.referrers.list(repo, digest, { limit: 100, last })
        found.push(...page.items)
        if (!page.truncated || page.last === undefined) return found
        last = page.last
      }
    },
    async hasManifest (repo, digest) {
      try {
        await registry.manifests.resolve(repo, digest)
        return true
      } catch (err) {
        if (notFound(err)) return false
        throw err
      }
    },
    // Bytes another repository already holds are linked, not fetched again (a mount, as a client would ask).
    hasBlob: async (repo, digest) => await registry.blobs.exists(repo, digest) || await registry.blobs.mount(repo, digest, undefined),
    async putBlob (repo, digest, _size, open) {
      await registry.uploads.putMonolithic(repo, digest, await open())
    },
    async putManifest (repo, reference, mediaType, bytes) {
      await registry.manifests.put(repo, reference, bytes, mediaType)
    }
  }
}
