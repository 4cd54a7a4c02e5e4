// Helpers for API surfaces that store files as OCI artifacts (the CNR facade, the /packages API). A file
// streamed with a digest not known in advance goes through uploads.putMonolithic(name, undefined, body).
import { Readable } from 'node:stream'
import type { Blobs } from './blobs.js'
import { digestOf } from './digest.js'
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
