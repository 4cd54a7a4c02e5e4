// Helpers for API surfaces that store files as OCI artifacts (the CNR facade, the /packages API): put a
// blob whose bytes are in hand, or stream one whose digest is not known in advance.
import { createHash } from 'node:crypto'
import { Readable, pipeline } from 'node:stream'
import type { Blobs } from './blobs.js'
import { HashingMeter, digestOf } from './digest.js'
import type { Uploads } from './uploads.js'

export interface BlobRef {
  digest: string
  size: number
}

interface Deps {
  blobs: Blobs
  uploads: Uploads
}

/** Makes `bytes` a blob of repository `name`: already linked, mounted from the shared store, or uploaded. */
export async function ensureBlob ({ blobs, uploads }: Deps, name: string, bytes: Buffer): Promise<BlobRef> {
  const digest = digestOf('sha256', bytes)
  if (!await blobs.exists(name, digest) && !await blobs.mount(name, digest, undefined)) {
    await uploads.putMonolithic(name, digest, Readable.from([bytes]))
  }
  return { digest, size: bytes.length }
}

/**
 * Streams `body` into a blob of repository `name` and returns its digest. The bytes go through an upload
 * session (never held in memory) and are hashed on the way, so the session can be completed under the
 * digest they turned out to have.
 */
export async function pushBlobStream ({ uploads }: Deps, name: string, body: Readable): Promise<BlobRef> {
  const hash = createHash('sha256')
  const meter = new HashingMeter(hash)
  const { id } = await uploads.start(name)
  try {
    await uploads.append(name, id, pipeline(body, meter, () => {}))
    const digest = `sha256:${hash.digest('hex')}`
    const { size } = await uploads.complete(name, id, digest, Readable.from([]))
    return { digest, size }
  } catch (err) {
    await uploads.cancel(name, id).catch(() => {})
    throw err
  }
}
