// S3 driver (MinIO, or any S3-compatible store): the StorageDriver contract over the pieces of this folder.
//
//   layout.ts     key ↔ object name, the staging namespace
//   client.ts     requests with idle timeouts, conditional writes, watched bodies, error classification
//   multipart.ts  rebuffered streaming uploads, server-side compose, multipart markers and sweeps (and the
//                 garbage collector's sweep of multipart uploads crashed writers left: abandonedWrites)
//   staging.ts    append emulation: a staging record listing segments
//
// Commit. `move` of a staged key composes its segments at the target on the server; no byte goes back
// through Berth. Plain objects move the same way (CopyObject when small).
//
// Concurrency. createIfAbsent and compareAndSwap are S3 conditional writes (`If-None-Match: *`,
// `If-Match: <etag>`), which MinIO evaluates atomically under its object lock, so any number of replicas
// agree. Versions are ETags.
import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  NotFoundError, StorageUnavailableError,
  type AbandonedWrite, type ListOptions, type ListPage, type ObjectInfo, type StorageDriver, type VersionedRecord
} from '../../driver.js'
import {
  DRIVER_NAME, S3Client, collect, describe, drain, etagOf, guard, isServerStarting, translate, type S3DriverOptions
} from './client.js'
import { NAME_SUFFIX, assertPrefix, isStaged, keyOf, markerDirOf, objectName, stagingDir, stagingPrefix } from './layout.js'
import { LIST_MAX, MIN_PART, compose, forgetMarker, removeAll, sweepStaging, upload } from './multipart.js'
import { appendStaged, parseStaging, pull, readStaging, segmentSources, stagedBytes } from './staging.js'

export type { S3DriverOptions } from './client.js'

/** How long startup waits for a server that answers 503 while it initializes. */
const STARTUP_WAIT_MS = 10_000

export class S3Driver implements StorageDriver {
  readonly name = DRIVER_NAME
  readonly chunkMinLength = MIN_PART
  private readonly s3: S3Client

  constructor (options: S3DriverOptions) {
    this.s3 = new S3Client(options)
  }

  get bucket (): string {
    return this.s3.bucket
  }

