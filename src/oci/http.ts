// Header and query parsing for the /v2 API, and the URLs it hands back to clients.
import type { Readable } from 'node:stream'
import { RegistryError, rangeInvalid } from '../errors/registry-error.js'
import type { ChunkRange } from '../registry/uploads.js'

export const urls = {
  blob: (name: string, digest: string) => `/v2/${name}/blobs/${digest}`,
  manifest: (name: string, reference: string) => `/v2/${name}/manifests/${reference}`,
  upload: (name: string, id: string) => `/v2/${name}/blobs/uploads/${id}`
}

export { nextLink } from '../util/next-link.js'

/** An upload's progress as its `Range` header value: `0-<last byte>` (no "bytes=" prefix, as the spec shows). */
export function uploadRange (uploaded: number): string {
  return `0-${Math.max(uploaded - 1, 0)}`
}

/** Page size from `n`: absent → default; clamped to the maximum so a page always costs O(page). */
export function pageLimit (n: unknown, pageSize: { default: number, max: number }): number {
  if (n === undefined || n === '') return pageSize.default
  const value = Number(n)
  if (typeof n !== 'string' || !Number.isInteger(value) || value < 0) {
    throw new RegistryError('invalid-request', `query parameter n must be a non-negative integer (got ${JSON.stringify(n)})`)
  }
  return Math.min(value, pageSize.max)
}

/** One query parameter as a string, when the client sent it once. */
export function queryString (query: unknown, key: string): string | undefined {
  const value = (query as Record<string, unknown>)[key]
  if (value === undefined) return undefined
  if (typeof value === 'string') return value
  throw new RegistryError('invalid-request', `query parameter ${key} must be given once`)
}

/** Every value of a repeatable query parameter. */
export function queryList (query: unknown, key: string): string[] {
  const value = (query as Record<string, unknown>)[key]
  if (value === undefined) return []
  return Array.isArray(value) ? value.map(String) : [String(value)]
}

/** Media types listed in Accept headers, without parameters. */
export function parseAccept (header: string | string[] | undefined): string[] {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header]
  return values.flatMap(v => v.split(',')).map(v => v.split(';')[0]?.trim().toLowerCase() ?? '').filter(v => v !== '')
}

/**
 * A single `Range: bytes=` request on a blob of `size` bytes. Returns undefined to serve the whole blob
 * (no header, or a multi-range request, which RFC 9110 lets us ignore).
 */
export function parseBlobRange (header: string | undefined, size: number): { start: number, end: number } | undefined {
  if (header === undefined || !/^\s*bytes=/i.test(header)) return undefined // unknown units are ignored (RFC 9110 §14.2)
  const match = /^bytes=(\d*)-(\d*)$/i.exec(header.trim())
  if (match === null) {
    if (/^bytes=.*,/.test(header)) return undefined
    throw unsatisfiable(size, `malformed Range header "${header}"`)
  }
  const [, first = '', last = ''] = match
  let start: number
  let end: number
  if (first === '') {
    if (last === '') throw unsatisfiable(size, `malformed Range header "${header}"`)
    start = Math.max(size - Number(last), 0) // suffix range: the last N bytes
    end = size - 1
    if (Number(last) === 0) throw unsatisfiable(size, 'empty suffix range')
  } else {
    start = Number(first)
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
    if (last !== '' && Number(last) < start) throw unsatisfiable(size, `range end precedes its start in "${header}"`)
  }
  if (start >= size) throw unsatisfiable(size, `range starts past the end of the ${size}-byte blob`)
  return { start, end }
}

function unsatisfiable (size: number, message: string): RegistryError {
  return rangeInvalid(message, { size })
}

/** A chunk's `Content-Range: <start>-<end>` (a `bytes ` prefix and `/total` suffix are tolerated). */
export function parseContentRange (header: string | undefined): ChunkRange | undefined {
  if (header === undefined) return undefined
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim())
  if (match === null) throw rangeInvalid(`malformed Content-Range "${header}"`)
  const start = Number(match[1])
  const end = Number(match[2])
  if (end < start) throw rangeInvalid(`Content-Range end precedes its start: "${header}"`)
  return { start, end }
}

/** Reads a body that must fit in memory (manifests), failing once it exceeds `limit` bytes. */
export async function readBodyLimited (body: Readable, declaredLength: string | undefined, limit: number): Promise<Buffer> {
  const tooLarge = () => new RegistryError('manifest-invalid', `manifest exceeds the limit of ${limit} bytes`)
  if (declaredLength !== undefined && Number(declaredLength) > limit) throw tooLarge()
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of body) {
    total += (chunk as Buffer).length
    if (total > limit) throw tooLarge()
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks, total)
}
