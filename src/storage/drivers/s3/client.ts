// The S3 request layer over the `minio` client: one bucket, bounded idle timeouts, conditional writes,
// watched response bodies, and the classification of S3 failures into the driver's errors.
//
// Faults. Every request has a bounded idle timeout: no bytes either way for `timeoutMs`. Copies and
// multipart completion may stay silent for longer, but only while S3 answers a probe on another connection,
// so a hung S3 fails them within `timeoutMs` too. Streamed reads have the same bound on waiting for S3, but
// never on a slow reader. Once a request has timed out, S3 counts as unresponsive until it answers again
// (a probe polls it): meanwhile requests get a short timeout, so that no caller waits a whole timeout again
// for each request that follows (cleanups included), and the first answer ends the state.
// Unreachable, failing or timed-out S3 requests throw StorageUnavailableError (503 upstream). Nothing else
// is cached, so the driver recovers by itself when S3 returns.
import http from 'node:http'
import https from 'node:https'
import { PassThrough, pipeline, type Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client, S3Error, type IncompleteUploadedBucketItem } from 'minio'
import type { S3Config } from '../../../config.js'
import { InvalidKeyError, InvalidOffsetError, NotFoundError, StorageUnavailableError } from '../../driver.js'
import { SIZE_HEADER, isStaged } from './layout.js'

export const DRIVER_NAME = 's3'
/** Copies and multipart completion may legitimately take a while without a byte on the wire, while S3 answers. */
const SLOW_OPERATION_MS = 120_000
/** Pause between probes of an unresponsive S3 that refuses connections. */
const PROBE_INTERVAL_MS = 250
/** The idle timeout of requests to an unresponsive S3: long enough for a server that has just woken up. */
const SUSPECT_TIMEOUT_MS = { min: 500, max: 1000 }

/** What the driver needs of the S3 configuration (src/config.ts documents each field). */
export type S3DriverOptions = Pick<S3Config, 'endpoint' | 'accessKey' | 'secretKey' | 'bucket' | 'region' | 'timeoutMs' | 'publicEndpoint'>

export interface Head {
  size: number
  modifiedAt: Date
  etag: string
  staged: boolean
}

export interface Part {
  part: number
  etag: string
}

interface RequestOptions {
  method: string
  objectName?: string
  query?: string
  headers?: Record<string, string>
}

/** Requests to one bucket. */
export class S3Client {
  readonly bucket: string
  readonly region: string
  readonly endpoint: string
  readonly timeoutMs: number
  private readonly client: Client
  private readonly presigner: Client
  private readonly agent: http.Agent
  private readonly liveness: Liveness

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
    this.liveness = new Liveness(secure ? https : http, url)
    this.client = this.makeClient(url, options, timedTransport(secure ? https : http, options.timeoutMs, this.liveness))
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

  async bucketExists (): Promise<boolean> {
    return await this.client.bucketExists(this.bucket)
  }

  async makeBucket (): Promise<void> {
    await this.client.makeBucket(this.bucket, this.region)
  }

  /**
   * One S3 request. `idempotent` requests are retried once when a pooled keep-alive connection turns out
   * to have been closed by the server (ECONNRESET before any answer).
   */
  async send (options: RequestOptions, payload: Buffer | string, codes: number[], idempotent = false): Promise<http.IncomingMessage> {
    const request = async (): Promise<http.IncomingMessage> =>
      await this.client.makeRequestAsync({ ...options, headers: { ...options.headers }, bucketName: this.bucket }, payload, codes)
    try {
      return await request()
    } catch (err) {
      if (!idempotent || !isStaleConnection(err)) throw err
      return await request()
    }
  }

  async get (name: string, range?: { start: number, end: number }): Promise<http.IncomingMessage | undefined> {
    try {
      return await this.send({ method: 'GET', objectName: name, headers: range === undefined ? {} : { range: `bytes=${range.start}-${range.end}` } },
        '', [200, 206], true)
    } catch (err) {
      if (isMissing(err)) return undefined
      throw err
    }
  }

