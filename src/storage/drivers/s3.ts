// S3 driver (MinIO, or any S3-compatible store) over the `minio` client.
//
// Object names. A key is stored as the object `<key>!`. MinIO keeps objects as directories on disk and cannot
// list the keys under a name that is itself an object (`catalog/a` next to `catalog/a/b`), so no stored name
// may be the directory of another. '!' sorts below every character a key may hold, so names list in exactly
// the byte order of their keys, and `startAfter` maps to the name of the key.
//
// Append staging. S3 has no append, so an appended key (an upload's data) is a small JSON *staging record*
// stored under the key itself (marked by `x-amz-meta-berth-staged`), listing *segments*: ordinary objects
// under `~staging/<key>/`, a reserved namespace no listing of the registry can reach. Each append streams
// its body into one new segment, through S3 multipart parts rebuffered to at least 8 MiB (S3 wants 5 MiB),
// so a blob is never held in memory, then swaps the record with a conditional write. Every segment but the
// last is at least 5 MiB; a smaller tail (tiny client chunks) is carried into the next append's segment.
// An append from an earlier offset keeps the segments before it (a segment cut at the offset stays as a
// view of its first bytes, or is carried when that part is under 5 MiB). An append that fails leaves the
// previous record, and so the previous data, untouched.
//
// Commit. `move` of a staged key composes its segments at the target on the server: UploadPartCopy of
// every segment, in ranges of at most 64 MiB (so also above 5 GiB), then CompleteMultipartUpload. No byte
// goes back through Berth. Plain objects move the same way (CopyObject when small).
//
// Cleanup. Each multipart upload the driver starts is announced by a marker object under the staging area
// of the key it belongs to (`~staging/<key>/mpu-<id>!`, holding the upload id). `deletePrefix` (cancel,
// failed upload, expiry purge) aborts the multipart uploads named by the markers under the prefix, then
// deletes the segments and the keys, so no orphaned parts stay behind.
//
// Concurrency. createIfAbsent and compareAndSwap are S3 conditional writes (`If-None-Match: *`,
// `If-Match: <etag>`), which MinIO evaluates atomically under its object lock, so any number of replicas
// agree. Versions are ETags.
//
// Faults. Every request has a bounded idle timeout (no bytes either way for `timeoutMs`; copies and
// multipart completion get longer); streamed reads have the same bound on waiting for S3, but never on a
// slow reader. Unreachable, failing or timed-out S3 requests throw StorageUnavailableError (503 upstream).
// Nothing is cached, so the driver recovers by itself when S3 returns.
import { randomUUID } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import { PassThrough, Readable, pipeline } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client, S3Error } from 'minio'
import {
  InvalidKeyError, InvalidOffsetError, NotFoundError, StorageUnavailableError,
  type ListOptions, type ListPage, type ObjectInfo, type StorageDriver, type VersionedRecord
} from '../driver.js'

const MiB = 1024 * 1024
/** S3's smallest part (all parts but the last). */
const MIN_PART = 5 * MiB
/** Parts we upload: 8 MiB, doubling every 1000 parts so 10 000 parts reach past 1 TiB. */
const BASE_PART = 8 * MiB
const MAX_PART = 1024 * MiB
/** Bodies up to this size go up in one PUT (the memory two parts in flight would take anyway). */
const SINGLE_PUT_MAX = 2 * BASE_PART
const MAX_PARTS = 10_000
/** Largest range copied by one UploadPartCopy, and largest object moved with a single CopyObject. */
const COPY_PART = 64 * MiB
const COPY_CONCURRENCY = 4
const LIST_MAX = 1000
const KEY_SEGMENT = /^[A-Za-z0-9._=+-]+$/
const NAME_SUFFIX = '!'
const STAGING = '~staging/'
const STAGED_HEADER = 'x-amz-meta-berth-staged'
const SIZE_HEADER = 'x-amz-meta-berth-size'
/** How long startup waits for a server that answers 503 while it initializes. */
const STARTUP_WAIT_MS = 10_000
/** Copies and multipart completion may legitimately take a while without a byte on the wire. */
const SLOW_OPERATION_MS = 120_000

export interface S3DriverOptions {
  /** http(s)://host[:port] of the S3 API. */
  endpoint: string
  accessKey: string
  secretKey: string
  bucket: string
  region: string
  /** Idle timeout for one S3 request. */
  timeoutMs: number
  /** Endpoint clients use for presigned URLs (default: `endpoint`). */
  publicEndpoint?: string
}

interface Segment {
  id: string
  /** Bytes of the segment that belong to the staged data (a prefix of the object). */
  size: number
  /** Bytes in the segment object. */
  stored: number
}

interface StagingRecord {
  size: number
  segments: Segment[]
}

interface Head {
  size: number
  modifiedAt: Date
  etag: string
  staged: boolean
}

interface MultipartUpload {
  name: string
  uploadId: string
  marker: string | undefined
}

