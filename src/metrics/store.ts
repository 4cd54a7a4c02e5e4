// Store operations by kind, with their latency and errors: a StorageDriver that times each call of the driver
// it wraps (createBerth wraps the configured one, so every service's store traffic is seen). A read is timed
// until its stream is open, not until it is consumed. Not-found answers and refused append offsets are
// outcomes the callers expect, not errors; anything else thrown counts as an error of its operation.
import { performance } from 'node:perf_hooks'
import type { Readable } from 'node:stream'
import { InvalidOffsetError, NotFoundError, type ListOptions, type ListPage, type ObjectInfo, type StorageDriver, type VersionedRecord } from '../storage/driver.js'
import { Timing } from './series.js'

export const STORE_OPERATIONS = [
  'read', 'readAll', 'write', 'stat', 'list', 'delete', 'deletePrefix', 'move',
  'createIfAbsent', 'readVersioned', 'compareAndSwap', 'append', 'presignedUrl', 'ping'
] as const
export type StoreOperation = typeof STORE_OPERATIONS[number]

/** One operation's latency histogram and error count. */
export class OperationStats extends Timing {
  errors = 0
}

export interface StoreStats {
  readonly driver: string
  readonly operations: Record<StoreOperation, OperationStats>
  /** Chunks of upload data being streamed into the store now (append calls in progress). */
  uploadsInFlight: number
}

export function createStoreStats (driver: string): StoreStats {
  const operations = Object.fromEntries(STORE_OPERATIONS.map(op => [op, new OperationStats({ driver, operation: op })])) as Record<StoreOperation, OperationStats>
  return { driver, operations, uploadsInFlight: 0 }
}

const expected = (err: unknown): boolean => err instanceof NotFoundError || err instanceof InvalidOffsetError

/** The driver an instrumented driver wraps (for checks such as `instanceof FilesystemDriver`), or `driver` itself. */
export function innerDriver (driver: StorageDriver): StorageDriver {
  return driver instanceof InstrumentedDriver ? driver.inner : driver
}

export class InstrumentedDriver implements StorageDriver {
  readonly name: string
  readonly chunkMinLength: number
  readonly presignedUrl?: (key: string, options: { expiresSeconds: number }) => Promise<string>
  readonly ping?: () => Promise<void>
  readonly abandonedWrites?: StorageDriver['abandonedWrites']
  readonly discardAbandonedWrite?: StorageDriver['discardAbandonedWrite']
  private readonly ops: Record<StoreOperation, OperationStats>

  constructor (readonly inner: StorageDriver, private readonly stats: StoreStats) {
    this.name = inner.name
    this.chunkMinLength = inner.chunkMinLength
    this.ops = stats.operations
    // Optional capabilities stay optional: callers test for them.
    if (inner.presignedUrl !== undefined) {
      const presign = inner.presignedUrl.bind(inner)
      this.presignedUrl = async (key, options) => {
        const start = performance.now()
        return await this.timed(this.ops.presignedUrl, presign(key, options), start)
      }
    }
    if (inner.ping !== undefined) {
      const ping = inner.ping.bind(inner)
      this.ping = async () => {
        const start = performance.now()
        await this.timed(this.ops.ping, ping(), start)
      }
    }
    // Garbage collection's sweep of partial writes: rare maintenance calls, passed through untimed.
    this.abandonedWrites = inner.abandonedWrites?.bind(inner)
    this.discardAbandonedWrite = inner.discardAbandonedWrite?.bind(inner)
  }

  /** Awaits `work`, a call of the inner driver started at `start`, and records it under `op`. */
  private async timed<T> (op: OperationStats, work: Promise<T>, start: number): Promise<T> {
    try {
      return await work
    } catch (err) {
      if (!expected(err)) op.errors++
      throw err
    } finally {
      op.observe((performance.now() - start) / 1000)
    }
  }

  async read (key: string, range?: { start: number, end: number }): Promise<Readable> {
    const start = performance.now()
    return await this.timed(this.ops.read, this.inner.read(key, range), start)
  }

  async readAll (key: string): Promise<Buffer> {
    const start = performance.now()
    return await this.timed(this.ops.readAll, this.inner.readAll(key), start)
  }

  async write (key: string, body: Readable | Buffer): Promise<number> {
    const start = performance.now()
    return await this.timed(this.ops.write, this.inner.write(key, body), start)
  }

  async stat (key: string): Promise<ObjectInfo | undefined> {
    const start = performance.now()
    return await this.timed(this.ops.stat, this.inner.stat(key), start)
  }

  async list (prefix: string, options: ListOptions): Promise<ListPage> {
    const start = performance.now()
    return await this.timed(this.ops.list, this.inner.list(prefix, options), start)
  }

  async delete (key: string): Promise<boolean> {
    const start = performance.now()
    return await this.timed(this.ops.delete, this.inner.delete(key), start)
  }

  async deletePrefix (prefix: string): Promise<void> {
    const start = performance.now()
    await this.timed(this.ops.deletePrefix, this.inner.deletePrefix(prefix), start)
  }

  async move (from: string, to: string): Promise<void> {
    const start = performance.now()
    await this.timed(this.ops.move, this.inner.move(from, to), start)
  }

  async createIfAbsent (key: string, data: Buffer): Promise<boolean> {
    const start = performance.now()
    return await this.timed(this.ops.createIfAbsent, this.inner.createIfAbsent(key, data), start)
  }

  async readVersioned (key: string): Promise<VersionedRecord | undefined> {
    const start = performance.now()
    return await this.timed(this.ops.readVersioned, this.inner.readVersioned(key), start)
  }

  async compareAndSwap (key: string, expectedVersion: string | undefined, data: Buffer): Promise<string | undefined> {
    const start = performance.now()
    return await this.timed(this.ops.compareAndSwap, this.inner.compareAndSwap(key, expectedVersion, data), start)
  }

  async append (key: string, offset: number, body: Readable): Promise<number> {
    const start = performance.now()
    this.stats.uploadsInFlight++
    try {
      return await this.timed(this.ops.append, this.inner.append(key, offset, body), start)
    } finally {
      this.stats.uploadsInFlight--
    }
  }

  async close (): Promise<void> {
    await this.inner.close()
  }
}