  async head (name: string): Promise<Head | undefined> {
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

  async put (name: string, data: Buffer): Promise<void> {
    drain(await this.send({ method: 'PUT', objectName: name, headers: { 'content-type': 'application/octet-stream' } }, data, [200]))
  }

  /** A conditional PUT. Returns the new version (ETag), or undefined when the condition did not hold. */
  async putConditional (name: string, data: Buffer, headers: Record<string, string>): Promise<string | undefined> {
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

  async delete (name: string): Promise<void> {
    drain(await this.send({ method: 'DELETE', objectName: name }, '', [204], true))
  }

  async deleteQuietly (name: string): Promise<void> {
    await this.send({ method: 'DELETE', objectName: name }, '', [204], true).then(drain, () => {})
  }

  /** One ListObjectsV2 page of object names. */
  async listPage (prefix: string, token: string, max: number, startAfter = ''): Promise<{ names: string[], truncated: boolean, next: string | undefined }> {
    const page = await this.client.listObjectsV2Query(this.bucket, prefix, token, '', max, startAfter)
    const names = page.objects.map(o => o.name).filter((n): n is string => n !== undefined)
    const next = page.isTruncated && page.nextContinuationToken !== '' ? page.nextContinuationToken : undefined
    return { names, truncated: page.isTruncated, next }
  }

  async removeNames (names: string[]): Promise<void> {
    if (names.length === 0) return
    const results = await this.client.removeObjects(this.bucket, names)
    const failed = results.find(r => r?.Error !== undefined)
    if (failed?.Error !== undefined) throw new Error(`cannot delete ${failed.Error.Key ?? 'an object'}: ${failed.Error.Code ?? ''} ${failed.Error.Message ?? ''}`)
  }

  async initiateMultipart (name: string): Promise<string> {
    return await this.client.initiateNewMultipartUpload(this.bucket, name, {})
  }

  async completeMultipart (name: string, uploadId: string, parts: Part[]): Promise<void> {
    await this.client.completeMultipartUpload(this.bucket, name, uploadId, parts)
  }

  async abortMultipart (name: string, uploadId: string): Promise<void> {
    await this.client.abortMultipartUpload(this.bucket, name, uploadId)
  }

  /**
   * Every multipart upload open in the bucket, with the bytes of the parts it holds; the client lists them a
   * page (1000) at a time. An upload whose store reports no initiation time is left out (its age is unknown).
   */
  async * incompleteUploads (): AsyncGenerator<{ name: string, uploadId: string, initiated: Date, size: number }> {
    // The client's items also carry ListMultipartUploads' `initiated`, which its type leaves out.
    const uploads = this.client.listIncompleteUploads(this.bucket, '', true) as AsyncIterable<IncompleteUploadedBucketItem & { initiated?: Date }>
    for await (const upload of uploads) {
      if (upload.initiated instanceof Date && !Number.isNaN(upload.initiated.getTime())) {
        yield { name: upload.key, uploadId: upload.uploadId, initiated: upload.initiated, size: upload.size }
      }
    }
  }

  /** The value of `x-amz-copy-source` for an object of this bucket. */
  copySource (name: string): string {
    return encodeURI(`/${this.bucket}/${name}`)
  }

  /**
   * Passes a response body through, failing it when S3 sends nothing for `timeoutMs` while the reader is
   * waiting for data. A slow reader (backpressure) never trips it.
   */
  watch (res: http.IncomingMessage, key: string): Readable {
    const out = new PassThrough({ highWaterMark: 256 * 1024 })
    let last = Date.now()
    const timer = setInterval(() => {
      if (out.writableNeedDrain || res.isPaused()) {
        last = Date.now()
      } else if (Date.now() - last > this.timeoutMs) {
        this.liveness.unresponsive(this.timeoutMs)
        res.destroy(new StorageUnavailableError(DRIVER_NAME, `reading ${key}: no data from S3 for ${this.timeoutMs} ms`))
      }
    }, Math.max(50, Math.min(1000, this.timeoutMs / 4)))
    timer.unref()
    pipeline(res, out, err => {
      clearInterval(timer)
      if (err !== undefined && err !== null) out.destroy(translate(err, 'read', key) as Error)
    })
    res.on('data', () => { last = Date.now() })
    return out
  }

  async presignedGet (name: string, expiresSeconds: number): Promise<string> {
    return await this.presigner.presignedGetObject(this.bucket, name, expiresSeconds)
  }

  close (): void {
    this.liveness.close()
    this.agent.destroy()
  }
}

// ---- errors ----------------------------------------------------------------------------------------------------

export async function guard<T> (operation: string, key: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw translate(err, operation, key)
  }
}

/** S3 outages, timeouts and refusals become StorageUnavailableError; everything else passes unchanged. */
export function translate (err: unknown, operation: string, key: string): unknown {
  if (err instanceof StorageUnavailableError || err instanceof NotFoundError ||
    err instanceof InvalidOffsetError || err instanceof InvalidKeyError) return err
  if (isUnavailable(err)) return new StorageUnavailableError(DRIVER_NAME, `${operation} ${key}: ${describe(err)}`, { cause: err })
  // The staging was deleted under a running append (cancelled or purged upload).
  if ((err as { code?: string }).code === 'NoSuchUpload') return new NotFoundError(key, DRIVER_NAME)
  return err
}

/** Copy and complete responses can be 200 with an <Error> body. */
export function assertNoError (body: Buffer, key: string): void {
  const text = body.toString('utf8')
  if (text.includes('<Error>')) {
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? 'unknown'
    const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? ''
    throw Object.assign(new S3Error(`${key}: ${code} ${message}`), { code })
  }
}

export function xmlField (body: Buffer, field: string, key: string): string {
  const value = new RegExp(`<${field}>([^<]*)</${field}>`).exec(body.toString('utf8'))?.[1]
  if (value === undefined) throw new Error(`${key}: S3 answer without ${field}`)
  return value.replace(/&quot;|&#34;|"/g, '')
}

export function etagOf (headers: http.IncomingHttpHeaders): string {
  return (headers.etag ?? '').replace(/^"|"$/g, '')
}

export function drain (res: http.IncomingMessage): void {
  res.resume()
}

export async function collect (stream: Readable): Promise<Buffer> {
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

export function isServerStarting (err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  const message = (err as { message?: unknown }).message
  return code === 'XMinioServerNotInitialized' || code === 'SlowDown' ||
    (typeof message === 'string' && /Retryable HTTP status: 503/.test(message))
}

function isStaleConnection (err: unknown): boolean {
  const code = (err as { code?: string }).code
  return code === 'ECONNRESET' || code === 'EPIPE'
}

export function describe (err: unknown): string {
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
 * Whether S3 answers at all. After a timeout S3 counts as unresponsive, and a probe polls it until it answers
 * again: an unsigned HEAD on a fresh connection, where any HTTP status counts as an answer.
 */
class Liveness {
  private down = false
  private closed = false
  private readonly probes = new Set<http.ClientRequest>()

  constructor (private readonly base: { request: RequestFn }, private readonly endpoint: URL) {}

  get isDown (): boolean {
    return this.down
  }

  /** S3 answered a request. */
  answered (): void {
    this.down = false
  }

  /** A request got no answer for `timeoutMs`: S3 is unresponsive until it answers a request or a probe. */
  unresponsive (timeoutMs: number): void {
    if (this.down || this.closed) return
    this.down = true
    void (async () => {
      while (this.down && !this.closed) {
        if (await this.answers(timeoutMs)) this.down = false
        else if (!this.closed) await sleep(PROBE_INTERVAL_MS, undefined, { ref: false })
      }
    })()
  }

  /** Whether S3 answers one probe within `timeoutMs`. */
  async answers (timeoutMs: number): Promise<boolean> {
    if (this.closed) return false
    return await new Promise(resolve => {
      const req = this.base.request(new URL('/', this.endpoint), { method: 'HEAD', agent: false, timeout: timeoutMs }, res => {
        res.resume()
        resolve(true)
      })
      this.probes.add(req)
      req.on('timeout', () => { req.destroy() })
      req.on('error', () => { resolve(false) })
      req.on('close', () => {
        this.probes.delete(req)
        resolve(false) // no-op after an answer
      })
      req.end()
    })
  }

  close (): void {
    this.closed = true
    for (const probe of this.probes) probe.destroy()
  }
}

/**
 * Wraps http(s).request for the minio client: every request fails after `timeoutMs` without a byte either
 * way. Copies and multipart completion are checked after half that: while S3 answers a probe within the
 * other half, they keep waiting (up to SLOW_OPERATION_MS); otherwise they fail. While S3 is unresponsive,
 * requests get SUSPECT_TIMEOUT_MS. Object GETs drop the socket timeout once the answer starts, because
 * their bodies are watched by S3Client.watch, which does not count a slow reader. Answers minio would
 * discard (5xx) are drained so their sockets return to the pool.
 */
function timedTransport (base: { request: RequestFn }, timeoutMs: number, liveness: Liveness): { request: RequestFn } {
  const request = (options: http.RequestOptions, callback?: (res: http.IncomingMessage) => void): http.ClientRequest => {
    const path = options.path ?? ''
    const what = `${options.method ?? 'GET'} ${path.split('?')[0] ?? ''}`
    const suspect = liveness.isDown
    const headers = (options.headers ?? {}) as Record<string, unknown>
    const slow = !suspect && (headers['x-amz-copy-source'] !== undefined || (options.method === 'POST' && path.includes('uploadId=')))
    const objectGet = options.method === 'GET' && !path.includes('?')
    const idle = suspect
      ? Math.min(timeoutMs, Math.max(SUSPECT_TIMEOUT_MS.min, Math.min(SUSPECT_TIMEOUT_MS.max, Math.floor(timeoutMs / 4))))
      : slow ? Math.max(1, Math.floor(timeoutMs / 2)) : timeoutMs
    const started = Date.now()
    let finished = false
    const req = base.request({ ...options, timeout: idle }, res => {
      liveness.answered()
      if (objectGet) req.setTimeout(0)
      if ((res.statusCode ?? 0) >= 500) res.resume()
      callback?.(res)
    })
    req.on('close', () => { finished = true })
    const fail = (): void => {
      liveness.unresponsive(timeoutMs)
      req.destroy(new S3TimeoutError(suspect
        ? `S3 has stopped answering (${what}: nothing within ${idle} ms)`
        : `no answer from S3 within ${timeoutMs} ms (${what})`))
    }
    req.on('timeout', () => {
      if (!slow || Date.now() - started > SLOW_OPERATION_MS) return fail()
      void liveness.answers(timeoutMs - idle).then(alive => {
        if (finished) return
        if (alive) req.setTimeout(idle) // S3 is working on it: wait another while
        else fail()
      })
    })
    return req
  }
  return { request: request as RequestFn }
}
