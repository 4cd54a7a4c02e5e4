// Streaming uploads and server-side composition over S3 multipart uploads.
//
// Uploads. A body streams into an object through multipart parts rebuffered to at least 8 MiB (S3 wants
// 5 MiB), with one part in flight while the next one fills, so a blob is never held in memory.
//
// Compose. An object is made the concatenation of others on the server: UploadPartCopy of every source, in
// ranges of at most 64 MiB (so also above 5 GiB), then CompleteMultipartUpload. No byte goes back through
// Berth. A single small source is copied with CopyObject.
//
// Cleanup. Each multipart upload started here is announced by a marker object in a staging area
// (`~staging/<key>/mpu-<id>!`, holding the upload id). `sweepStaging` aborts the multipart uploads named by
// the markers under a prefix and deletes everything there, so no orphaned parts stay behind. A process that
// crashes mid-upload (before its marker is written, or before anything sweeps its staging area) leaves its
// multipart upload behind anyway: garbage collection aborts those once they are older than its grace period
// (S3Driver.abandonedWrites), with their markers.
import { randomUUID } from 'node:crypto'
import { assertNoError, collect, etagOf, drain, xmlField, type Part, type S3Client } from './client.js'
import { composeName, isMarker, markerName } from './layout.js'

const MiB = 1024 * 1024
/** S3's smallest part (all parts but the last). */
export const MIN_PART = 5 * MiB
/** Parts we upload: 8 MiB, doubling every 1000 parts so 10 000 parts reach past 1 TiB. */
const BASE_PART = 8 * MiB
const MAX_PART = 1024 * MiB
/** Bodies up to this size go up in one PUT (the memory two parts in flight would take anyway). */
const SINGLE_PUT_MAX = 2 * BASE_PART
const MAX_PARTS = 10_000
/** Largest range copied by one UploadPartCopy, and largest object moved with a single CopyObject. */
const COPY_PART = 64 * MiB
const COPY_CONCURRENCY = 4
export const LIST_MAX = 1000

interface MultipartUpload {
  name: string
  uploadId: string
  marker: string | undefined
}

/** A source of `compose`: the first `size` bytes of the object `name` (`whole` when that is all of it). */
export interface ComposeSource {
  name: string
  size: number
  whole: boolean
}

/**
 * Streams `source` into the object `name`: a single PUT up to SINGLE_PUT_MAX, otherwise a multipart upload
 * of rebuffered parts, with at most one part in flight while the next one fills. Returns the size.
 */
export async function upload (s3: S3Client, name: string, source: AsyncIterable<Buffer>, markerDir: string): Promise<number> {
  const pending: Buffer[] = []
  let pendingBytes = 0
  let total = 0
  let multipart: MultipartUpload | undefined
  const parts: Part[] = []
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
    const res = await s3.send({ method: 'PUT', objectName: name, query: `partNumber=${part}&uploadId=${encodeURIComponent(upload.uploadId)}` }, data, [200])
    drain(res)
    parts.push({ part, etag: etagOf(res.headers) })
  }
  // The body can arrive slowly: a part that fails while the next one fills ends the upload at once.
  const iterator = source[Symbol.asyncIterator]()
  let failed: Promise<never> | undefined
  try {
    for (;;) {
      const next = iterator.next()
      if (failed !== undefined) next.catch(() => {}) // left behind when the part in flight fails first
      const result = await (failed === undefined ? next : Promise.race([next, failed]))
      if (result.done === true) break
      const chunk = result.value
      if (chunk.length === 0) continue
      pending.push(chunk)
      pendingBytes += chunk.length
      total += chunk.length
      if (multipart === undefined && pendingBytes <= SINGLE_PUT_MAX) continue
      multipart ??= await startMultipart(s3, name, markerDir)
      while (pendingBytes >= partSize(partNumber)) {
        const data = take(partSize(partNumber))
        if (inflight !== undefined) await inflight
        if (partNumber > MAX_PARTS) throw new Error(`${name}: more than ${MAX_PARTS} parts`)
        inflight = send(data, partNumber++, multipart)
        inflight.catch(() => {}) // observed when awaited
        failed = inflight.then(async () => await new Promise<never>(() => {}))
        failed.catch(() => {})
      }
    }
    if (inflight !== undefined) await inflight
    if (multipart === undefined) {
      await s3.put(name, take(pendingBytes))
      return total
    }
    if (pendingBytes > 0) await send(take(pendingBytes), partNumber++, multipart)
    await completeMultipart(s3, multipart, parts)
    return total
  } catch (err) {
    void iterator.return?.()?.catch(() => {}) // as `for await` would: a stream source is destroyed
    if (inflight !== undefined) await inflight.catch(() => {})
    if (multipart !== undefined) await abortMultipart(s3, multipart)
    throw err
  }
}

/**
 * Makes `target` the concatenation of `sources` on the server. Every source but the last must be at least
 * 5 MiB. Sources are copied in ranges of at most 64 MiB; more than 10 000 ranges compose in two levels.
 */
