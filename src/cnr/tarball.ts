// Package tarballs. One streaming pass gunzips the blob, hashes the uncompressed bytes (the CNR digest is
// sha256 of the tar, not of the gzip), checks that they form a tar archive, and keeps the chart's
// Chart.yaml (at the top level or one directory down) so that helm packages get their OCI config.
import { createHash } from 'node:crypto'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'

export class TarballError extends Error {
  override readonly name = 'TarballError'
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
  /** A Chart.yaml larger than this is ignored. */
  maxChartYamlBytes: number
}

const DEFAULT_LIMITS: TarballLimits = { maxUncompressedBytes: 1024 * 1024 * 1024, maxChartYamlBytes: 1024 * 1024 }

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
      callback(new TarballError(`the uncompressed tar is larger than ${this.limit} bytes`))
      return
    }
    this.hash.update(chunk)
    callback(null, chunk)
  }
}

/** Reads a gzipped tar. Throws TarballError when it is not one. */
export async function inspectTarball (source: Readable, limits: TarballLimits = DEFAULT_LIMITS): Promise<TarballInfo> {
  const meter = new Meter(limits.maxUncompressedBytes)
  const extract = tar.extract()
  let chartYaml: string | undefined
  let chartDepth = Number.POSITIVE_INFINITY
  extract.on('entry', (header, stream, next) => {
    const depth = chartYamlDepth(header.name)
    const wanted = header.type === 'file' && depth !== undefined && depth < chartDepth && (header.size ?? 0) <= limits.maxChartYamlBytes
    const chunks: Buffer[] = []
    stream.on('data', (chunk: unknown) => { if (wanted) chunks.push(chunk as Buffer) })
    stream.on('end', () => {
      if (wanted && depth !== undefined) {
        chartYaml = Buffer.concat(chunks).toString('utf8')
        chartDepth = depth
      }
      next()
    })
  })
  let stage = 'gzip'
  const gunzip = createGunzip()
  gunzip.once('end', () => { stage = 'tar' })
  try {
    await pipeline(source, gunzip, meter, extract)
  } catch (err) {
    if (err instanceof TarballError) throw err
    const why = (err as Error).message
    if (stage === 'gzip' && (err as { code?: string }).code?.startsWith('Z_') === true) {
      throw new TarballError(`the blob is not gzip-compressed data (${why})`)
    }
    throw new TarballError(`the blob is not a gzip-compressed tar archive (${why})`)
  }
  return { cnrDigest: meter.hash.digest('hex'), chartYaml }
}

/**
 * The CNR digest of any stored blob: sha256 of its gunzipped bytes, or, for a blob that is not gzip
 * (an OCI artifact pushed by another client), sha256 of the blob itself. `open` is called once or twice.
 */
export async function cnrDigestOf (open: () => Promise<Readable>): Promise<string> {
  const meter = new Meter(Number.POSITIVE_INFINITY)
  try {
    await pipeline(await open(), createGunzip(), meter, async function * (source) { for await (const _ of source) { /* drain */ } })
    return meter.hash.digest('hex')
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('Z_') !== true) throw err
  }
  const raw = createHash('sha256')
  for await (const chunk of await open()) raw.update(chunk as Buffer)
  return raw.digest('hex')
}
