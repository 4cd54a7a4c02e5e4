// The storage-driver contract: object-store semantics that a filesystem and an S3 bucket can both honour.
// Drivers know nothing about registries; src/storage/paths.ts alone decides what the keys mean.
//
// Keys are '/'-separated ASCII paths, as in S3: a key may also be the prefix of other keys.
import type { Readable } from 'node:stream'

export interface ObjectInfo {
  size: number
  modifiedAt: Date
}

export interface ListOptions {
  /** Only keys strictly greater than this full key are returned. */
  startAfter?: string
  /** At most this many keys are returned. */
  limit: number
}

export interface ListPage {
  /** Full keys under the prefix, recursively, in byte order. */
  keys: string[]
  /** True when more keys follow the last one returned. */
  truncated: boolean
}

/**
 * A write the store holds in pieces that its writer never finished nor cleaned up: an S3 multipart upload, a
 * filesystem temp file. It holds space but is no object: no listing sees it. A writer that crashed leaves one.
 */
export interface AbandonedWrite {
  /** What was being written: the driver's own name for it (for reports). */
  name: string
  /** The driver's handle for it (an upload id, a file name). */
  id: string
  startedAt: Date
  /** The bytes it holds, when the store tells. */
  bytes?: number
}

/** A small record read together with an opaque version, for compare-and-swap. */
export interface VersionedRecord {
  data: Buffer
  version: string
}

export interface StorageDriver {
  readonly name: string
  /** Preferred minimum chunk size for chunked uploads, advertised as OCI-Chunk-Min-Length. */
  readonly chunkMinLength: number

  /** Streams an object, or the inclusive byte range [start, end] of it. Throws NotFoundError. */
  read (key: string, range?: { start: number, end: number }): Promise<Readable>
  /** Reads a small object whole. Throws NotFoundError. */
  readAll (key: string): Promise<Buffer>
  /** Writes an object atomically: it becomes visible, durably, only once every byte is written. Returns the size. */
  write (key: string, body: Readable | Buffer): Promise<number>
  stat (key: string): Promise<ObjectInfo | undefined>
  /** Lists keys under `prefix` (which ends in '/'), recursively, in byte order, one page at a time. */
  list (prefix: string, options: ListOptions): Promise<ListPage>
  /** Deletes one object. Returns whether it existed. */
  delete (key: string): Promise<boolean>
  /** Deletes every key under `prefix` (which ends in '/'). */
  deletePrefix (prefix: string): Promise<void>
  /** Atomically moves an object, replacing any object at `to`. Throws NotFoundError. */
  move (from: string, to: string): Promise<void>

  /** Creates a small record only if no object exists at `key`. Returns whether it was created. */
  createIfAbsent (key: string, data: Buffer): Promise<boolean>
  readVersioned (key: string): Promise<VersionedRecord | undefined>
  /**
   * Replaces a small record only if its version is still `expected` (undefined: only if absent).
   * Returns the new version, or undefined when the record changed meanwhile.
   */
  compareAndSwap (key: string, expected: string | undefined, data: Buffer): Promise<string | undefined>

  /**
   * Appends to a staging object used by chunked uploads: the bytes of `body` are written from `offset`,
   * discarding anything already stored past it. Durable when the promise resolves. Returns the new size.
   * Throws InvalidOffsetError when fewer than `offset` bytes are stored.
   */
  append (key: string, offset: number, body: Readable): Promise<number>

  /**
   * Optional (object stores): a time-limited URL from which a client can GET the object directly, without
   * Berth in the path. Used for presigned blob redirects when they are enabled.
   */
  presignedUrl? (key: string, options: { expiresSeconds: number }): Promise<string>
  /**
   * Optional (stores that keep partial writes apart from objects): the partial writes started before
   * `startedBefore`, for garbage collection. A live writer's is younger than any cutoff the collector passes
   * (its grace period), so these belong to writers that are gone. Listed a page at a time.
   */
  abandonedWrites? (startedBefore: Date): AsyncIterable<AbandonedWrite>
  /** Optional, with abandonedWrites: removes one, freeing its bytes. Returns whether it was still there. */
  discardAbandonedWrite? (write: AbandonedWrite): Promise<boolean>
  /** Optional: checks that the store answers, for readiness probes. Throws StorageUnavailableError when not. */
  ping? (): Promise<void>

  close (): Promise<void>
}

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError'
  constructor (readonly key: string, readonly driver: string) {
    super(`${driver}: no object at ${key}`)
  }
}

export class InvalidOffsetError extends Error {
  override readonly name = 'InvalidOffsetError'
  constructor (readonly key: string, readonly offset: number, readonly size: number) {
    super(`cannot append at ${offset}: ${key} holds ${size} bytes`)
  }
}

export class InvalidKeyError extends Error {
  override readonly name = 'InvalidKeyError'
  constructor (readonly key: string) {
    super(`invalid storage key: ${JSON.stringify(key)}`)
  }
}

/**
 * The store cannot be reached or did not answer in time (down, overloaded, misconfigured credentials).
 * The request may succeed later; API surfaces render it as 503 (OCI `UNAVAILABLE`).
 */
export class StorageUnavailableError extends Error {
  override readonly name = 'StorageUnavailableError'
  constructor (readonly driver: string, message: string, options?: { cause?: unknown }) {
    super(`${driver}: ${message}`, options)
  }
}

export function isNotFound (err: unknown): err is NotFoundError {
  return err instanceof NotFoundError
}