export class S3Driver implements StorageDriver {
  readonly name = 's3'
  readonly chunkMinLength = MIN_PART
  private readonly client: Client
  private readonly presigner: Client
  private readonly agent: http.Agent
  private readonly bucket: string
  private readonly region: string
  private readonly timeoutMs: number
  private readonly endpoint: string

  constructor (options: S3DriverOptions) {
    this.bucket = options.bucket
    this.region = options.region
    this.timeoutMs = options.timeoutMs
    this.endpoint = options.endpoint
    const url = new URL(options.endpoint)
    const secure = url.protocol === 'https:'
    this.agent = secure
      ? new https.Agent({ keepAlive: true, timeout: 4000 })
      : new http.Agent({ keepAlive: true, timeout: 4000 })
    this.client = this.makeClient(url, options, timedTransport(secure ? https : http, options.timeoutMs))
    this.presigner = this.makeClient(new URL(options.publicEndpoint ?? options.endpoint), options, undefined)
  }

  private makeClient (url: URL, options: S3DriverOptions, transport: ReturnType<typeof timedTransport> | undefined): Client {
    const secure = url.protocol === 'https:'
    const client = new Client({
      endPoint: url.hostname,
      port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
      useSSL: secure,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      region: options.region,
      pathStyle: true,
      ...(transport === undefined ? {} : { transport, transportAgent: this.agent }),
      // One attempt per request: callers get a prompt 503, and streamed bodies cannot be replayed anyway.
      retryOptions: { disableRetry: true }
    })
    // Payloads are signed as UNSIGNED-PAYLOAD instead of hashed twice more (here and in S3) per part:
    // blob bytes are already hashed by the registry, and S3 computes its own checksums.
    client.enableSHA256 = false
    return client
  }

