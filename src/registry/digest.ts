// Digests: parsing, verification and streaming hashing. sha256 and sha512 are supported.
import { createHash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { RegistryError, digestInvalid } from '../errors/registry-error.js'

const DIGEST = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/
const ENCODED: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/
}

export type Algorithm = 'sha256' | 'sha512'

export interface ParsedDigest {
  algorithm: Algorithm
  encoded: string
}

/** True when `s` has the shape of a digest (algorithm ':' encoded), supported or not. */
export function looksLikeDigest (s: string): boolean {
  return s.includes(':')
}

/** Parses a digest, throwing DIGEST_INVALID for a malformed or unsupported one. */
export function parseDigest (digest: string): ParsedDigest {
  const match = DIGEST.exec(digest)
  if (match === null) throw digestInvalid(`invalid digest "${digest}"`, { digest })
  const algorithm = match[1] as string
  const encoded = match[2] as string
  const pattern = ENCODED[algorithm]
  if (pattern === undefined) throw digestInvalid(`unsupported digest algorithm "${algorithm}"`, { digest })
  if (!pattern.test(encoded)) throw digestInvalid(`invalid ${algorithm} digest "${digest}"`, { digest })
  return { algorithm: algorithm as Algorithm, encoded }
}

export function isValidDigest (digest: string): boolean {
  try {
    parseDigest(digest)
    return true
  } catch {
    return false
  }
}

export function digestOf (algorithm: Algorithm, data: Buffer): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`
}

/** Anything that digests a stream incrementally: node:crypto's Hash or hash-wasm's resumable hashers. */
export interface Hasher {
  update: (data: Buffer) => unknown
}

/**
 * A pass-through stream that counts bytes and feeds them to a hasher, and fails once more than `limit`
 * bytes have passed.
 */
export class HashingMeter extends Transform {
  bytes = 0
  constructor (readonly hash: Hasher | undefined, private readonly limit = Number.POSITIVE_INFINITY) {
    super()
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length
    if (this.bytes > this.limit) {
      callback(new RegistryError('size-invalid', `body exceeds the limit of ${this.limit} bytes`))
      return
    }
    this.hash?.update(chunk)
    callback(null, chunk)
  }
}
