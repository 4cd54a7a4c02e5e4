// Request and response helpers of the CNR surface: merged parameters (APPR's getvalues()), downloads
// streamed raw or as JSON with the tarball base64-encoded on the fly, and pagination links.
import { Readable, Transform, type TransformCallback } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Download } from './service.js'

/**
 * Query, form and JSON parameters merged as APPR merges them: form fields, then the query string over
 * them, then the body parsed as JSON whatever its Content-Type. A repeated query parameter counts once.
 */
export function mergedParams (request: FastifyRequest): Record<string, unknown> {
  const merged: Record<string, unknown> = {}
  const body = request.body
  const text = Buffer.isBuffer(body) && body.length > 0 ? body.toString('utf8') : ''
  if (text !== '' && /^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '')) {
    for (const [key, value] of new URLSearchParams(text)) if (!(key in merged)) merged[key] = value
  }
  for (const [key, value] of Object.entries(request.query as Record<string, unknown>)) {
    merged[key] = Array.isArray(value) ? value[0] : value
  }
  if (text !== '') {
    try {
      const json: unknown = JSON.parse(text)
      if (json !== null && typeof json === 'object' && !Array.isArray(json)) Object.assign(merged, json)
    } catch {
      // Not JSON: the form fields and the query string are all there is.
    }
  }
  return merged
}

/** A parameter that must be a string when present. */
export function stringParam (params: Record<string, unknown>, key: string): string | undefined {
  const value = params[key]
  if (value === undefined || value === null) return undefined
  return typeof value === 'string' ? value : String(value)
}

/** Base64-encodes a byte stream, carrying the 0-2 bytes that do not fill a 3-byte group to the next chunk. */
class Base64Encoder extends Transform {
  private rest: Buffer = Buffer.alloc(0)
  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const data = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk
    const whole = data.length - (data.length % 3)
    this.rest = data.subarray(whole)
    callback(null, whole > 0 ? data.subarray(0, whole).toString('base64') : undefined)
  }

  override _flush (callback: TransformCallback): void {
    callback(null, this.rest.length > 0 ? this.rest.toString('base64') : undefined)
  }
}

async function * jsonWithBlob (head: string, blob: Readable, tail: string): AsyncGenerator<string | Buffer> {
  yield head
  yield * blob.pipe(new Base64Encoder())
  yield tail
}

/** Sends a download as the raw tarball (application/x-gzip, the file name in Content-Disposition). */
export async function sendRaw (reply: FastifyReply, download: Download): Promise<unknown> {
  const body = await download.open()
  return await reply.type('application/x-gzip')
    .header('Content-Disposition', download.filename)
    .header('Content-Length', download.size)
    .send(body)
}

/**
 * Sends a download as JSON: the pull body ({package, blob, release, media_type, filename}) or, without
 * a media type, the blob body ({package, blob, release, filename}). The blob is encoded as it streams.
 */
export async function sendJson (reply: FastifyReply, download: Download): Promise<unknown> {
  const head = `{"package":${JSON.stringify(download.pkg)},"blob":"`
  const tail = `","release":${JSON.stringify(download.release)},` +
    (download.mediaType === undefined ? '' : `"media_type":${JSON.stringify(download.mediaType)},`) +
    `"filename":${JSON.stringify(download.filename)}}`
  const length = Buffer.byteLength(head) + 4 * Math.ceil(download.size / 3) + Buffer.byteLength(tail)
  const blob = await download.open()
  return await reply.type('application/json')
    .header('Content-Length', length)
    .send(Readable.from(jsonWithBlob(head, blob, tail)))
}

export { nextLink } from '../util/next-link.js'