  /**
   * Checks the endpoint, the credentials and the bucket, creating the bucket when it is missing.
   * Fails with a message that names the setting at fault.
   */
  async init (): Promise<void> {
    let exists: boolean | undefined
    // A server that is still starting answers 503 for a moment: wait for it, briefly. A refused connection or
    // refused credentials fail at once.
    for (const deadline = Date.now() + STARTUP_WAIT_MS; exists === undefined;) {
      try {
        exists = await this.client.bucketExists(this.bucket)
      } catch (err) {
        if (!isServerStarting(err) || Date.now() > deadline) {
          throw new StorageUnavailableError(this.name, `cannot use bucket "${this.bucket}" at ${this.endpoint} ` +
            `(BERTH_S3_ENDPOINT, BERTH_S3_ACCESS_KEY, BERTH_S3_SECRET_KEY): ${describe(err)}`, { cause: err })
        }
        await sleep(250)
      }
    }
    if (exists) return
    try {
      await this.client.makeBucket(this.bucket, this.region)
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'BucketAlreadyOwnedByYou' || code === 'BucketAlreadyExists') return // another replica won
      throw new StorageUnavailableError(this.name, `cannot create bucket "${this.bucket}" at ${this.endpoint} ` +
        `(BERTH_S3_BUCKET, BERTH_S3_REGION): ${describe(err)}`, { cause: err })
    }
  }

  async ping (): Promise<void> {
    await this.guard('ping', this.bucket, async () => {
      await this.send({ method: 'HEAD' }, '', [200], true).then(drain)
    })
  }

  // ---- reads -----------------------------------------------------------------------------------------------

  async read (key: string, range?: { start: number, end: number }): Promise<Readable> {
    const name = objectName(key)
    return await this.guard('read', key, async () => {
      let res: http.IncomingMessage | undefined
      try {
        res = await this.get(name, range)
      } catch (err) {
        // A range past the end of a staging record: the key may still be staged, with more data than that.
        if ((err as { code?: string }).code !== 'InvalidRange') throw err
      }
      if (res === undefined && range === undefined) throw new NotFoundError(key, this.name)
      if (res !== undefined && !isStaged(res)) return this.watch(res, key)
      if (res !== undefined) drain(res)
      const staging = await this.readStaging(key)
      if (staging === undefined) throw new NotFoundError(key, this.name)
      return Readable.from(this.translated(this.stagedBytes(key, staging.record, range ?? { start: 0, end: staging.record.size - 1 }), key))
    })
  }

  /** Errors raised while a staged key streams, in the driver's terms (guard() has returned by then). */
  private async * translated (source: AsyncGenerator<Buffer>, key: string): AsyncGenerator<Buffer> {
    try {
      yield * source
    } catch (err) {
      throw this.translate(err, 'read', key)
    }
  }

  async readAll (key: string): Promise<Buffer> {
    const name = objectName(key)
    return await this.guard('readAll', key, async () => {
      const res = await this.get(name)
      if (res === undefined) throw new NotFoundError(key, this.name)
      if (!isStaged(res)) return await collect(this.watch(res, key))
      const record = parseStaging(await collect(this.watch(res, key)), key)
      return await collect(Readable.from(this.stagedBytes(key, record, { start: 0, end: record.size - 1 })))
    })
  }

  async stat (key: string): Promise<ObjectInfo | undefined> {
    const name = objectName(key)
    return await this.guard('stat', key, async () => {
      const head = await this.head(name)
      return head === undefined ? undefined : { size: head.size, modifiedAt: head.modifiedAt }
    })
  }

  async list (prefix: string, { startAfter, limit }: ListOptions): Promise<ListPage> {
    assertPrefix(prefix)
    return await this.guard('list', prefix, async () => {
      const keys: string[] = []
      let token = ''
      let truncated = false
      // One ListObjectsV2 call per 1000 keys asked for (S3's page size), never more.
      while (keys.length < limit) {
        const page = await this.client.listObjectsV2Query(this.bucket, prefix, token, '', Math.min(LIST_MAX, limit - keys.length),
          token === '' && startAfter !== undefined ? startAfter + NAME_SUFFIX : '')
        for (const item of page.objects) {
          if (item.name?.endsWith(NAME_SUFFIX) === true) keys.push(item.name.slice(0, -NAME_SUFFIX.length))
        }
        truncated = page.isTruncated
        if (!truncated || page.nextContinuationToken === '') break
        token = page.nextContinuationToken
      }
      return { keys: keys.slice(0, limit), truncated: truncated || keys.length > limit }
    })
  }

  // ---- writes ----------------------------------------------------------------------------------------------

  async write (key: string, body: Readable | Buffer): Promise<number> {
    const name = objectName(key)
    return await this.guard('write', key, async () => {
      if (Buffer.isBuffer(body)) {
        await this.put(name, body)
        return body.length
      }
      return await this.upload(name, body, stagingDir(key))
    })
  }

  async delete (key: string): Promise<boolean> {
    const name = objectName(key)
    return await this.guard('delete', key, async () => {
      const head = await this.head(name)
      if (head === undefined) return false
      await this.send({ method: 'DELETE', objectName: name }, '', [204], true).then(drain)
      if (head.staged) await this.sweepStaging(stagingDir(key))
      return true
    })
  }

  async deletePrefix (prefix: string): Promise<void> {
    assertPrefix(prefix)
    await this.guard('deletePrefix', prefix, async () => {
      // Abort multipart uploads first, so a concurrent append fails instead of completing; sweep again at
      // the end for a segment that such an append may have written meanwhile.
      await this.sweepStaging(STAGING + prefix)
      await this.removeAll(prefix)
      await this.sweepStaging(STAGING + prefix)
    })
  }

  async move (from: string, to: string): Promise<void> {
    const source = objectName(from)
    const target = objectName(to)
    await this.guard('move', from, async () => {
      const head = await this.head(source)
      if (head === undefined) throw new NotFoundError(from, this.name)
      if (head.staged) {
        const staging = await this.readStaging(from)
        if (staging === undefined) throw new NotFoundError(from, this.name)
        const parts = staging.record.segments.map(s => ({ name: segmentName(from, s.id), size: s.size, whole: s.size === s.stored }))
        await this.compose(parts, target, stagingDir(from))
        await this.send({ method: 'DELETE', objectName: source }, '', [204], true).then(drain)
        await this.sweepStaging(stagingDir(from))
      } else {
        await this.compose([{ name: source, size: head.size, whole: true }], target, stagingDir(from))
        await this.send({ method: 'DELETE', objectName: source }, '', [204], true).then(drain)
      }
    })
  }

  // ---- small records: conditional writes ----------------------------------------------------------------

  async createIfAbsent (key: string, data: Buffer): Promise<boolean> {
    const name = objectName(key)
    return await this.guard('createIfAbsent', key, async () =>
      await this.putConditional(name, data, { 'if-none-match': '*' }) !== undefined)
  }

  async readVersioned (key: string): Promise<VersionedRecord | undefined> {
    const name = objectName(key)
    return await this.guard('readVersioned', key, async () => {
      const res = await this.get(name)
      if (res === undefined) return undefined
      return { data: await collect(this.watch(res, key)), version: etagOf(res.headers) }
    })
  }

  async compareAndSwap (key: string, expected: string | undefined, data: Buffer): Promise<string | undefined> {
    const name = objectName(key)
    return await this.guard('compareAndSwap', key, async () =>
      await this.putConditional(name, data, expected === undefined ? { 'if-none-match': '*' } : { 'if-match': `"${expected}"` }))
  }

  // ---- append staging ---------------------------------------------------------------------------------------

  async append (key: string, offset: number, body: Readable): Promise<number> {
    objectName(key)
    // The body is read chunk by chunk and never destroyed here, even on failure: destroying it would tear
    // down the client's connection before the API could send its error response.
    return await this.guard('append', key, async () => await this.appendStaged(key, offset, pull(body)))
  }

  private async appendStaged (key: string, offset: number, input: Pull): Promise<number> {
    let staging = await this.readStaging(key)
    if (staging === undefined) {
      const head = await this.head(objectName(key))
      if (offset > 0) throw new InvalidOffsetError(key, offset, 0)
      // Write the empty record before any byte, so that the staging is visible (to the expiry purge and
      // to deletePrefix) while its first segment streams.
      const empty: StagingRecord = { size: 0, segments: [] }
      const etag = await this.putRecord(key, empty, head === undefined ? { 'if-none-match': '*' } : { 'if-match': `"${head.etag}"` })
      if (etag === undefined) throw concurrent(key, offset)
      staging = { record: empty, etag }
    }
    const { record, etag } = staging
    if (record.size < offset) throw new InvalidOffsetError(key, offset, record.size)

    // Keep what lies before `offset`; `carry` is a small head of a segment that must be rewritten.
    const kept: Segment[] = []
    let carry: { segment: Segment, length: number } | undefined
    let position = 0
    for (const segment of record.segments) {
      if (position >= offset) break
      const end = position + segment.size
      if (end <= offset) {
        kept.push(segment)
      } else if (offset - position >= MIN_PART) {
        kept.push({ ...segment, size: offset - position }) // a view of the segment's first bytes
      } else {
        carry = { segment, length: offset - position }
      }
      position = end
    }
    const last = kept.at(-1)
    if (carry === undefined && last !== undefined && last.size < MIN_PART) {
      kept.pop() // a small tail: merged into the new segment, so that every segment but the last is ≥ 5 MiB
      carry = { segment: last, length: last.size }
    }

    const first = await input.next()
    let segments: Segment[]
    let created: string | undefined
    if (first === undefined) {
      // Nothing new: the data is only cut back to `offset`.
      segments = carry === undefined ? kept : [...kept, { ...carry.segment, size: carry.length }]
      if (offset === record.size) return offset
    } else {
      const id = randomUUID()
      created = segmentName(key, id)
      const carried = carry === undefined ? undefined : carry
      const source = (async function * (driver: S3Driver) {
        if (carried !== undefined && carried.length > 0) {
          yield * driver.rangeBytes(segmentName(key, carried.segment.id), key, { start: 0, end: carried.length - 1 })
        }
        yield first
        for (let chunk = await input.next(); chunk !== undefined; chunk = await input.next()) yield chunk
      })(this)
      const stored = await this.upload(created, source, stagingDir(key))
      segments = [...kept, { id, size: stored, stored }]
    }
    const next: StagingRecord = { size: segments.reduce((sum, s) => sum + s.size, 0), segments }
    let written: string | undefined
    try {
      written = await this.putRecord(key, next, { 'if-match': `"${etag}"` })
    } catch (err) {
      if (created !== undefined) await this.deleteQuietly(created)
      throw err
    }
    if (written === undefined) {
      if (created !== undefined) await this.deleteQuietly(created)
      throw concurrent(key, offset)
    }
    // Segments the new record no longer names (a merged tail, data past the offset) can go.
    const live = new Set(segments.map(s => s.id))
    for (const segment of record.segments) {
      if (!live.has(segment.id)) await this.deleteQuietly(segmentName(key, segment.id))
    }
    return next.size
  }

  private async readStaging (key: string): Promise<{ record: StagingRecord, etag: string } | undefined> {
    const res = await this.get(objectName(key))
    if (res === undefined) return undefined
    if (!isStaged(res)) {
      drain(res)
      return undefined
    }
    return { record: parseStaging(await collect(this.watch(res, key)), key), etag: etagOf(res.headers) }
  }

  private async putRecord (key: string, record: StagingRecord, condition: Record<string, string>): Promise<string | undefined> {
    return await this.putConditional(objectName(key), Buffer.from(JSON.stringify(record)), {
      ...condition,
      'content-type': 'application/json',
      [STAGED_HEADER]: '1',
      [SIZE_HEADER]: String(record.size)
    })
  }

  /** The bytes [range.start, range.end] of a staged key, segment after segment. */
  private async * stagedBytes (key: string, record: StagingRecord, range: { start: number, end: number }): AsyncGenerator<Buffer> {
    let position = 0
    for (const segment of record.segments) {
      const start = Math.max(range.start, position)
      const end = Math.min(range.end, position + segment.size - 1)
      if (start <= end) yield * this.rangeBytes(segmentName(key, segment.id), key, { start: start - position, end: end - position })
      position += segment.size
      if (position > range.end) return
    }
  }

  private async * rangeBytes (name: string, key: string, range: { start: number, end: number }): AsyncGenerator<Buffer> {
    const res = await this.get(name, range)
    if (res === undefined) throw new NotFoundError(key, this.name) // deleted under us (cancelled upload)
    for await (const chunk of this.watch(res, key)) yield chunk as Buffer
  }

  // ---- streaming uploads and server-side composition ---------------------------------------------------------

  /**
   * Streams `source` into the object `name`: a single PUT up to SINGLE_PUT_MAX, otherwise a multipart upload
   * of rebuffered parts, with at most one part in flight while the next one fills. Returns the size.
   */
  private async upload (name: string, source: AsyncIterable<Buffer>, markerDir: string): Promise<number> {
    const pending: Buffer[] = []
    let pendingBytes = 0
    let total = 0
    let multipart: MultipartUpload | undefined
    const parts: Array<{ part: number, etag: string }> = []
    let inflight: Promise<void> | undefined
    let partNumber = 1
    const take = (n: number): Buffer => {
      const all = pending.length === 1 ? pending[0] as Buffer : Buffer.concat(pending, pendingBytes)
      pending.length = 0
      const rest = all.subarray(n)
      if (rest.length > 0) pending.push(Buffer.from(rest)) // copy: do not pin the whole part buffer
      pendingBytes = rest.length
      return all.subarray(0, n)
    }
    const send = async (data: Buffer, part: number, upload: MultipartUpload): Promise<void> => {
      const res = await this.send({ method: 'PUT', objectName: name, query: `partNumber=${part}&uploadId=${encodeURIComponent(upload.uploadId)}` }, data, [200])
      drain(res)
      parts.push({ part, etag: etagOf(res.headers) })
    }
    try {
      for await (const chunk of source) {
        if (chunk.length === 0) continue
        pending.push(chunk)
        pendingBytes += chunk.length
        total += chunk.length
        if (multipart === undefined && pendingBytes <= SINGLE_PUT_MAX) continue
        multipart ??= await this.startMultipart(name, markerDir)
        while (pendingBytes >= partSize(partNumber)) {
          const data = take(partSize(partNumber))
          if (inflight !== undefined) await inflight
          if (partNumber > MAX_PARTS) throw new Error(`${name}: more than ${MAX_PARTS} parts`)
          inflight = send(data, partNumber++, multipart)
          inflight.catch(() => {}) // observed when awaited
        }
      }
      if (inflight !== undefined) await inflight
      if (multipart === undefined) {
        await this.put(name, take(pendingBytes))
        return total
      }
      if (pendingBytes > 0) await send(take(pendingBytes), partNumber++, multipart)
      await this.completeMultipart(multipart, parts)
      return total
    } catch (err) {
      if (inflight !== undefined) await inflight.catch(() => {})
      if (multipart !== undefined) await this.abortMultipart(multipart)
      throw err
    }
  }

  /**
   * Makes `target` the concatenation of `sources` on the server. Every source but the last must be at least
   * 5 MiB. Sources are copied in ranges of at most 64 MiB; more than 10 000 ranges compose in two levels.
   */
  private async compose (sources: Array<{ name: string, size: number, whole: boolean }>, target: string, markerDir: string): Promise<void> {
    const total = sources.reduce((sum, s) => sum + s.size, 0)
    const only = sources[0]
    if (total === 0) {
      await this.put(target, Buffer.alloc(0))
      return
    }
    if (sources.length === 1 && only !== undefined && only.whole && only.size <= COPY_PART) {
      const res = await this.send({ method: 'PUT', objectName: target, headers: { 'x-amz-copy-source': copySource(this.bucket, only.name) } }, '', [200])
      assertNoError(await collect(this.watch(res, target)), target)
      return
    }
    const ranges: Array<{ name: string, start: number, end: number }> = []
    for (const source of sources) {
      const count = Math.max(1, Math.ceil(source.size / COPY_PART))
      const step = Math.ceil(source.size / count) // even pieces: none of them small
      for (let start = 0; start < source.size; start += step) {
        ranges.push({ name: source.name, start, end: Math.min(source.size, start + step) - 1 })
      }
    }
    if (ranges.length > MAX_PARTS) {
      // Compose groups of sources into intermediate objects first, then those.
      const groups: Array<typeof sources> = []
      let group: typeof sources = []
      let groupRanges = 0
      for (const source of sources) {
        const n = Math.max(1, Math.ceil(source.size / COPY_PART))
        if (groupRanges + n > MAX_PARTS && group.length > 0) {
          groups.push(group)
          group = []
          groupRanges = 0
        }
        group.push(source)
        groupRanges += n
      }
      groups.push(group)
      const intermediates: Array<{ name: string, size: number, whole: boolean }> = []
      try {
        for (const g of groups) {
          const name = `${markerDir}compose-${randomUUID()}${NAME_SUFFIX}`
          await this.compose(g, name, markerDir)
          intermediates.push({ name, size: g.reduce((sum, s) => sum + s.size, 0), whole: true })
        }
        await this.compose(intermediates, target, markerDir)
      } finally {
        for (const i of intermediates) await this.deleteQuietly(i.name)
      }
      return
    }
    const multipart = await this.startMultipart(target, markerDir)
    try {
      const parts = new Array<{ part: number, etag: string }>(ranges.length)
      let nextIndex = 0
      const worker = async (): Promise<void> => {
        for (let i = nextIndex++; i < ranges.length; i = nextIndex++) {
          const range = ranges[i] as (typeof ranges)[number]
          const res = await this.send({
            method: 'PUT',
            objectName: target,
            query: `partNumber=${i + 1}&uploadId=${encodeURIComponent(multipart.uploadId)}`,
            headers: {
              'x-amz-copy-source': copySource(this.bucket, range.name),
              'x-amz-copy-source-range': `bytes=${range.start}-${range.end}`
            }
          }, '', [200])
          const body = await collect(this.watch(res, target))
          assertNoError(body, target)
          parts[i] = { part: i + 1, etag: xmlField(body, 'ETag', target) }
        }
      }
      await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, ranges.length) }, worker))
      await this.completeMultipart(multipart, parts)
    } catch (err) {
      await this.abortMultipart(multipart)
      throw err
    }
  }

  private async startMultipart (name: string, markerDir: string): Promise<MultipartUpload> {
    const uploadId = await this.client.initiateNewMultipartUpload(this.bucket, name, {})
    const marker = `${markerDir}mpu-${randomUUID()}${NAME_SUFFIX}`
    const upload = { name, uploadId, marker }
    try {
      await this.put(marker, Buffer.from(JSON.stringify({ name, uploadId })))
    } catch (err) {
      await this.abortMultipart({ ...upload, marker: undefined })
      throw err
    }
    return upload
  }

  private async completeMultipart (upload: MultipartUpload, parts: Array<{ part: number, etag: string }>): Promise<void> {
    parts.sort((a, b) => a.part - b.part)
    await this.client.completeMultipartUpload(this.bucket, upload.name, upload.uploadId, parts)
    if (upload.marker !== undefined) await this.deleteQuietly(upload.marker)
  }

  /** Aborts quietly: a failure here must not hide the error that led to it; markers let a sweep retry. */
  private async abortMultipart (upload: MultipartUpload): Promise<void> {
    try {
      await this.client.abortMultipartUpload(this.bucket, upload.name, upload.uploadId)
    } catch (err) {
      if ((err as { code?: string }).code !== 'NoSuchUpload') return // keep the marker for the next sweep
    }
    if (upload.marker !== undefined) await this.deleteQuietly(upload.marker)
  }

  /** Aborts the multipart uploads announced under a staging prefix and deletes everything there. */
  private async sweepStaging (prefix: string): Promise<void> {
    for (let token = ''; ;) {
      const page = await this.client.listObjectsV2Query(this.bucket, prefix, token, '', LIST_MAX, '')
      const names = page.objects.map(o => o.name).filter((n): n is string => n !== undefined)
      for (const name of names.filter(n => n.slice(n.lastIndexOf('/') + 1).startsWith('mpu-'))) {
        const res = await this.get(name)
        if (res === undefined) continue
        const { name: target, uploadId } = JSON.parse((await collect(this.watch(res, name))).toString('utf8')) as { name: string, uploadId: string }
        await this.client.abortMultipartUpload(this.bucket, target, uploadId).catch((err: unknown) => {
          if ((err as { code?: string }).code !== 'NoSuchUpload') throw err
        })
      }
      await this.removeNames(names)
      if (!page.isTruncated || page.nextContinuationToken === '') return
      token = page.nextContinuationToken
    }
  }

  private async removeAll (prefix: string): Promise<void> {
    for (let token = ''; ;) {
      const page = await this.client.listObjectsV2Query(this.bucket, prefix, token, '', LIST_MAX, '')
      const names = page.objects.map(o => o.name).filter((n): n is string => n !== undefined)
      await this.removeNames(names)
      if (!page.isTruncated || page.nextContinuationToken === '') return
      token = page.nextContinuationToken
    }
  }

  private async removeNames (names: string[]): Promise<void> {
    if (names.length === 0) return
    const results = await this.client.removeObjects(this.bucket, names)
    const failed = results.find(r => r?.Error !== undefined)
    if (failed?.Error !== undefined) throw new Error(`cannot delete ${failed.Error.Key ?? 'an object'}: ${failed.Error.Code ?? ''} ${failed.Error.Message ?? ''}`)
  }

  // ---- requests -----------------------------------------------------------------------------------------------

  /**
   * One S3 request. `idempotent` requests are retried once when a pooled keep-alive connection turns out
   * to have been closed by the server (ECONNRESET before any answer).
   */
  private async send (options: { method: string, objectName?: string, query?: string, headers?: Record<string, string> },
    payload: Buffer | string, codes: number[], idempotent = false): Promise<http.IncomingMessage> {
    const request = async (): Promise<http.IncomingMessage> =>
      await this.client.makeRequestAsync({ ...options, headers: { ...options.headers }, bucketName: this.bucket }, payload, codes)
    try {
      return await request()
    } catch (err) {
      if (!idempotent || !isStaleConnection(err)) throw err
      return await request()
    }
  }

  private async get (name: string, range?: { start: number, end: number }): Promise<http.IncomingMessage | undefined> {
    try {
      return await this.send({ method: 'GET', objectName: name, headers: range === undefined ? {} : { range: `bytes=${range.start}-${range.end}` } },
        '', [200, 206], true)
    } catch (err) {
      if (isMissing(err)) return undefined
      throw err
    }
  }

  private async head (name: string): Promise<Head | undefined> {
    let res: http.IncomingMessage
    try {
      res = await this.send({ method: 'HEAD', objectName: name }, '', [200], true)
    } catch (err) {
      if (isMissing(err)) return undefined
      throw err
    }
    drain(res)
    const staged = isStaged(res)
    return {
      size: Number(staged ? res.headers[SIZE_HEADER] : res.headers['content-length']),
      modifiedAt: new Date(res.headers['last-modified'] ?? 0),
      etag: etagOf(res.headers),
      staged
    }
  }

  private async put (name: string, data: Buffer): Promise<void> {
    drain(await this.send({ method: 'PUT', objectName: name, headers: { 'content-type': 'application/octet-stream' } }, data, [200]))
  }

  /** A conditional PUT. Returns the new version (ETag), or undefined when the condition did not hold. */
  private async putConditional (name: string, data: Buffer, headers: Record<string, string>): Promise<string | undefined> {
    try {
      const res = await this.send({ method: 'PUT', objectName: name, headers: { 'content-type': 'application/octet-stream', ...headers } }, data, [200])
      drain(res)
      return etagOf(res.headers)
    } catch (err) {
      const code = (err as { code?: string }).code
      // 412: the condition failed; 409: a concurrent conditional write won; 404: If-Match on a deleted key.
      if (code === 'PreconditionFailed' || code === 'ConditionalRequestConflict' || isMissing(err)) return undefined
      throw err
    }
  }

  private async deleteQuietly (name: string): Promise<void> {
    await this.send({ method: 'DELETE', objectName: name }, '', [204], true).then(drain, () => {})
  }

  /**
   * Passes a response body through, failing it when S3 sends nothing for `timeoutMs` while the reader is
   * waiting for data. A slow reader (backpressure) never trips it.
   */
  private watch (res: http.IncomingMessage, key: string): Readable {
    const out = new PassThrough({ highWaterMark: 256 * 1024 })
    let last = Date.now()
    const timer = setInterval(() => {
      if (out.writableNeedDrain || res.isPaused()) {
        last = Date.now()
      } else if (Date.now() - last > this.timeoutMs) {
        res.destroy(new StorageUnavailableError(this.name, `reading ${key}: no data from S3 for ${this.timeoutMs} ms`))
      }
    }, Math.max(50, Math.min(1000, this.timeoutMs / 4)))
    timer.unref()
    pipeline(res, out, err => {
      clearInterval(timer)
      if (err !== undefined && err !== null) out.destroy(this.translate(err, 'read', key) as Error)
    })
    res.on('data', () => { last = Date.now() })
    return out
  }

  private async guard<T> (operation: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw this.translate(err, operation, key)
    }
  }

  /** S3 outages, timeouts and refusals become StorageUnavailableError; everything else passes unchanged. */
  private translate (err: unknown, operation: string, key: string): unknown {
    if (err instanceof StorageUnavailableError || err instanceof NotFoundError ||
      err instanceof InvalidOffsetError || err instanceof InvalidKeyError) return err
    if (isUnavailable(err)) return new StorageUnavailableError(this.name, `${operation} ${key}: ${describe(err)}`, { cause: err })
    // The staging was deleted under a running append (cancelled or purged upload).
    if ((err as { code?: string }).code === 'NoSuchUpload') return new NotFoundError(key, this.name)
    return err
  }

  async presignedUrl (key: string, { expiresSeconds }: { expiresSeconds: number }): Promise<string> {
    return await this.presigner.presignedGetObject(this.bucket, objectName(key), expiresSeconds)
  }

  async close (): Promise<void> {
    this.agent.destroy()
  }
}

