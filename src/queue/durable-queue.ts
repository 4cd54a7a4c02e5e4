// A durable work queue in the store, shared by every replica: the one protocol behind the webhook outbox
// (src/webhooks) and push replication (src/mirror/replicate.ts). What an entry asks for (an HTTP event, a
// manifest copy) is the caller's; this module only moves entries through their states.
//
// The protocol
// - Enqueue: an entry is one small JSON record at `<pending prefix of its destination><id>`, written before
//   the write that caused it is acknowledged, so a crash loses nothing acknowledged. Ids sort in enqueue order
//   (createSortableIds), so listing a destination's prefix reads its queue oldest first. The record is the
//   caller's item with the queue's fields beside it: {...item, createdAt, attempts, nextAttemptAt, lastError?,
//   lease?, failedAt?}.
// - Claim: a replica reads the entry and, when it is due (nextAttemptAt has passed) and nobody holds it (no
//   lease, or an expired one), replaces it by compare-and-swap with a copy that carries lease {owner,
//   expiresAt}. One replica wins. The holder renews the lease (another swap) every quarter lease while it works;
//   a replica that dies leaves its lease to expire, and the next claimer takes the entry over. A holder whose
//   renewal fails has lost the entry and records nothing: whoever took it over does.
// - Complete: the work succeeded: the entry is deleted, if the holder still holds it. So delivery is at least
//   once: an entry leaves only after a success, and a takeover or a failed attempt are the only repeats.
// - Fail: the attempt failed: attempts + 1, lastError, and nextAttemptAt = now + backoff (exponential from
//   retryMs up to retryMaxMs, jittered between half and all of it so that replicas and destinations do not march
//   in step), swapped in, which also drops the lease. The attempt that reaches maxAttempts instead moves the
//   entry to `<failed prefix><id>` with failedAt, where it stays, listed, until it is redelivered.
// - Release: work cut short by this replica's shutdown is no attempt: the lease is dropped for the others.
// - Redeliver: a failed entry goes back to its queue under its own id, attempts reset, so it takes its old place.
// - Order per destination: a worker walks each destination's queue oldest first. In an ordered queue an entry
//   that is held (leased by another replica, or waiting for its retry) holds back those behind it, so the
//   destination gets its entries in order and one at a time, whichever replica works them; an unordered queue
//   walks past it to the next entry.
import { randomBytes, randomUUID } from 'node:crypto'
import { encodeRecord } from '../registry/records.js'
import type { StorageDriver } from '../storage/driver.js'

/** The queue's own fields, stored beside the caller's item. */
export interface EntryState {
  createdAt: string
  /** Attempts made so far. */
  attempts: number
  /** Epoch ms before which no attempt is made (the backoff after a failure). */
  nextAttemptAt: number
  lastError?: string
  /** The replica working it now, until expiresAt (epoch ms). */
  lease?: { owner: string, expiresAt: number }
  /** Failed entries: when the last attempt failed. */
  failedAt?: string
}

export type Entry<T> = T & EntryState

export type EntryStateName = 'pending' | 'failed'

/** Where a queue keeps its entries. Keys are `<prefix><id>`; ids contain no '/'. */
export interface QueueLayout {
  /** The prefix (ending in '/') of a destination's entries in `state`. */
  prefix: (destination: string, state: EntryStateName) => string
  /** The destinations that may hold entries in `state`, in the order they are worked and listed. */
  destinations: (state: EntryStateName) => Promise<string[]>
}

export interface DurableQueueOptions {
  layout: QueueLayout
  /** How long a claim holds unless renewed. */
  leaseMs: number
  /** The first retry's delay; each next one doubles, up to retryMaxMs. */
  retryMs: number
  retryMaxMs: number
  /** The attempt with this number that fails moves the entry to failed. */
  maxAttempts: number
  /** Epoch ms (tests move time). */
  now?: () => number
  /** This replica's name in its leases (default: random). */
  owner?: string
}

export interface ListedEntry<T> {
  destination: string
  id: string
  entry: Entry<T>
}

export type ClaimResult<T> =
  | { state: 'gone' }
  /** Leased by another replica or waiting for its retry: nothing to do before `until` (epoch ms). */
  | { state: 'held', until: number }
  | { state: 'claimed', claim: Claim<T> }