  /**
   * Checks the endpoint, the credentials and the bucket, creating the bucket when it is missing.
   * Fails with a message that names the setting at fault.
   */
  async init (): Promise<void> {
    const { bucket, endpoint } = this.s3
    let exists: boolean | undefined
    // A server that is still starting answers 503 for a moment: wait for it, briefly. A refused connection or
    // refused credentials fail at once.
    for (const deadline = Date.now() + STARTUP_WAIT_MS; exists === undefined;) {
      try {
        exists = await this.s3.bucketExists()
      } catch (err) {
        if (!isServerStarting(err) || Date.now() > deadline) {
          throw new StorageUnavailableError(this.name, `cannot use bucket "${bucket}" at ${endpoint} ` +
            `(BERTH_S3_ENDPOINT, BERTH_S3_ACCESS_KEY, BERTH_S3_SECRET_KEY): ${describe(err)}`, { cause: err })
        }
        await sleep(250)
      }
    }
    if (exists) return
    try {
      await this.s3.makeBucket()
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'BucketAlreadyOwnedByYou' || code === 'BucketAlreadyExists') return // another replica won
      throw new StorageUnavailableError(this.name, `cannot create bucket "${bucket}" at ${endpoint} ` +
        `(BERTH_S3_BUCKET, BERTH_S3_REGION): ${describe(err)}`, { cause: err })
    }
  }

  async ping (): Promise<void> {
    await guard('ping', this.s3.bucket, async () => {
      await this.s3.send({ method: 'HEAD' }, '', [200], true).then(drain)
    })
  }

  // ---- reads -----------------------------------------------------------------------------------------------

  async read (key: string, range?: { start: number, end: number }): Promise<Readable> {
    const name = objectName(key)
    return await guard('read', key, async () => {
      let res: IncomingMessage | undefined
      try {
        res = await this.s3.get(name, range)
      } catch (err) {
        // A range past the end of a staging record: the key may still be staged, with more data than that.
        if ((err as { code?: string }).code !== 'InvalidRange') throw err
      }
      if (res === undefined && range === undefined) throw new NotFoundError(key, this.name)
      if (res !== undefined && !isStaged(res)) return this.s3.watch(res, key)
      if (res !== undefined) drain(res)
      const staging = await readStaging(this.s3, key)
      if (staging === undefined) throw new NotFoundError(key, this.name)
      const bytes = stagedBytes(this.s3, key, staging.record, range ?? { start: 0, end: staging.record.size - 1 })
      return Readable.from(translated(bytes, key))
    })
  }

  async readAll (key: string): Promise<Buffer> {
    const name = objectName(key)
    return await guard('readAll', key, async () => {
      const res = await this.s3.get(name)
      if (res === undefined) throw new NotFoundError(key, this.name)
      if (!isStaged(res)) return await collect(this.s3.watch(res, key))
      const record = parseStaging(await collect(this.s3.watch(res, key)), key)
      return await collect(Readable.from(stagedBytes(this.s3, key, record, { start: 0, end: record.size - 1 })))
    })
  }

  async stat (key: string): Promise<ObjectInfo | undefined> {
    const name = objectName(key)
    return await guard('stat', key, async () => {
      const head = await this.s3.head(name)
      return head === undefined ? undefined : { size: head.size, modifiedAt: head.modifiedAt }
    })
  }

  async list (prefix: string, { startAfter, limit }: ListOptions): Promise<ListPage> {
    assertPrefix(prefix)
    return await guard('list', prefix, async () => {
      const keys: string[] = []
      let token = ''
      let truncated = false
      // One ListObjectsV2 call per 1000 keys asked for (S3's page size), never more.
      while (keys.length < limit) {
        const page = await this.s3.listPage(prefix, token, Math.min(LIST_MAX, limit - keys.length),
          token === '' && startAfter !== undefined ? startAfter + NAME_SUFFIX : '')
        for (const name of page.names) {
          const key = keyOf(name)
          if (key !== undefined) keys.push(key)
        }
        truncated = page.truncated
        if (page.next === undefined) break
        token = page.next
      }
      return { keys: keys.slice(0, limit), truncated: truncated || keys.length > limit }
    })
  }

  // ---- writes ----------------------------------------------------------------------------------------------

  async write (key: string, body: Readable | Buffer): Promise<number> {
    const name = objectName(key)
    return await guard('write', key, async () => {
      if (Buffer.isBuffer(body)) {
        await this.s3.put(name, body)
        return body.length
      }
      return await upload(this.s3, name, body, stagingDir(key))
    })
  }

  async delete (key: string): Promise<boolean> {
    const name = objectName(key)
    return await guard('delete', key, async () => {
      const head = await this.s3.head(name)
      if (head === undefined) return false
      await this.s3.delete(name)
      if (head.staged) await sweepStaging(this.s3, stagingDir(key))
      return true
    })
  }

  async deletePrefix (prefix: string): Promise<void> {
    assertPrefix(prefix)
    await guard('deletePrefix', prefix, async () => {
      // Abort multipart uploads first, so a concurrent append fails instead of completing; sweep again at
      // the end for a segment that such an append may have written meanwhile.
      await sweepStaging(this.s3, stagingPrefix(prefix))
      await removeAll(this.s3, prefix)
      await sweepStaging(this.s3, stagingPrefix(prefix))
    })
  }

  async move (from: string, to: string): Promise<void> {
    const source = objectName(from)
    const target = objectName(to)
    await guard('move', from, async () => {
      const head = await this.s3.head(source)
      if (head === undefined) throw new NotFoundError(from, this.name)
      if (head.staged) {
        const staging = await readStaging(this.s3, from)
        if (staging === undefined) throw new NotFoundError(from, this.name)
        await compose(this.s3, segmentSources(from, staging.record), target, stagingDir(from))
        await this.s3.delete(source)
        await sweepStaging(this.s3, stagingDir(from))
      } else {
        await compose(this.s3, [{ name: source, size: head.size, whole: true }], target, stagingDir(from))
        await this.s3.delete(source)
      }
    })
  }

  // ---- small records: conditional writes ----------------------------------------------------------------

  async createIfAbsent (key: string, data: Buffer): Promise<boolean> {
    const name = objectName(key)
    return await guard('createIfAbsent', key, async () =>
      await this.s3.putConditional(name, data, { 'if-none-match': '*' }) !== undefined)
  }

  async readVersioned (key: string): Promise<VersionedRecord | undefined> {
    const name = objectName(key)
    return await guard('readVersioned', key, async () => {
      const res = await this.s3.get(name)
      if (res === undefined) return undefined
      return { data: await collect(this.s3.watch(res, key)), version: etagOf(res.headers) }
    })
  }

  async compareAndSwap (key: string, expected: string | undefined, data: Buffer): Promise<string | undefined> {
    const name = objectName(key)
    return await guard('compareAndSwap', key, async () =>
      await this.s3.putConditional(name, data, expected === undefined ? { 'if-none-match': '*' } : { 'if-match': `"${expected}"` }))
  }

  // ---- append staging ---------------------------------------------------------------------------------------

  async append (key: string, offset: number, body: Readable): Promise<number> {
    objectName(key)
    // The body is read chunk by chunk and never destroyed here, even on failure: destroying it would tear
    // down the client's connection before the API could send its error response.
    return await guard('append', key, async () => await appendStaged(this.s3, key, offset, pull(body)))
  }

  // ---- garbage collection: multipart uploads of writers that are gone -------------------------------------

  /**
   * Multipart uploads initiated before `startedBefore`, into names of this driver only (`<key>!` and its
   * staging area: a bucket shared with other software keeps theirs). A crashed writer leaves them, with or
   * without the marker that announces them (multipart.ts); their parts take space until they are aborted.
   */
  async * abandonedWrites (startedBefore: Date): AsyncGenerator<AbandonedWrite> {
    try {
      for await (const upload of this.s3.incompleteUploads()) {
        if (!upload.name.endsWith(NAME_SUFFIX) || upload.initiated.getTime() >= startedBefore.getTime()) continue
        yield { name: upload.name, id: upload.uploadId, startedAt: upload.initiated, bytes: upload.size }
      }
    } catch (err) {
      throw translate(err, 'abandonedWrites', this.s3.bucket)
    }
  }

  /** Aborts one multipart upload (its parts go) and deletes the marker that announced it, if any. */
  async discardAbandonedWrite (write: AbandonedWrite): Promise<boolean> {
    if (!write.name.endsWith(NAME_SUFFIX)) return false
    return await guard('discardAbandonedWrite', write.name, async () => {
      try {
        await this.s3.abortMultipart(write.name, write.id)
      } catch (err) {
        if ((err as { code?: string }).code === 'NoSuchUpload') return false // finished or aborted meanwhile
        throw err
      }
      await forgetMarker(this.s3, markerDirOf(write.name), write.id)
      return true
    })
  }

  async presignedUrl (key: string, { expiresSeconds }: { expiresSeconds: number }): Promise<string> {
    return await this.s3.presignedGet(objectName(key), expiresSeconds)
  }

  async close (): Promise<void> {
    this.s3.close()
  }
}

/** Errors raised while a staged key streams, in the driver's terms (guard() has returned by then). */
async function * translated (source: AsyncGenerator<Buffer>, key: string): AsyncGenerator<Buffer> {
  try {
    yield * source
  } catch (err) {
    throw translate(err, 'read', key)
  }
}