// ---- helpers ---------------------------------------------------------------------------------------------------

/** The object that holds `key`; validates the key as the filesystem driver does ('~' and '!' are reserved). */
function objectName (key: string): string {
  const segments = key.split('/')
  for (const segment of segments) {
    if (!KEY_SEGMENT.test(segment) || segment === '.' || segment === '..') throw new InvalidKeyError(key)
  }
  return key + NAME_SUFFIX
}

function assertPrefix (prefix: string): void {
  if (!prefix.endsWith('/')) throw new InvalidKeyError(prefix)
  objectName(prefix.slice(0, -1))
}

function stagingDir (key: string): string {
  return `${STAGING}${key}/`
}

function segmentName (key: string, id: string): string {
  return `${stagingDir(key)}seg-${id}${NAME_SUFFIX}`
}

function partSize (part: number): number {
  return Math.min(MAX_PART, BASE_PART * 2 ** Math.floor((part - 1) / 1000))
}

function copySource (bucket: string, name: string): string {
  return encodeURI(`/${bucket}/${name}`)
}

function isStaged (res: http.IncomingMessage): boolean {
  return res.headers[STAGED_HEADER] === '1'
}

function parseStaging (data: Buffer, key: string): StagingRecord {
  const record = JSON.parse(data.toString('utf8')) as StagingRecord
  if (!Number.isInteger(record.size) || !Array.isArray(record.segments)) throw new Error(`corrupt staging record at ${key}`)
  return record
}

