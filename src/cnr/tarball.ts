// Package tarballs. One streaming pass gunzips the blob, hashes the uncompressed bytes (the CNR digest is
// sha256 of the tar, not of the gzip), checks that they form a tar archive, and keeps the chart's
// Chart.yaml (at the top level or one directory down) so that helm packages get their OCI config.
//
// Every pass is bounded: uncompressed bytes (a gzip bomb stops there), tar entries, and wall time, so that
// no request spends more than a known budget on an archive, whatever its bytes. Every stream of a pass has
// its errors handled: a truncated or corrupt archive is a TarballError, never an unhandled 'error' event.
import { createHash } from 'node:crypto'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'

// tar-stream and zlib load with the first package pushed or digested through the CNR API, not at start-up.
const loadTar = async (): Promise<typeof import('tar-stream')> => (await import('tar-stream')).default
const loadGunzip = async (): Promise<typeof import('node:zlib').createGunzip> => (await import('node:zlib')).createGunzip

/** Why a tarball was refused: not what it claims to be, or over one of the limits. */
export type TarballProblem = 'not-gzip' | 'not-tar' | 'too-large' | 'too-many-entries' | 'too-slow'

export class TarballError extends Error {
  override readonly name = 'TarballError'
  constructor (readonly problem: TarballProblem, message: string) {
    super(message)
  }
}

export interface TarballInfo {
  /** sha256 of the uncompressed tar, hex. */
  cnrDigest: string
  /** Text of the shallowest Chart.yaml, when there is one. */
  chartYaml?: string
}

export interface TarballLimits {
  /** The uncompressed tar may not be larger than this (a gzip bomb stops here). */
  maxUncompressedBytes: number
  /** The tar may not hold more entries than this. */
  maxEntries: number
  /** The whole pass may not take longer than this. */
  timeoutMs: number
  /** A Chart.yaml larger than this is ignored. */
  maxChartYamlBytes: number
}

const MiB = 1024 * 1024

/**
 * What one push may cost. helm itself refuses charts over 100 MiB uncompressed, so 256 MiB leaves room for
 * any real package while a bomb costs at most about a second of gunzip.
 */
export const DEFAULT_LIMITS: TarballLimits = {
  maxUncompressedBytes: 256 * MiB,
  maxEntries: 100_000,
  timeoutMs: 20_000,
  maxChartYamlBytes: MiB
}

/** Depth of a Chart.yaml entry (0: top level, 1: in the chart's directory), or undefined for any other entry. */
function chartYamlDepth (entryName: string): number | undefined {
  const parts = entryName.replace(/^(?:\.\/)+/, '').split('/').filter(p => p !== '')
  if (parts.at(-1) !== 'Chart.yaml' || parts.length > 2) return undefined
  return parts.length - 1
}

/** Counts and hashes what passes, failing past the size limit. */
class Meter extends Transform {
  readonly hash = createHash('sha256')
  bytes = 0
  constructor (private readonly limit: number) {
    super()
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length
    if (this.bytes > this.limit) {
      callback(new TarballError('too-large', `the uncompressed tar is larger than ${this.limit} bytes`))
      return
    }
    this.hash.update(chunk)
    callback(null, chunk)
  }
}

const isZlibError = (err: unknown): boolean => (err as { code?: string } | null)?.code?.startsWith('Z_') === true
const isAbort = (err: unknown): boolean => (err as { name?: string } | null)?.name === 'AbortError'
const tooSlow = (ms: number): TarballError => new TarballError('too-slow', `reading the archive took longer than ${ms} ms`)

/** Reads a gzipped tar within `limits`. Throws TarballError when it is not one, or is over a limit. */
export async function inspectTarball (source: Readable, limits: TarballLimits = DEFAULT_LIMITS): Promise<TarballInfo> {
  const [tar, createGunzip] = await Promise.all([loadTar(), loadGunzip()])
  const meter = new Meter(limits.maxUncompressedBytes)
  const extract = tar.extract()
  let chartYaml: string | undefined
  let chartDepth = Number.POSITIVE_INFINITY
  let entries = 0
  extract.on('entry', (header, stream, next) => {
    // The pipeline reports the failure; an entry stream destroyed with it must not throw it again.
    stream.on('error', () => {})
    if (++entries > limits.maxEntries) {
      extract.destroy(new TarballError('too-many-entries', `the tar holds more than ${limits.maxEntries} entries`))
      return
    }
    const depth = chartYamlDepth(header.name)
    const wanted = header.type === 'file' && depth !== undefined && depth < chartDepth && (header.size ?? 0) <= limits.maxChartYamlBytes
    if (!wanted) {
      stream.on('end', next).resume()
      return
    }
    const chunks: Buffer[] = []
    stream.on('data', (chunk: unknown) => { chunks.push(chunk as Buffer) })
    stream.on('end', () => {
      chartYaml = Buffer.concat(chunks).toString('utf8')
      chartDepth = depth
      next()
    })
  })
  let stage = 'gzip'
  const gunzip = createGunzip()
  gunzip.once('end', () => { stage = 'tar' })
  try {
    await pipeline(source, gunzip, meter, extract, { signal: AbortSignal.timeout(limits.timeoutMs) })
  } catch (err) {
    if (err instanceof TarballError) throw err
    if (isAbort(err)) throw tooSlow(limits.timeoutMs)
    const why = (err as Error).message
    if (stage === 'gzip' && isZlibError(err)) {
      throw new TarballError('not-gzip', `the blob is not gzip-compressed data, or it is truncated or corrupt (${why})`)
    }
    throw new TarballError('not-tar', `the blob is not a gzip-compressed tar archive, or it is truncated (${why})`)
  }
  return { cnrDigest: meter.hash.digest('hex'), chartYaml }
}

/** What computing one CNR digest may cost (the gunzip of a stored blob: no tar parsing). */
export type DigestLimits = Pick<TarballLimits, 'maxUncompressedBytes' | 'timeoutMs'>

/**
 * The CNR digest of a stored blob: sha256 of its gunzipped bytes; or, for a blob that is not gzip (an OCI
 * artifact pushed by another client) or that gunzips past `maxUncompressedBytes` (a bomb, which no one can
 * unpack anyway), sha256 of the blob itself, which is its OCI digest and which pulls by digest also accept.
 * Both answers depend on the bytes alone. Undefined when the time ran out first: the caller may try again
 * later. `open` is called once, or twice when the blob must be hashed as it is and its digest is not sha256.
 */
export async function cnrDigestOf (open: () => Promise<Readable>, blobDigest: string, limits: DigestLimits = DEFAULT_LIMITS): Promise<string | undefined> {
  const deadline = Date.now() + limits.timeoutMs
  const createGunzip = await loadGunzip()
  const meter = new Meter(limits.maxUncompressedBytes)
  try {
    await pipeline(await open(), createGunzip(), meter, async function * (source) { for await (const _ of source) { /* drain */ } },
      { signal: AbortSignal.timeout(limits.timeoutMs) })
    return meter.hash.digest('hex')
  } catch (err) {
    if (isAbort(err)) return undefined
    if (!isZlibError(err) && !(err instanceof TarballError && err.problem === 'too-large')) throw err
  }
  const sha256 = /^sha256:([a-f0-9]{64})$/.exec(blobDigest)
  if (sha256 !== null) return sha256[1]
  const raw = createHash('sha256')
  try {
    await pipeline(await open(), async function * (source) { for await (const chunk of source) raw.update(chunk as Buffer) },
      { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) })
  } catch (err) {
    if (isAbort(err)) return undefined
    throw err
  }
  return raw.digest('hex')
}
