// Upload endpoints: start or mount (end-4a/4b/11), chunk (end-5), complete (end-6), status (end-13), cancel.
import type { Readable } from 'node:stream'
import { RegistryError } from '../../errors/registry-error.js'
import { assertValidName } from '../../registry/reference.js'
import type { UploadState } from '../../registry/uploads.js'
import type { OciContext } from '../context.js'
import { parseContentRange, queryString, uploadRange, urls } from '../http.js'

function body (c: OciContext): Readable {
  return c.request.raw
}

/** The most of a refused chunk read and discarded so that its sender gets to read the error (see drained). */
const DRAIN_LIMIT = 64 * 1024 * 1024

/**
 * Runs `write`, which consumes the request body; if it fails before reading the whole body (a chunk out of
 * order is refused with 416 before a byte is read), the rest of the body is read and discarded before the
 * error is answered. Otherwise Node answers with `Connection: close` while the client is still sending, and a
 * client writing a large chunk gets a broken pipe instead of the 416 (the OCI suite's chunked tests on S3,
 * whose chunks are 5 MiB). Past DRAIN_LIMIT bytes the connection is left to close.
 */
async function drained<T> (c: OciContext, write: () => Promise<T>): Promise<T> {
  try {
    return await write()
  } catch (err) {
    const raw = c.request.raw
    // readableEnded, not `complete`: inject()'s requests never set `complete`, and a body read to its end is done.
    if (!raw.readableEnded && !raw.destroyed) {
      await new Promise<void>(resolve => {
        let seen = 0
        const done = (): void => {
          raw.off('readable', onReadable).off('end', done).off('error', done).off('close', done)
          resolve()
        }
        // read() on 'readable', not 'data' and resume(): a body the store's writer pulled through an async
        // iterator and then abandoned (S3 staging, when MinIO stops mid-chunk) stays in paused mode, where
        // resume() does nothing and the drain would wait forever.
        const onReadable = (): void => {
          for (let chunk = raw.read() as Buffer | null; chunk !== null; chunk = raw.read() as Buffer | null) {
            seen += chunk.length
            if (seen > DRAIN_LIMIT) { done(); return }
          }
        }
        raw.on('readable', onReadable).once('end', done).once('error', done).once('close', done)
        onReadable()
      })
    }
    throw err
  }
}

function created ({ reply, name }: OciContext, digest: string): unknown {
  return reply.code(201)
    .header('Location', urls.blob(name, digest))
    .header('Docker-Content-Digest', digest)
    .header('Content-Length', 0)
    .send()
}

function inProgress ({ reply, name }: OciContext, id: string, state: UploadState, status: number): unknown {
  return reply.code(status)
    .header('Range', uploadRange(state.offset))
    .header('Location', urls.upload(name, id))
    .header('Docker-Upload-UUID', id)
    .header('Content-Length', 0)
    .send()
}

/** Links blob `digest` into the repository from `from`, or for an automatic mount from a source the caller may use. */
async function mountFrom ({ registry, access, name }: OciContext, digest: string, from: string | undefined): Promise<boolean> {
  if (from !== undefined) return await access.mayRead(from) && await registry.blobs.mount(name, digest, from)
  if (access.mountSources === 'any') return await registry.blobs.mount(name, digest, undefined)
  const source = await registry.blobs.findLinked(digest, access.mountSources(registry.catalog))
  return source !== undefined && await registry.blobs.mount(name, digest, source)
}

export async function startUpload (c: OciContext): Promise<unknown> {
  const { registry, request, name } = c
  const mount = queryString(request.query, 'mount')
  const from = queryString(request.query, 'from')
  const digest = queryString(request.query, 'digest')
  if (mount !== undefined) {
    if (from !== undefined) assertValidName(from)
    // A source the caller may not read is treated as one without the blob, so a mount never reveals whether a
    // blob exists in it. An automatic mount (no `from`) looks only in repositories the caller may pull.
    if (await mountFrom(c, mount, from)) return created(c, mount)
    // Nothing to mount: fall through to an ordinary session, as the spec asks.
  } else if (digest !== undefined) {
    // The quota refuses a push of known size before its bytes are read (a chunked one, at its final PUT).
    const length = Number(request.headers['content-length'])
    if (Number.isSafeInteger(length) && length > 0) await registry.blobs.checkQuota(name, digest, length)
    await registry.uploads.putMonolithic(name, digest, body(c))
    return created(c, digest)
  }
  const { id, state } = await registry.uploads.start(name)
  c.reply.header('OCI-Chunk-Min-Length', registry.driver.chunkMinLength)
  return inProgress(c, id, state, 202)
}

export async function patchUpload (c: OciContext): Promise<unknown> {
  const range = parseContentRange(c.request.headers['content-range'])
  const state = await drained(c, async () => await c.registry.uploads.append(c.name, c.target, body(c), range))
  return inProgress(c, c.target, state, 202)
}

export async function completeUpload (c: OciContext): Promise<unknown> {
  const digest = queryString(c.request.query, 'digest')
  if (digest === undefined) throw new RegistryError('digest-invalid', 'the digest query parameter is required to complete an upload')
  const range = parseContentRange(c.request.headers['content-range'])
  await drained(c, async () => await c.registry.uploads.complete(c.name, c.target, digest, body(c), range))
  return created(c, digest)
}

export async function getUpload (c: OciContext): Promise<unknown> {
  const state = await c.registry.uploads.status(c.name, c.target)
  return inProgress(c, c.target, state, 204)
}

export async function cancelUpload ({ registry, reply, name, target }: OciContext): Promise<unknown> {
  await registry.uploads.cancel(name, target)
  return await reply.code(204).send()
}