function etagOf (headers: http.IncomingHttpHeaders): string {
  return (headers.etag ?? '').replace(/^"|"$/g, '')
}

function concurrent (key: string, offset: number): InvalidOffsetError {
  const err = new InvalidOffsetError(key, offset, offset)
  err.message = `cannot append at ${offset}: ${key} was changed by a concurrent append`
  return err
}

/** Copy and complete responses can be 200 with an <Error> body. */
function assertNoError (body: Buffer, key: string): void {
  const text = body.toString('utf8')
  if (text.includes('<Error>')) {
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? 'unknown'
    const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? ''
    throw Object.assign(new S3Error(`${key}: ${code} ${message}`), { code })
  }
}

function xmlField (body: Buffer, field: string, key: string): string {
  const value = new RegExp(`<${field}>([^<]*)</${field}>`).exec(body.toString('utf8'))?.[1]
  if (value === undefined) throw new Error(`${key}: S3 answer without ${field}`)
  return value.replace(/&quot;|&#34;|"/g, '')
}

function drain (res: http.IncomingMessage): void {
  res.resume()
}

async function collect (stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function isMissing (err: unknown): boolean {
  const code = (err as { code?: string }).code
  return code === 'NoSuchKey' || code === 'NotFound'
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET'])
const UNAVAILABLE_CODES = new Set(['SlowDown', 'InternalError', 'ServiceUnavailable', 'RequestTimeout', 'AccessDenied',
  'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'NoSuchBucket', 'RequestTimeTooSkewed', 'ExpiredToken'])

function isUnavailable (err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || UNAVAILABLE_CODES.has(code) || code.startsWith('XMinio'))) return true
  const message = (err as { message?: unknown }).message
  return err instanceof S3TimeoutError ||
    (typeof message === 'string' && (/Retryable HTTP status|socket hang up/.test(message) || message === 'aborted'))
}

function isServerStarting (err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  const message = (err as { message?: unknown }).message
  return code === 'XMinioServerNotInitialized' || code === 'SlowDown' ||
    (typeof message === 'string' && /Retryable HTTP status: 503/.test(message))
}

function isStaleConnection (err: unknown): boolean {
  const code = (err as { code?: string }).code
  return code === 'ECONNRESET' || code === 'EPIPE'
}

function describe (err: unknown): string {
  const code = (err as { code?: unknown }).code
  const message = err instanceof Error ? err.message : String(err)
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message
}

class S3TimeoutError extends Error {
  override readonly name = 'S3TimeoutError'
}

// ---- the transport: http(s).request with bounded idle timeouts ------------------------------------------------

type RequestFn = typeof http.request

/**
 * Wraps http(s).request for the minio client: every request fails after `timeoutMs` without a byte either
 * way (copies and multipart completion: SLOW_OPERATION_MS). Object GETs drop the socket timeout once the
 * answer starts, because their bodies are watched by S3Driver.watch, which does not count a slow reader.
 * Answers minio would discard (5xx) are drained so their sockets return to the pool.
 */
function timedTransport (base: { request: RequestFn }, timeoutMs: number): { request: RequestFn } {
  const request = (options: http.RequestOptions, callback?: (res: http.IncomingMessage) => void): http.ClientRequest => {
    const headers = (options.headers ?? {}) as Record<string, unknown>
    const path = options.path ?? ''
    const slow = headers['x-amz-copy-source'] !== undefined || (options.method === 'POST' && path.includes('uploadId='))
    const objectGet = options.method === 'GET' && !path.includes('?')
    const timeout = slow ? Math.max(SLOW_OPERATION_MS, timeoutMs) : timeoutMs
    const req = base.request({ ...options, timeout }, res => {
      if (objectGet) req.setTimeout(0)
      if ((res.statusCode ?? 0) >= 500) res.resume()
      callback?.(res)
    })
    req.on('timeout', () => {
      req.destroy(new S3TimeoutError(`no answer from S3 within ${timeout} ms (${options.method ?? 'GET'} ${path.split('?')[0] ?? ''})`))
    })
    return req
  }
  return { request: request as RequestFn }
}

/** A body read chunk by chunk, on demand; unlike `for await`, stopping early does not destroy it. */
interface Pull {
  next: () => Promise<Buffer | undefined>
}

function pull (body: Readable): Pull {
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  let done = false
  return {
    async next () {
      if (done) return undefined
      const result = await iterator.next()
      if (result.done === true) {
        done = true
        return undefined
      }
      return result.value
    }
  }
}