export interface Claim<T> {
  readonly destination: string
  readonly id: string
  /** The entry as it was before this claim. */
  readonly entry: Entry<T>
  /** This attempt's number, from 1. */
  readonly attempt: number
  /** False once a renewal found the entry changed: another replica took it over. */
  readonly held: boolean
  /** Extends the lease; false when it was lost. */
  renew: () => Promise<boolean>
  /** Removes the entry: its work is done. */
  complete: () => Promise<void>
  /** Records a failed attempt: a retry after a backoff, or, at maxAttempts, a failed entry. */
  fail: (error: string) => Promise<{ outcome: 'retrying', nextAttemptAt: number } | { outcome: 'failed', failedAt: string }>
  /** Drops the lease without counting an attempt. */
  release: () => Promise<void>
}

/**
 * Ids that sort by creation time: `<ms since 1970, 13 digits>-<sequence within the ms>-<random>`. The
 * sequence keeps one process's ids in order within a millisecond; the random part keeps replicas' ids apart.
 */
export function createSortableIds (now: () => number = Date.now) {
  let lastMs = 0
  let sequence = 0
  return (): string => {
    let ms = Math.max(now(), lastMs)
    if (ms === lastMs) sequence++
    else sequence = 0
    if (sequence > 9999) { ms++; sequence = 0 }
    lastMs = ms
    return `${String(ms).padStart(13, '0')}-${String(sequence).padStart(4, '0')}-${randomBytes(4).toString('hex')}`
  }
}

/** The delay before retry number `attempts` + 1: exponential, capped, jittered between half and all of it. */
export function backoffMs (attempts: number, retryMs: number, retryMaxMs: number, random: () => number = Math.random): number {
  const delay = Math.min(retryMaxMs, retryMs * 2 ** Math.min(attempts - 1, 30))
  return Math.round(delay / 2 + random() * delay / 2)
}

function parse<T> (data: Buffer): Entry<T> {
  return JSON.parse(data.toString('utf8')) as Entry<T>
}

