// Blob upload sessions. The state record and the bytes received so far live in the store, so a session
// survives a restart and can be continued by any process on the same store. Each process keeps the sha256
// hasher (node:crypto, about nine times faster than a wasm hasher whose state could be saved) of the
// sessions it last wrote; a process that continues a session it does not hold the hasher of rebuilds it
// by hashing the stored bytes once, and from then on holds it. Sessions recorded by earlier versions carry
// a saved hash-wasm state (`sha256State`) and are continued from it.
import { createHash, randomUUID, type Hash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
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
  /** hash-wasm sha256 state after `offset` bytes, base64 (written by earlier versions only). */
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
/** Sessions whose hasher a process keeps (a few hundred bytes each). */
const HASHERS_KEPT = 1000

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

  /**
   * Ends the claim after a failure, recording `next` (by default the session as it was). When the store
   * cannot be reached, the claim is released in the background once it answers again, so that a retry is
   * not refused (416) until the claim expires; the compare-and-swap only succeeds while the claim is ours.
   */
  async abandon (next: UploadState = this.state): Promise<void> {
    clearInterval(this.timer)
    await this.renewal
    const { writer: _released, ...rest } = next
    let inFlight = false
    const attempt = async (): Promise<boolean> => {
      inFlight = true
      try {
        await this.driver.compareAndSwap(paths.uploadState(this.id), this.version, encodeRecord(rest))
        return true // released, or changed by someone else meanwhile: either way no longer ours to release
      } catch {
        return false
      } finally {
        inFlight = false
      }
    }
    if (await attempt()) return
    const giveUpAt = Date.now() + LEASE_MS // by then any request may take the claim over anyway
    const retry = setInterval(() => {
      if (inFlight) return
      if (Date.now() > giveUpAt) { clearInterval(retry); return }
      void attempt().then(done => { if (done) clearInterval(retry) })
    }, HEARTBEAT_MS / 5)
    retry.unref()
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

  /** The sha256 hasher of each session this process last wrote, with the offset it has hashed up to. */
  const hashers = new LRUCache<string, { offset: number, hash: Hash }>({ max: HASHERS_KEPT, ttl: options.ttlMs })

  /**
   * Streams one chunk at the session's offset under a claim and returns the state to record, with
   * `hex` giving the digest after the chunk. Call `keep` once the new state is recorded: the hasher
   * then serves the session's next chunk in this process.
   */
  async function writeChunk (lease: UploadLease, id: string, body: Readable, range: ChunkRange | undefined): Promise<{ next: UploadState, hex: () => string, keep: () => void }> {
    const { state } = lease
    if (range !== undefined && range.start !== state.offset) {
      throw rangeInvalid(`chunk starts at ${range.start}, but the upload holds ${state.offset} bytes`, { uploaded: state.offset })
    }
    lease.onLost = err => { body.destroy(err) }
    const hash = await sha256At(id, state)
    const written = await appendAt(id, state.offset, body, hash)
    if (range !== undefined && written !== range.end - range.start + 1) {
      throw new RegistryError('size-invalid', `Content-Range declares ${range.end - range.start + 1} bytes, the body had ${written}`)
    }
    const next: UploadState = { ...state, offset: state.offset + written, updatedAt: new Date().toISOString() }
    delete next.sha256State // the state saved by an earlier version is stale now; sha256At rebuilds it from the bytes
    const hex = (): string => isNative(hash) ? hash.digest('hex') : hash.digest('hex')
    const keep = (): void => {
      if (isNative(hash)) hashers.set(id, { offset: next.offset, hash })
    }
    return { next, hex, keep }
  }

  /**
   * A sha256 hasher that has seen exactly the session's first `state.offset` bytes, taken from this
   * process's hashers (a failed chunk must not leave a half-fed one behind), or else rebuilt. A kept hasher
   * that is behind (other processes wrote the chunks since) catches up on just those chunks: the bytes below
   * a recorded offset never change. Without that, chunks spread over several workers or replicas rehashed the
   * whole upload on every switch: a 256 MiB push in 10 MiB chunks over two workers ran at 38 MB/s.
   */
  async function sha256At (id: string, state: UploadState): Promise<Hash | IHasher> {
    const kept = hashers.get(id)
    hashers.delete(id)
    if (kept !== undefined && kept.offset <= state.offset) {
      await hashStoredInto(kept.hash, id, kept.offset, state.offset)
      return kept.hash
    }
    if (state.sha256State !== undefined) return await resumeSha256(state.sha256State)
    const hash = createHash('sha256')
    await hashStoredInto(hash, id, 0, state.offset) // another process wrote the session so far
    return hash
  }

  /** Feeds the session's stored bytes from `start` up to (not including) `end` to `hash`. */
  async function hashStoredInto (hash: Hash, id: string, start: number, end: number): Promise<void> {
    if (end <= start) return
    const stream = await driver.read(paths.uploadData(id), { start, end: end - 1 })
    for await (const chunk of stream) hash.update(chunk as Buffer)
  }

  /** A hash-wasm sha256 hasher resumed from the state an earlier version saved. */
  async function resumeSha256 (saved: string): Promise<IHasher> {
    const hasher = await createSHA256()
    return hasher.load(Buffer.from(saved, 'base64'))
  }

  /** Digests the staged bytes with another algorithm (sessions are hashed with sha256 as they arrive). */
  async function hashStored (id: string, offset: number, algorithm: Algorithm): Promise<string> {
    const hash = createHash(algorithm)
    await hashStoredInto(hash, id, 0, offset)
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
    try {
      await blobs.checkQuota(name, digest, size) // before the bytes become a blob: a refused upload leaves nothing
    } catch (err) {
      await driver.deletePrefix(paths.uploadPrefix(id))
      throw err
    }
    // New bytes are young and safe from collection as they are; stored ones are protected first and then looked
    // at again, so a collection deleting them finishes before (src/gc/collector.ts).
    let stored = await blobs.storedSize(digest) !== undefined
    if (stored) {
      await blobs.protect(digest)
      stored = await blobs.storedSize(digest) !== undefined
    }
    if (!stored) await driver.move(paths.uploadData(id), paths.blob(digest))
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
        const { next, keep } = await writeChunk(lease, id, body, range)
        await lease.release(next)
        keep()
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
        ({ next: state, hex: sha256Hex } = await writeChunk(lease, id, body, range))
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
        // If the store cannot even say whether the session is left, release it anyway: the release is a
        // compare-and-swap, a no-op when the session is gone, and it must not keep the claim renewing.
        const left = await driver.stat(paths.uploadState(id)).then(info => info !== undefined, () => true)
        if (left) await lease.abandon(state)
        else lease.end()
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

    /**
     * Removes sessions (and stray data of interrupted monolithic uploads) idle for longer than the TTL, with
     * their staged bytes (on S3, the multipart uploads their writers left). `dryRun` only reports them.
     */
    async purgeExpired (now = Date.now(), { dryRun = false, onPurged }: { dryRun?: boolean, onPurged?: (id: string, bytes: number) => void } = {}): Promise<number> {
      let purged = 0
      let startAfter: string | undefined
      let lastId: string | undefined
      for (;;) {
        const page = await driver.list(paths.uploadsPrefix, { limit: 1000, startAfter })
        for (const key of page.keys) {
          const id = paths.uploadIdFromKey(key)
          if (id === lastId) continue // a session's keys list together: one decision for all of them
          const info = await driver.stat(key)
          if (info === undefined || now - info.modifiedAt.getTime() < options.ttlMs) continue
          const state = await readRecord<UploadState>(driver, paths.uploadState(id))
          if (state !== undefined && now - Date.parse(state.updatedAt) < options.ttlMs) continue
          lastId = id
          const bytes = (await driver.stat(paths.uploadData(id)))?.size ?? 0
          if (!dryRun) await driver.deletePrefix(paths.uploadPrefix(id))
          onPurged?.(id, bytes)
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

const isNative = (hash: Hash | IHasher): hash is Hash => 'copy' in hash
