// Blob upload sessions. The state record, the bytes received so far and the sha256 hasher's saved state
// live in the store, so a session survives a restart and can be continued by any process on the same
// store without re-reading its bytes (object stores cannot read back an unfinished multipart upload).
// Single-request uploads need no saved state and use node:crypto, about four times faster.
import { createHash, randomUUID } from 'node:crypto'
import { pipeline, type Readable } from 'node:stream'
import { createSHA256, type IHasher } from 'hash-wasm'
import { RegistryError, digestInvalid, rangeInvalid, uploadUnknown } from '../errors/registry-error.js'
import { InvalidOffsetError, isNotFound, type StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import type { Blobs } from './blobs.js'
import { HashingMeter, parseDigest, type Algorithm, type Hasher } from './digest.js'
import { encodeRecord, readRecord } from './records.js'

export interface UploadState {
  name: string
  /** Bytes received and stored so far. */
  offset: number
  /** hash-wasm sha256 state after `offset` bytes, base64. */
  sha256State?: string
  /** The request currently writing data, if any (see UploadLease). */
  writer?: { token: string, heartbeat: string }
  startedAt: string
  updatedAt: string
}

/** Inclusive byte range a chunk claims to cover (PATCH Content-Range). */
export interface ChunkRange {
  start: number
  end: number
}

export interface UploadOptions {
  ttlMs: number
}

const UPLOAD_ID = /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/
/** A writer that has not renewed its lease for this long is presumed dead (its process crashed). */
const LEASE_MS = 20_000
const HEARTBEAT_MS = 5_000

/**
 * Exclusive right to write a session's data. Two requests writing the same offset at once would mix
 * their bytes in the staged data while only one of them could record its hash, so a writer first
 * claims the session with compare-and-swap, renews the claim while it streams, and releases it with
 * the new offset. Any process on the store can take over a claim whose holder stopped renewing it.
 */
class UploadLease {
  private readonly timer: NodeJS.Timeout
  private renewal: Promise<void> = Promise.resolve()
  /** Called when another request took the session over: the writer must stop. */
  onLost: (err: Error) => void = () => {}

  constructor (
    private readonly driver: StorageDriver,
    private readonly id: string,
    readonly state: UploadState,
    private version: string,
    private readonly token: string
  ) {
    this.timer = setInterval(() => { this.renewal = this.renewal.then(async () => await this.renew()) }, HEARTBEAT_MS)
    this.timer.unref()
  }

  private async renew (): Promise<void> {
    const renewed = { ...this.state, writer: { token: this.token, heartbeat: new Date().toISOString() } }
    const version = await this.driver.compareAndSwap(paths.uploadState(this.id), this.version, encodeRecord(renewed))
      .catch(() => undefined)
    if (version === undefined) {
      clearInterval(this.timer)
      this.onLost(rangeInvalid('the upload was taken over by another request', { uploaded: this.state.offset }))
    } else {
      this.version = version
    }
  }

  /** Ends the claim, recording `next` (without a writer) as the session state. */
  async release (next: UploadState): Promise<void> {
    clearInterval(this.timer)
    await this.renewal
    const { writer: _released, ...rest } = next
    if (await this.driver.compareAndSwap(paths.uploadState(this.id), this.version, encodeRecord(rest)) === undefined) {
      throw rangeInvalid('the upload was changed by a concurrent request', { uploaded: this.state.offset })
    }
  }

  /** Stops renewing: the session itself is gone (published). */
  end (): void {
    clearInterval(this.timer)
  }

  /** Ends the claim after a failure, leaving the session as it was. */
  async abandon (): Promise<void> {
    await this.release(this.state).catch(() => {})
  }
}

export function createUploads (driver: StorageDriver, blobs: Blobs, options: UploadOptions) {
  async function load (name: string, id: string): Promise<{ state: UploadState, version: string }> {
    if (!UPLOAD_ID.test(id)) throw uploadUnknown(id)
    const record = await driver.readVersioned(paths.uploadState(id))
    if (record === undefined) throw uploadUnknown(id)
    const state = JSON.parse(record.data.toString('utf8')) as UploadState
    if (state.name !== name) throw uploadUnknown(id)
    return { state, version: record.version }
  }

  /** Claims the session for one writing request; 416 when another request is writing it. */
  async function claim (name: string, id: string): Promise<UploadLease> {
    const { state, version } = await load(name, id)
    const busy = () => rangeInvalid('another request is writing this upload', { uploaded: state.offset })
    if (state.writer !== undefined && Date.now() - Date.parse(state.writer.heartbeat) < LEASE_MS) throw busy()
    const token = randomUUID()
    const claimed: UploadState = { ...state, writer: { token, heartbeat: new Date().toISOString() } }
    const claimedVersion = await driver.compareAndSwap(paths.uploadState(id), version, encodeRecord(claimed))
    if (claimedVersion === undefined) throw busy()
    return new UploadLease(driver, id, claimed, claimedVersion, token)
  }

  /**
   * Streams one chunk at the session's offset under a claim and returns the state to record, with
   * `hash` holding the digest state after the chunk. A chunk that both starts and ends the session
   * (PUT with the whole blob) is hashed with node:crypto: no hasher state needs saving.
   */
  async function writeChunk (lease: UploadLease, id: string, body: Readable, range: ChunkRange | undefined, final = false): Promise<{ next: UploadState, hex: () => string }> {
    const { state } = lease
    if (range !== undefined && range.start !== state.offset) {
      throw rangeInvalid(`chunk starts at ${range.start}, but the upload holds ${state.offset} bytes`, { uploaded: state.offset })
    }
    lease.onLost = err => { body.destroy(err) }
    const native = final && state.offset === 0 ? createHash('sha256') : undefined
    const resumable = native === undefined ? await resumeSha256(id, state) : undefined
    const written = await appendAt(id, state.offset, body, native ?? resumable)
    if (range !== undefined && written !== range.end - range.start + 1) {
      throw new RegistryError('size-invalid', `Content-Range declares ${range.end - range.start + 1} bytes, the body had ${written}`)
    }
    const next: UploadState = { ...state, offset: state.offset + written, updatedAt: new Date().toISOString() }
    if (resumable !== undefined) next.sha256State = Buffer.from(resumable.save()).toString('base64')
    else delete next.sha256State // resumeSha256 re-reads the stored bytes if this session is ever continued
    return { next, hex: () => native?.digest('hex') ?? (resumable as IHasher).digest('hex') }
  }

  /** A sha256 hasher that has seen exactly the session's first `state.offset` bytes. */
  async function resumeSha256 (id: string, state: UploadState): Promise<IHasher> {
    const hasher = await createSHA256()
    if (state.sha256State !== undefined) return hasher.load(Buffer.from(state.sha256State, 'base64'))
    hasher.init()
    if (state.offset > 0) { // no saved state (see writeChunk): rebuild it from the stored bytes
      const stream = await driver.read(paths.uploadData(id), { start: 0, end: state.offset - 1 })
      for await (const chunk of stream) hasher.update(chunk as Buffer)
    }
    return hasher
  }

  /** Digests the staged bytes with another algorithm (sessions are hashed with sha256 as they arrive). */
  async function hashStored (id: string, offset: number, algorithm: Algorithm): Promise<string> {
    const hash = createHash(algorithm)
    if (offset > 0) {
      const stream = await driver.read(paths.uploadData(id), { start: 0, end: offset - 1 })
      for await (const chunk of stream) hash.update(chunk as Buffer)
    }
    return hash.digest('hex')
  }

  /** Streams `body` into the session's data at `offset` through a hashing meter. Returns bytes written. */
  async function appendAt (id: string, offset: number, body: Readable, hash: Hasher | undefined): Promise<number> {
    const meter = new HashingMeter(hash)
    const source = pipeline(body, meter, () => {}) // errors surface through the driver's own pipeline
    try {
      await driver.append(paths.uploadData(id), offset, source)
    } catch (err) {
      if (err instanceof InvalidOffsetError) throw rangeInvalid('upload data is shorter than its recorded offset')
      if (isNotFound(err)) throw uploadUnknown(id) // cancelled while this chunk was being written
      throw err
    }
    return meter.bytes
  }

  /** Verifies the staged bytes against `digest`, then publishes them as a blob linked into `name`. */
  async function publish (name: string, id: string, digest: string, size: number, actual: string): Promise<void> {
    if (actual !== digest) {
      await driver.deletePrefix(paths.uploadPrefix(id))
      throw digestInvalid('provided digest did not match uploaded content', { expected: digest, actual })
    }
    if (await blobs.storedSize(digest) === undefined) {
      await driver.move(paths.uploadData(id), paths.blob(digest))
    }
    await blobs.link(name, digest, size)
    await driver.deletePrefix(paths.uploadPrefix(id))
  }

  const uploads = {
    async start (name: string): Promise<{ id: string, state: UploadState }> {
      const id = randomUUID()
      const now = new Date().toISOString()
      const state: UploadState = { name, offset: 0, startedAt: now, updatedAt: now }
      await driver.write(paths.uploadState(id), encodeRecord(state)) // a fresh random id: no one else can hold it
      return { id, state }
    },

    async status (name: string, id: string): Promise<UploadState> {
      return (await load(name, id)).state
    },

    /** Appends one chunk (PATCH). Without a range the body is streamed at the current offset. */
    async append (name: string, id: string, body: Readable, range?: ChunkRange): Promise<UploadState> {
      const lease = await claim(name, id)
      try {
        const { next } = await writeChunk(lease, id, body, range)
        await lease.release(next)
        return next
      } catch (err) {
        await lease.abandon()
        throw err
      }
    },

    /** Completes the session (PUT ?digest=), with an optional final chunk, under one claim. */
    async complete (name: string, id: string, digest: string, body: Readable, range?: ChunkRange): Promise<{ size: number }> {
      const { algorithm } = parseDigest(digest)
      const lease = await claim(name, id)
      let state: UploadState
      let sha256Hex: () => string
      try {
        ({ next: state, hex: sha256Hex } = await writeChunk(lease, id, body, range, true))
      } catch (err) {
        await lease.abandon()
        throw err
      }
      try {
        const hex = algorithm === 'sha256' ? sha256Hex() : await hashStored(id, state.offset, algorithm)
        await publish(name, id, digest, state.offset, `${algorithm}:${hex}`)
        lease.end()
      } catch (err) {
        // Publishing removes the session; if it failed before that (the store), keep the chunk for a retry.
        if (await driver.stat(paths.uploadState(id)) !== undefined) await lease.release(state).catch(() => {})
        throw err
      }
      return { size: state.offset }
    },

    async cancel (name: string, id: string): Promise<void> {
      await load(name, id)
      await driver.deletePrefix(paths.uploadPrefix(id))
    },

    /**
     * A whole blob in one stream: no session is ever visible. With `digest` (POST ?digest=), the bytes must
     * have it; without one (files of the CNR and /packages APIs), they are stored under the sha256 they have.
     */
    async putMonolithic (name: string, digest: string | undefined, body: Readable): Promise<{ digest: string, size: number }> {
      const algorithm = digest === undefined ? 'sha256' : parseDigest(digest).algorithm
      const id = randomUUID()
      const hash = createHash(algorithm)
      let size: number
      try {
        size = await appendAt(id, 0, body, hash)
      } catch (err) {
        await driver.deletePrefix(paths.uploadPrefix(id))
        throw err
      }
      const actual = `${algorithm}:${hash.digest('hex')}`
      await publish(name, id, digest ?? actual, size, actual)
      return { digest: actual, size }
    },

    /** Removes sessions (and stray data of interrupted monolithic uploads) idle for longer than the TTL. */
    async purgeExpired (now = Date.now()): Promise<number> {
      let purged = 0
      let startAfter: string | undefined
      for (;;) {
        const page = await driver.list(paths.uploadsPrefix, { limit: 1000, startAfter })
        for (const key of page.keys) {
          const info = await driver.stat(key)
          if (info === undefined || now - info.modifiedAt.getTime() < options.ttlMs) continue
          const id = paths.uploadIdFromKey(key)
          const state = await readRecord<UploadState>(driver, paths.uploadState(id))
          if (state !== undefined && now - Date.parse(state.updatedAt) < options.ttlMs) continue
          await driver.deletePrefix(paths.uploadPrefix(id))
          purged++
        }
        if (!page.truncated) return purged
        startAfter = page.keys.at(-1)
      }
    }
  }
  return uploads
}

export type Uploads = ReturnType<typeof createUploads>