export function createDurableQueue<T extends object> (driver: StorageDriver, options: DurableQueueOptions) {
  const { layout, leaseMs, retryMs, retryMaxMs, maxAttempts, now = Date.now, owner = randomUUID() } = options
  const keyOf = (destination: string, state: EntryStateName, id: string): string => `${layout.prefix(destination, state)}${id}`

  async function * keys (destination: string, state: EntryStateName, pageSize = 500): AsyncGenerator<{ key: string, id: string }> {
    const prefix = layout.prefix(destination, state)
    for (let startAfter: string | undefined; ;) {
      const page = await driver.list(prefix, { limit: pageSize, startAfter })
      for (const key of page.keys) yield { key, id: key.slice(prefix.length) }
      if (!page.truncated || page.keys.length === 0) return
      startAfter = page.keys.at(-1)
    }
  }

  function claimOf (destination: string, id: string, entry: Entry<T>, claimedVersion: string): Claim<T> {
    const key = keyOf(destination, 'pending', id)
    const { lease: _lease, ...unleased } = entry
    let version: string | undefined = claimedVersion
    /** Deletes the entry if this claim still holds it (another replica may have taken it over). */
    const removeIfHeld = async (): Promise<void> => {
      if (version !== undefined && (await driver.readVersioned(key))?.version === version) await driver.delete(key)
    }
    const swap = async (next: object): Promise<void> => {
      if (version !== undefined) version = await driver.compareAndSwap(key, version, encodeRecord(next))
    }
    return {
      destination,
      id,
      entry,
      attempt: entry.attempts + 1,
      get held () { return version !== undefined },
      async renew () {
        await swap({ ...unleased, lease: { owner, expiresAt: now() + leaseMs } })
        return version !== undefined
      },
      complete: removeIfHeld,
      async fail (error) {
        const attempts = entry.attempts + 1
        if (attempts >= maxAttempts) {
          const failedAt = new Date(now()).toISOString()
          await driver.write(keyOf(destination, 'failed', id), encodeRecord({ ...unleased, attempts, lastError: error, failedAt }))
          await removeIfHeld()
          return { outcome: 'failed', failedAt }
        }
        const nextAttemptAt = now() + backoffMs(attempts, retryMs, retryMaxMs)
        await swap({ ...unleased, attempts, lastError: error, nextAttemptAt })
        return { outcome: 'retrying', nextAttemptAt }
      },
      async release () { await swap(unleased) }
    }
  }

  async function * list (state: EntryStateName, destination?: string): AsyncGenerator<ListedEntry<T>> {
    for (const d of destination === undefined ? await layout.destinations(state) : [destination]) {
      for await (const { key, id } of keys(d, state)) {
        const found = await driver.readVersioned(key)
        if (found !== undefined) yield { destination: d, id, entry: parse<T>(found.data) }
      }
    }
  }

  return {
    layout,
    leaseMs,

    /** Queues `item` at the end of `destination`'s queue under `id` (from createSortableIds). */
    async enqueue (destination: string, id: string, item: T): Promise<void> {
      const entry = { ...item, createdAt: new Date(now()).toISOString(), attempts: 0, nextAttemptAt: 0 }
      await driver.write(keyOf(destination, 'pending', id), encodeRecord(entry))
    },

    /** The ids in a destination's queue (or its failed entries), oldest first, without reading the entries. */
    ids: async function * (destination: string, state: EntryStateName, pageSize?: number): AsyncGenerator<string> {
      for await (const { id } of keys(destination, state, pageSize)) yield id
    },

    /** The entries in `state` of one destination, or of every destination, queue by queue, oldest first. */
    list,

    async count (destination: string, state: EntryStateName): Promise<number> {
      let n = 0
      for await (const _ of keys(destination, state, 1000)) n++
      return n
    },

    /** Claims the entry if it is due and nobody holds it. */
    async claim (destination: string, id: string): Promise<ClaimResult<T>> {
      const found = await driver.readVersioned(keyOf(destination, 'pending', id))
      if (found === undefined) return { state: 'gone' } // done by another replica meanwhile
      const entry = parse<T>(found.data)
      const at = now()
      if (entry.lease !== undefined && entry.lease.expiresAt > at) return { state: 'held', until: entry.lease.expiresAt }
      if (entry.nextAttemptAt > at) return { state: 'held', until: entry.nextAttemptAt }
      const { lease: _expired, ...unleased } = entry
      const version = await driver.compareAndSwap(keyOf(destination, 'pending', id), found.version, encodeRecord({ ...unleased, lease: { owner, expiresAt: at + leaseMs } }))
      if (version === undefined) return { state: 'held', until: now() } // another replica claimed it first: look again
      return { state: 'claimed', claim: claimOf(destination, id, unleased as Entry<T>, version) }
    },

    /** Puts a failed entry back in its queue with its attempts reset; false when there is none. */
    async redeliver (destination: string, id: string): Promise<boolean> {
      const failedKey = keyOf(destination, 'failed', id)
      const found = await driver.readVersioned(failedKey)
      if (found === undefined) return false
      const { failedAt: _failedAt, lastError: _lastError, lease: _lease, ...entry } = parse<T>(found.data)
      await driver.write(keyOf(destination, 'pending', id), encodeRecord({ ...entry, attempts: 0, nextAttemptAt: 0 }))
      await driver.delete(failedKey)
      return true
    }
  }
}

export type DurableQueue<T extends object> = ReturnType<typeof createDurableQueue<T>>

// ---- the worker: every replica runs one loop over the queue -------------------------------------------------

/** What the destination-specific work made of one attempt. */
export type WorkResult<R> = { ok: true, value: R } | { ok: false, error: string, value?: R }

/** One attempt, once its outcome is recorded in the store. */
export interface Settled<T, R> {
  destination: string
  id: string
  entry: Entry<T>
  attempt: number
  /** done: the entry is removed; retrying: tried again after nextAttemptAt; failed: kept as failed. */
  outcome: 'done' | 'retrying' | 'failed'
  value?: R
  error?: string
  durationMs: number
  /** retrying: when the next attempt is due (epoch ms). */
  nextAttemptAt?: number
  /** failed: when it was given up on. */
  failedAt?: string
}

export interface QueueWorkerOptions<T, R> {
  /** In log messages: what the queue is for. */
  name: string
  /** The destination-specific work for one claimed entry. A throw is a failed attempt with its message. */
  work: (claim: Claim<T>, signal: AbortSignal) => Promise<WorkResult<R>>
  /** Told of every attempt whose outcome was recorded (not of released or lost claims). */
  onSettled?: (settled: Settled<T, R>) => void | Promise<void>
  /** A held entry holds back its queue (see the protocol above). */
  ordered: boolean
  /** How often the loop looks for entries queued by other replicas. */
  pollMs: number
  /** Destinations worked at once. */
  parallel?: number
  log: { warn: (details: object, message: string) => void }
  now?: () => number
}

const QUEUE_PAGE = 50
const MAX_ERROR_LENGTH = 500

