// Append staging. S3 has no append, so an appended key (an upload's data) is a small JSON *staging record*
// stored under the key itself (marked by `x-amz-meta-berth-staged`), listing *segments*: ordinary objects
// in the key's staging area. Each append streams its body into one new segment (multipart.ts `upload`), then
// swaps the record with a conditional write. Every segment but the last is at least 5 MiB; a smaller tail
// (tiny client chunks) is carried into the next append's segment. An append from an earlier offset keeps
// the segments before it (a segment cut at the offset stays as a view of its first bytes, or is carried when
// that part is under 5 MiB). An append that fails leaves the previous record, and so the previous data,
// untouched.
import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import { InvalidOffsetError, NotFoundError } from '../../driver.js'
import { DRIVER_NAME, collect, drain, etagOf, type S3Client } from './client.js'
import { SIZE_HEADER, STAGED_HEADER, isStaged, objectName, segmentName, stagingDir } from './layout.js'
import { MIN_PART, upload, type ComposeSource } from './multipart.js'

interface Segment {
  id: string
  /** Bytes of the segment that belong to the staged data (a prefix of the object). */
  size: number
  /** Bytes in the segment object. */
  stored: number
}

export interface StagingRecord {
  size: number
  segments: Segment[]
}

export interface Staging {
  record: StagingRecord
  etag: string
}

/** Appends `input` to the staged `key` at `offset`; returns the staged size. */
export async function appendStaged (s3: S3Client, key: string, offset: number, input: Pull): Promise<number> {
  let staging = await readStaging(s3, key)
  if (staging === undefined) {
    const head = await s3.head(objectName(key))
    if (offset > 0) throw new InvalidOffsetError(key, offset, 0)
    // Write the empty record before any byte, so that the staging is visible (to the expiry purge and
    // to deletePrefix) while its first segment streams.
    const empty: StagingRecord = { size: 0, segments: [] }
    const etag = await putRecord(s3, key, empty, head === undefined ? { 'if-none-match': '*' } : { 'if-match': `"${head.etag}"` })
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
    const carried = carry
    const source = (async function * () {
      if (carried !== undefined && carried.length > 0) {
        yield * rangeBytes(s3, segmentName(key, carried.segment.id), key, { start: 0, end: carried.length - 1 })
      }
      yield first
      for (let chunk = await input.next(); chunk !== undefined; chunk = await input.next()) yield chunk
    })()
    const stored = await upload(s3, created, source, stagingDir(key))
    segments = [...kept, { id, size: stored, stored }]
  }
  const next: StagingRecord = { size: segments.reduce((sum, s) => sum + s.size, 0), segments }
  // A failed record write may still have landed (S3 timed out after storing it), so its new segment stays
  // for the sweep of the staging area; only a refused condition proves it unused.
  const written = await putRecord(s3, key, next, { 'if-match': `"${etag}"` })
  if (written === undefined) {
    if (created !== undefined) await s3.deleteQuietly(created)
    throw concurrent(key, offset)
  }
  // Segments the new record no longer names (a merged tail, data past the offset) can go.
  const live = new Set(segments.map(s => s.id))
  for (const segment of record.segments) {
    if (!live.has(segment.id)) await s3.deleteQuietly(segmentName(key, segment.id))
  }
  return next.size
}

/** The staging record of `key`, or undefined when the key is missing or a plain object. */
export async function readStaging (s3: S3Client, key: string): Promise<Staging | undefined> {
  const res = await s3.get(objectName(key))
  if (res === undefined) return undefined
  if (!isStaged(res)) {
    drain(res)
    return undefined
  }
  return { record: parseStaging(await collect(s3.watch(res, key)), key), etag: etagOf(res.headers) }
}

export function parseStaging (data: Buffer, key: string): StagingRecord {
  const record = JSON.parse(data.toString('utf8')) as StagingRecord
  if (!Number.isInteger(record.size) || !Array.isArray(record.segments)) throw new Error(`corrupt staging record at ${key}`)
  return record
}

/** The segments of a staged key as sources for `compose`, in order. */
export function segmentSources (key: string, record: StagingRecord): ComposeSource[] {
  return record.segments.map(s => ({ name: segmentName(key, s.id), size: s.size, whole: s.size === s.stored }))
}

async function putRecord (s3: S3Client, key: string, record: StagingRecord, condition: Record<string, string>): Promise<string | undefined> {
  return await s3.putConditional(objectName(key), Buffer.from(JSON.stringify(record)), {
    ...condition,
    'content-type': 'application/json',
    [STAGED_HEADER]: '1',
    [SIZE_HEADER]: String(record.size)
  })
}

/** The bytes [range.start, range.end] of a staged key, segment after segment. */
export async function * stagedBytes (s3: S3Client, key: string, record: StagingRecord, range: { start: number, end: number }): AsyncGenerator<Buffer> {
  let position = 0
  for (const segment of record.segments) {
    const start = Math.max(range.start, position)
    const end = Math.min(range.end, position + segment.size - 1)
    if (start <= end) yield * rangeBytes(s3, segmentName(key, segment.id), key, { start: start - position, end: end - position })
    position += segment.size
    if (position > range.end) return
  }
}

async function * rangeBytes (s3: S3Client, name: string, key: string, range: { start: number, end: number }): AsyncGenerator<Buffer> {
  const res = await s3.get(name, range)
  if (res === undefined) throw new NotFoundError(key, DRIVER_NAME) // deleted under us (cancelled upload)
  for await (const chunk of s3.watch(res, key)) yield chunk as Buffer
}

function concurrent (key: string, offset: number): InvalidOffsetError {
  const err = new InvalidOffsetError(key, offset, offset)
  err.message = `cannot append at ${offset}: ${key} was changed by a concurrent append`
  return err
}

/** A body read chunk by chunk, on demand; unlike `for await`, stopping early does not destroy it. */
export interface Pull {
  next: () => Promise<Buffer | undefined>
}

export function pull (body: Readable): Pull {
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