export async function compose (s3: S3Client, sources: ComposeSource[], target: string, markerDir: string): Promise<void> {
  const total = sources.reduce((sum, s) => sum + s.size, 0)
  const only = sources[0]
  if (total === 0) {
    await s3.put(target, Buffer.alloc(0))
    return
  }
  if (sources.length === 1 && only !== undefined && only.whole && only.size <= COPY_PART) {
    const res = await s3.send({ method: 'PUT', objectName: target, headers: { 'x-amz-copy-source': s3.copySource(only.name) } }, '', [200])
    assertNoError(await collect(s3.watch(res, target)), target)
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
    await composeInGroups(s3, sources, target, markerDir)
    return
  }
  const multipart = await startMultipart(s3, target, markerDir)
  try {
    const parts = new Array<Part>(ranges.length)
    let nextIndex = 0
    const worker = async (): Promise<void> => {
      for (let i = nextIndex++; i < ranges.length; i = nextIndex++) {
        const range = ranges[i] as (typeof ranges)[number]
        const res = await s3.send({
          method: 'PUT',
          objectName: target,
          query: `partNumber=${i + 1}&uploadId=${encodeURIComponent(multipart.uploadId)}`,
          headers: {
            'x-amz-copy-source': s3.copySource(range.name),
            'x-amz-copy-source-range': `bytes=${range.start}-${range.end}`
          }
        }, '', [200])
        const body = await collect(s3.watch(res, target))
        assertNoError(body, target)
        parts[i] = { part: i + 1, etag: xmlField(body, 'ETag', target) }
      }
    }
    await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, ranges.length) }, worker))
    await completeMultipart(s3, multipart, parts)
  } catch (err) {
    await abortMultipart(s3, multipart)
    throw err
  }
}

/** Composes groups of sources into intermediate objects first, then those. */
async function composeInGroups (s3: S3Client, sources: ComposeSource[], target: string, markerDir: string): Promise<void> {
  const groups: ComposeSource[][] = []
  let group: ComposeSource[] = []
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
  const intermediates: ComposeSource[] = []
  try {
    for (const g of groups) {
      const name = composeName(markerDir, randomUUID())
      await compose(s3, g, name, markerDir)
      intermediates.push({ name, size: g.reduce((sum, s) => sum + s.size, 0), whole: true })
    }
    await compose(s3, intermediates, target, markerDir)
  } finally {
    for (const i of intermediates) await s3.deleteQuietly(i.name)
  }
}

async function startMultipart (s3: S3Client, name: string, markerDir: string): Promise<MultipartUpload> {
  const uploadId = await s3.initiateMultipart(name)
  const marker = markerName(markerDir, randomUUID())
  const upload = { name, uploadId, marker }
  try {
    await s3.put(marker, Buffer.from(JSON.stringify({ name, uploadId })))
  } catch (err) {
    await abortMultipart(s3, { ...upload, marker: undefined })
    throw err
  }
  return upload
}

async function completeMultipart (s3: S3Client, upload: MultipartUpload, parts: Part[]): Promise<void> {
  parts.sort((a, b) => a.part - b.part)
  await s3.completeMultipart(upload.name, upload.uploadId, parts)
  if (upload.marker !== undefined) await s3.deleteQuietly(upload.marker)
}

/** Aborts quietly: a failure here must not hide the error that led to it; markers let a sweep retry. */
async function abortMultipart (s3: S3Client, upload: MultipartUpload): Promise<void> {
  try {
    await s3.abortMultipart(upload.name, upload.uploadId)
  } catch (err) {
    if ((err as { code?: string }).code !== 'NoSuchUpload') return // keep the marker for the next sweep
  }
  if (upload.marker !== undefined) await s3.deleteQuietly(upload.marker)
}

/** Aborts the multipart uploads announced under a staging prefix and deletes everything there. */
export async function sweepStaging (s3: S3Client, prefix: string): Promise<void> {
  for (let token = ''; ;) {
    const page = await s3.listPage(prefix, token, LIST_MAX)
    for (const name of page.names.filter(isMarker)) {
      const res = await s3.get(name)
      if (res === undefined) continue
      const { name: target, uploadId } = JSON.parse((await collect(s3.watch(res, name))).toString('utf8')) as { name: string, uploadId: string }
      await s3.abortMultipart(target, uploadId).catch((err: unknown) => {
        if ((err as { code?: string }).code !== 'NoSuchUpload') throw err
      })
    }
    await s3.removeNames(page.names)
    if (page.next === undefined) return
    token = page.next
  }
}

/** Deletes the marker of a multipart upload that was aborted without it (garbage collection's sweep). */
export async function forgetMarker (s3: S3Client, markerDir: string, uploadId: string): Promise<void> {
  for (let token = ''; ;) {
    const page = await s3.listPage(`${markerDir}mpu-`, token, LIST_MAX)
    for (const name of page.names) {
      const res = await s3.get(name)
      if (res === undefined) continue
      const marker = JSON.parse((await collect(s3.watch(res, name))).toString('utf8')) as { uploadId: string }
      if (marker.uploadId === uploadId) {
        await s3.deleteQuietly(name)
        return
      }
    }
    if (page.next === undefined) return
    token = page.next
  }
}

/** Deletes every object under a prefix. */
export async function removeAll (s3: S3Client, prefix: string): Promise<void> {
  for (let token = ''; ;) {
    const page = await s3.listPage(prefix, token, LIST_MAX)
    await s3.removeNames(page.names)
    if (page.next === undefined) return
    token = page.next
  }
}

function partSize (part: number): number {
  return Math.min(MAX_PART, BASE_PART * 2 ** Math.floor((part - 1) / 1000))
}