export function createQueueWorker<T extends object, R> (queue: DurableQueue<T>, options: QueueWorkerOptions<T, R>) {
  const { name, work, onSettled, ordered, pollMs, parallel = 4, log, now = Date.now } = options
  let stopped = true
  let running: Promise<void> | undefined
  let again = false
  let timer: NodeJS.Timeout | undefined
  /** Aborts the work in flight when the loop stops. */
  let stopping = new AbortController()

  async function settle (settled: Settled<T, R>): Promise<void> {
    try { await onSettled?.(settled) } catch (err) { log.warn({ err }, `${name}: a listener failed`) }
  }

  /** Works the entry if it is due and nobody holds it; returns when it may move again (undefined: now). */
  async function attempt (destination: string, id: string): Promise<number | undefined> {
    const claimed = await queue.claim(destination, id)
    if (claimed.state === 'gone') return undefined
    if (claimed.state === 'held') return claimed.until
    const { claim } = claimed
    const signal = stopping.signal
    const started = now()
    // Renewed while the work runs (a large copy takes a while); a failed renewal leaves the claim lost.
    let renewing = Promise.resolve()
    const renewal = setInterval(() => {
      renewing = renewing.then(async () => { await claim.renew().catch(() => false) })
    }, queue.leaseMs / 4)
    renewal.unref()
    let result: WorkResult<R>
    try {
      result = await work(claim, signal)
    } catch (err) {
      result = { ok: false, error: String((err as Error).message ?? err).slice(0, MAX_ERROR_LENGTH) }
    } finally {
      clearInterval(renewal)
      await renewing
    }
    if (!claim.held) return now() // taken over: whoever holds it now records it
    const base = { destination, id, entry: claim.entry, attempt: claim.attempt, durationMs: now() - started, ...(result.value === undefined ? {} : { value: result.value }) }
    if (result.ok) {
      await claim.complete()
      await settle({ ...base, outcome: 'done' })
      return undefined
    }
    if (signal.aborted) {
      await claim.release().catch(() => {}) // shutting down: not an attempt, free it for the others
      return Infinity
    }
    const failed = await claim.fail(result.error)
    await settle({ ...base, error: result.error, ...failed })
    return failed.outcome === 'retrying' ? failed.nextAttemptAt : undefined
  }

  /** Works a destination's queue oldest first; returns when to look again (Infinity: when told). */
  async function workQueue (destination: string): Promise<number> {
    let earliest = Infinity
    for await (const id of queue.ids(destination, 'pending', QUEUE_PAGE)) {
      if (stopped) return Infinity
      const until = await attempt(destination, id)
      if (until === undefined) continue
      if (ordered) return until
      earliest = Math.min(earliest, until)
    }
    return earliest
  }

  /** One pass over every queue; returns when the earliest held queue may move. */
  async function pass (): Promise<number> {
    const destinations = await queue.layout.destinations('pending')
    let earliest = Infinity
    for (let i = 0; i < destinations.length && !stopped; i += parallel) {
      const until = await Promise.all(destinations.slice(i, i + parallel).map(workQueue))
      earliest = Math.min(earliest, ...until)
    }
    return earliest
  }

  function schedule (delayMs: number): void {
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(kick, Math.max(0, delayMs))
    timer.unref() // the loop never keeps a process alive
  }

  /** Runs a pass now, or right after the one running. */
  function kick (): void {
    if (stopped) return
    if (running !== undefined) {
      again = true
      return
    }
    let resumeAt = Infinity
    running = pass()
      .then(until => { resumeAt = until }, (err: unknown) => { log.warn({ err }, `${name}: a pass failed; it is tried again`) })
      .finally(() => {
        running = undefined
        if (stopped) return
        const wait = again ? 0 : Math.min(pollMs, Math.max(10, resumeAt - now()))
        again = false
        schedule(wait)
      })
  }

  return {
    start (): void {
      if (!stopped) return
      stopped = false
      stopping = new AbortController()
      kick()
    },

    /** An entry was queued here: work it without waiting for the poll. */
    wake (): void {
      if (!stopped) schedule(0)
    },

    /** Runs one pass now, whether the loop runs or not (tests, the CLI); returns once it is done. */
    async drain (): Promise<void> {
      const was = stopped
      if (was) stopping = new AbortController()
      stopped = false
      try { await pass() } finally { stopped = was }
    },

    /** Stops the loop: work in flight is told to stop (signal) and entries it gives up are freed for the others. */
    async stop (): Promise<void> {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      stopping.abort()
      await running
    }
  }
}

export type QueueWorker = ReturnType<typeof createQueueWorker>
