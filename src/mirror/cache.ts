// The pull-through cache: /v2 reads of names under a mirror prefix that Berth does not hold (or whose tag is
// older than its TTL) are fetched from the upstream and stored through the registry services, so the CNR
// index, quotas, webhooks and GC see mirrored content as any other push. Names outside every prefix never
// get here (the handlers only call in when `mirrorFor` matches).
//
// Blobs stream to the client while they are stored: the upstream body feeds both the store (putMonolithic,
// which publishes only bytes that match the digest) and the response, whose end is held back until the store
// has verified them; a mismatch cuts the response short. Concurrent pulls of one blob in a process fetch it
// once: the others wait for the stored copy (single-flight). Replicas do not share in-flight fetches: each
// may fetch a blob once, and both store the same content-addressed bytes.
//
// Tags remember when they were last checked upstream in the store (paths.mirrorTagChecked), so every replica
// agrees on freshness. When the upstream is unavailable, what is held is served with a Berth-Mirror header.
import type { Logger } from 'pino'
import { PassThrough, Transform, type Readable } from 'node:stream'
import { forbidden } from '../auth/errors.js'
import { RegistryError } from '../errors/registry-error.js'
import type { MirrorResult } from '../metrics/index.js'
import type { OciContext } from '../oci/context.js'
import { looksLikeDigest, parseDigest } from '../registry/digest.js'
import { isIndexMediaType } from '../registry/manifest-schemas.js'
import type { Registry } from '../registry/index.js'
import { readRecord, writeRecord } from '../registry/records.js'
import { isValidTag } from '../registry/reference.js'
import { paths } from '../storage/paths.js'
import { mirrorFor, type MirrorConfig } from './config.js'
import { MIRROR_HEADER, noteMirror, type MirrorNote } from './notes.js'
import { createRegistryClient, RemoteError, type RegistryClient } from './registry-client.js'

interface TagChecked { checkedAt: string, digest: string }

export interface MirrorCacheOptions {
  log: Logger
  onRequest?: (mirror: string, result: MirrorResult) => void
  onFetched?: (mirror: string, bytes: number) => void
}

interface Target {
  mirror: MirrorConfig
  client: RegistryClient
  upstreamName: string
}

/** The manifest as JSON, or undefined when it is not (manifests.put then says what is wrong with it). */
function parseManifest (bytes: Buffer): { config?: { digest?: unknown }, manifests?: unknown } | undefined {
  try {
    return JSON.parse(bytes.toString('utf8')) as { config?: { digest?: unknown }, manifests?: unknown } | undefined
  } catch {
    return undefined
  }
}

/**
 * A pass-through that holds back the last byte until `verification` settles: the client's response can only
 * complete once the store has verified the bytes against their digest, and is cut short otherwise. Only one
 * byte is held, so a slow upstream's large chunk reaches the client as it arrives.
 */
function holdingLastByte (verification: Promise<Error | undefined>): Transform {
  let held: Buffer | undefined
  return new Transform({
    transform (chunk: Buffer, _encoding, callback) {
      if (chunk.length === 0) { callback(); return }
      if (held !== undefined) this.push(held)
      held = chunk.subarray(-1)
      callback(null, chunk.length > 1 ? chunk.subarray(0, -1) : undefined)
    },
    flush (callback) {
      verification.then(err => { callback(err ?? null, err === undefined ? held : undefined) }, callback)
    }
  })
}

export function createMirrorCache (registry: Registry, mirrors: readonly MirrorConfig[], options: MirrorCacheOptions) {
  const { driver } = registry
  const { log } = options
  const clients = new Map(mirrors.map(m => [m.prefix, createRegistryClient({
    url: m.upstream,
    ...(m.username === undefined ? {} : { username: m.username, password: m.password })
  })]))
  /** Fetches under way in this process, by repository and reference or digest (single-flight). */
  const inFlight = new Map<string, Promise<void>>()
  const blobKey = (name: string, digest: string): string => `blob ${name}@${digest}`

  function targetOf (name: string): Target | undefined {
    const found = mirrorFor(mirrors, name)
    if (found === undefined) return undefined
    return { ...found, client: clients.get(found.mirror.prefix) as RegistryClient }
  }

  function count (t: Target, result: MirrorResult, what: Record<string, unknown>, err?: unknown): void {
    options.onRequest?.(t.mirror.prefix, result)
    const entry = { mirror: t.mirror.prefix, upstream: t.mirror.upstream, result, ...what, ...(err === undefined ? {} : { err: (err as Error).message }) }
    if (result === 'error' || result === 'stale') log.warn(entry, `mirror ${result}`)
    else log.info(entry, `mirror ${result}`)
  }

  /** A fetch shared by every caller asking for `key` meanwhile. */
  async function once (key: string, fetch: () => Promise<void>): Promise<void> {
    let running = inFlight.get(key)
    if (running === undefined) {
      running = fetch().finally(() => { inFlight.delete(key) })
      inFlight.set(key, running)
    }
    await running
  }

  /** Fetches a blob into the store (no client attached), once per process. */
  async function storeBlob (t: Target, name: string, digest: string): Promise<void> {
    await once(blobKey(name, digest), async () => {
      if (await registry.blobs.exists(name, digest)) return
      const remote = await t.client.getBlob(t.upstreamName, digest)
      if (remote === undefined) return
      await registry.uploads.putMonolithic(name, digest, metered(t, remote.body))
    })
  }

  function metered (t: Target, body: Readable): Readable {
    let bytes = 0
    body.on('data', (chunk: Buffer) => { bytes += chunk.length })
    body.once('close', () => { options.onFetched?.(t.mirror.prefix, bytes) })
    return body
  }

  /**
   * Fetches a manifest (by tag or digest) and stores it; with it, the config blob of an image manifest, and with
   * `children`, first the child manifests of an index (the CNR reads a release index's children: the index's
   * tag is set, and projected into the CNR index, only once they are held).
   */
  async function storeManifest (t: Target, name: string, reference: string, { children = false } = {}): Promise<boolean> {
    let stored = false
    await once(`manifest ${name}:${reference}`, async () => {
      const remote = await t.client.getManifest(t.upstreamName, reference)
      if (remote === undefined) return
      options.onFetched?.(t.mirror.prefix, remote.bytes.length)
      const doc = parseManifest(remote.bytes)
      // Layers and child manifests come on demand; the config is small and a stored manifest needs it.
      if (typeof doc?.config?.digest === 'string') await storeBlob(t, name, doc.config.digest)
      if (children) await storeChildren(t, name, doc)
      await registry.manifests.put(name, reference, remote.bytes, remote.mediaType, [], { sparse: true })
      if (!looksLikeDigest(reference)) await markChecked(name, reference, remote.digest)
      stored = true
    })
    return stored
  }

  /** The child manifests of an index that the repository does not hold; returns how many were stored. */
  async function storeChildren (t: Target, name: string, doc: { manifests?: unknown } | undefined): Promise<number> {
    const entries = Array.isArray(doc?.manifests) ? doc.manifests as Array<{ digest?: unknown }> : []
    let stored = 0
    for (const entry of entries) {
      if (typeof entry?.digest !== 'string' || !looksLikeDigest(entry.digest) || await holdsManifest(name, entry.digest)) continue
      if (await storeManifest(t, name, entry.digest)) stored++
    }
    return stored
  }

  async function markChecked (name: string, tag: string, digest: string): Promise<void> {
    await writeRecord(driver, paths.mirrorTagChecked(name, tag), { checkedAt: new Date().toISOString(), digest } satisfies TagChecked)
  }

  /** What the Berth-Mirror header says: the OCI handlers set it on their reply, other reads through notes.ts. */
  const headerOf = (c: OciContext): MirrorNote => value => { c.reply.header(MIRROR_HEADER, value) }

  const whyFailed = (err: RemoteError): string => err.unavailable ? 'upstream unavailable' : `upstream error ${err.status ?? ''}`.trim()

  function upstreamFailed (note: MirrorNote, t: Target, err: unknown, held: boolean, what: Record<string, unknown>): void {
    if (!(err instanceof RemoteError)) throw err
    const why = whyFailed(err)
    note(held ? `stale; ${why}` : why)
    count(t, held ? 'stale' : 'error', what, err)
  }

  /** Whether a check recorded at `checked` is still within the mirror's TTL. */
  function withinTtl (t: Target, checked: { checkedAt: string } | undefined): boolean {
    return checked !== undefined && Date.now() - Date.parse(checked.checkedAt) < t.mirror.ttlSeconds * 1000
  }

  async function holdsManifest (name: string, digest: string): Promise<boolean> {
    return await driver.stat(paths.manifestLink(name, digest)) !== undefined
  }

  /**
   * Makes the store hold the manifest the upstream has for a tag, when it lacks it or the tag's TTL has passed
   * (a HEAD then tells whether it moved). With `children`, an index's child manifests are held too.
   */
  async function refreshTag (t: Target, name: string, tag: string, note: MirrorNote, { children = false }): Promise<void> {
    const what = { repository: name, reference: tag }
    const held = await registry.tags.get(name, tag)
    if (held === undefined) {
      try {
        if (await storeManifest(t, name, tag, { children })) count(t, 'miss', what)
      } catch (err) { upstreamFailed(note, t, err, false, what) }
      return
    }
    try {
      // A tag first pulled through /v2 holds only the index: its children are fetched now. The tag is told as
      // set again, so that its readers (the CNR index) re-read what it names now that it is whole.
      if (children && isIndexMediaType(held.mediaType) &&
        await storeChildren(t, name, parseManifest((await registry.manifests.read(held)).bytes)) > 0) {
        await registry.events.emit('tag-set', { repository: name, tag, ...held })
      }
      const checked = await readRecord<TagChecked>(driver, paths.mirrorTagChecked(name, tag))
      if (withinTtl(t, checked)) {
        count(t, 'hit', what)
        return
      }
      const head = await t.client.headManifest(t.upstreamName, tag)
      // Gone upstream: the copy held stays served (a mirror outlives its upstream's deletions).
      if (head === undefined || head.digest === held.digest) {
        await markChecked(name, tag, held.digest)
        count(t, 'hit', { ...what, revalidated: true })
        return
      }
      await storeManifest(t, name, tag, { children })
      count(t, 'miss', { ...what, movedFrom: held.digest, movedTo: head.digest })
    } catch (err) { upstreamFailed(note, t, err, true, what) }
  }

  /**
   * A blob stored for another repository is linked into this one once the upstream confirms this repository
   * has it (a HEAD, no bytes). Never linked without asking: that would show any repository's blobs under the
   * prefix. True when it is linked now.
   */
  async function linkIfUpstreamHas (t: Target, name: string, digest: string): Promise<boolean> {
    if (await registry.blobs.storedSize(digest) === undefined || await t.client.headBlob(t.upstreamName, digest) === undefined) return false
    if (!await registry.blobs.mount(name, digest, undefined)) return false
    count(t, 'hit', { repository: name, digest, mounted: true })
    return true
  }

  /** Waits for the blob to be stored, by the fetch under way or a new one; a failure leaves it missing (a 404). */
  async function awaitStored (t: Target, name: string, digest: string, note: MirrorNote): Promise<void> {
    const what = { repository: name, digest }
    try {
      await storeBlob(t, name, digest)
      count(t, 'miss', { ...what, shared: true })
    } catch (err) {
      // The fetch failed, or its bytes did not match the digest.
      upstreamFailed(note, t, err instanceof RemoteError ? err : new RemoteError((err as Error).message, { unavailable: false }), false, what)
    }
  }

  /**
   * Fetches a blob into the store and returns its bytes as they arrive, for one client: the end of that stream
   * waits until the store has verified them, and a mismatch cuts it short. A client that leaves does not stop
   * the store. Concurrent callers find the fetch in `inFlight` and wait for the stored copy. Undefined when it
   * was stored meanwhile or the upstream lacks it.
   */
  async function fetchStreaming (t: Target, name: string, digest: string): Promise<{ body: Readable, size: number } | undefined> {
    const key = blobKey(name, digest)
    const what = { repository: name, digest }
    // Registered before the first await, so that every concurrent request finds this fetch.
    let settle: { resolve: () => void, reject: (err: unknown) => void } = { resolve: () => {}, reject: () => {} }
    const storing = new Promise<void>((resolve, reject) => { settle = { resolve, reject } })
    storing.catch(() => {})
    inFlight.set(key, storing.finally(() => { inFlight.delete(key) }))
    inFlight.get(key)?.catch(() => {})
    let remote: Awaited<ReturnType<RegistryClient['getBlob']>>
    try {
      // Stored by a fetch that ended between the first look and now: served from the store.
      remote = await registry.blobs.exists(name, digest) ? undefined : await t.client.getBlob(t.upstreamName, digest)
    } catch (err) {
      settle.reject(err)
      throw err
    }
    if (remote === undefined) { settle.resolve(); return undefined }
    const toStore = new PassThrough()
    let verified: (err?: Error) => void = () => {}
    const verification = new Promise<Error | undefined>(resolve => { verified = resolve })
    const toClient = holdingLastByte(verification)
    const source = metered(t, remote.body)
    source.pipe(toStore)
    source.pipe(toClient)
    source.once('error', err => { toStore.destroy(err); toClient.destroy(err) })
    toClient.once('close', () => { source.unpipe(toClient) })
    registry.uploads.putMonolithic(name, digest, toStore).then(() => {
      verified()
      settle.resolve()
    }, err => {
      const error = err as Error
      log.warn({ mirror: t.mirror.prefix, ...what, err: error.message }, 'mirror blob not stored')
      verified(error)
      settle.reject(err)
    })
    count(t, 'miss', { ...what, size: remote.size })
    return { body: toClient, size: remote.size }
  }

  const cache = {
    /** Whether `name` is under a mirror prefix (nothing else costs more than this). */
    covers (name: string): boolean {
      return mirrorFor(mirrors, name) !== undefined
    },

    /** Refuses pushes and deletes into a mirror prefix whose entry does not allow them (OCI DENIED, 403). */
    assertWritable (name: string): void {
      const found = mirrorFor(mirrors, name)
      if (found !== undefined && !found.mirror.allowPush) {
        throw forbidden(`${name} is under the mirror prefix "${found.mirror.prefix}/" of ${found.mirror.upstream}, which is read-only here: push to the upstream instead`)
      }
    },

    /**
     * Before a manifest GET or HEAD: makes the store hold the manifest the upstream has for the reference, when
     * it lacks it or the tag's TTL has passed. Afterwards the handler serves from the store as usual.
     */
    async prepareManifest (c: OciContext): Promise<void> {
      const t = targetOf(c.name)
      if (t === undefined) return
      const { name, target: reference } = c
      const what = { repository: name, reference }
      if (looksLikeDigest(reference)) {
        parseDigest(reference)
        if (await holdsManifest(name, reference)) { count(t, 'hit', what); return } // by digest: never expires
        try {
          if (await storeManifest(t, name, reference)) count(t, 'miss', what)
        } catch (err) { upstreamFailed(headerOf(c), t, err, false, what) }
        return
      }
      if (!isValidTag(reference)) return
      await refreshTag(t, name, reference, headerOf(c), {})
    },

    /**
     * For the CNR and /packages reads, which read OCI tags: makes the store hold the tag of a mirrored name as a
     * manifest GET would (and, for an index, its child manifests: a CNR release is one). What the Berth-Mirror
     * header would say goes to the read's note (notes.ts). Names outside every prefix return at once.
     */
    async ensureTag (name: string, tag: string): Promise<void> {
      const t = targetOf(name)
      if (t === undefined || !isValidTag(tag)) return
      await refreshTag(t, name, tag, noteMirror, { children: true })
    },

    /**
     * The upstream's whole tags list of a mirrored name (for CNR release queries, which choose among all
     * releases), or undefined when the name is outside every prefix or the upstream cannot answer.
     */
    async allUpstreamTags (name: string): Promise<string[] | undefined> {
      const t = targetOf(name)
      if (t === undefined) return undefined
      try {
        const tags: string[] = []
        for await (const tag of t.client.listTags(t.upstreamName)) tags.push(tag)
        return tags
      } catch (err) {
        if (!(err instanceof RemoteError)) throw err
        if (err.status === 404) return undefined
        count(t, 'error', { repository: name, list: 'tags' }, err)
        noteMirror(`stale; ${whyFailed(err)}`) // the read chooses among the releases held
        return undefined
      }
    },

    /**
     * Before a referrers listing: asks the upstream for the subject's referrers (its referrers API, else the tag
     * schema) when they were never asked for or their TTL has passed, and stores each referrer manifest not held
     * (with its config; layers come on demand). The handler then lists from the store as usual. Referrers gone
     * upstream stay listed, as deleted tags stay served.
     */
    async prepareReferrers (c: OciContext): Promise<void> {
      const t = targetOf(c.name)
      if (t === undefined) return
      const { name, target: subject } = c
      parseDigest(subject)
      const what = { repository: name, referrersOf: subject }
      const key = paths.mirrorReferrersChecked(name, subject)
      const checked = await readRecord<{ checkedAt: string }>(driver, key)
      if (withinTtl(t, checked)) { count(t, 'hit', what); return }
      try {
        const listed = await t.client.referrers(t.upstreamName, subject)
        let stored = 0
        for (const referrer of listed) {
          if (await holdsManifest(name, referrer.digest)) continue
          if (await storeManifest(t, name, referrer.digest)) stored++
        }
        await writeRecord(driver, key, { checkedAt: new Date().toISOString() })
        count(t, stored > 0 ? 'miss' : 'hit', { ...what, listed: listed.length, stored })
      } catch (err) { upstreamFailed(headerOf(c), t, err, checked !== undefined, what) }
    },

    /**
     * A blob GET or HEAD of a mirrored name that the repository does not link: answers it from the upstream
     * (storing the bytes as they stream through) and returns true, or returns false to let the handler answer
     * from the store (a hit, a blob now stored, or a 404). A boolean, not the reply: a Fastify reply is a
     * thenable that resolves to undefined once sent, so awaiting it would read as "not answered".
     */
    async serveBlob (c: OciContext, head: boolean): Promise<boolean> {
      const t = targetOf(c.name)
      if (t === undefined) return false
      const { name, target: digest, reply } = c
      parseDigest(digest)
      const what = { repository: name, digest }
      if (await registry.blobs.exists(name, digest)) {
        count(t, 'hit', what)
        return false
      }
      try {
        if (await linkIfUpstreamHas(t, name, digest)) return false
        if (head) {
          const remote = await t.client.headBlob(t.upstreamName, digest)
          if (remote === undefined) return false
          count(t, 'miss', what)
          reply.header('Docker-Content-Digest', digest).type('application/octet-stream')
          if (Number.isFinite(remote.size)) reply.header('Content-Length', remote.size)
          reply.send()
          return true
        }
        // Another request is fetching it, or the client wants a range: wait for the stored copy.
        if (inFlight.has(blobKey(name, digest)) || c.request.headers.range !== undefined) {
          await awaitStored(t, name, digest, headerOf(c))
          return false
        }
        const fetched = await fetchStreaming(t, name, digest)
        if (fetched === undefined) return false
        reply.header('Docker-Content-Digest', digest).header('Accept-Ranges', 'bytes').type('application/octet-stream')
        if (Number.isFinite(fetched.size)) reply.header('Content-Length', fetched.size)
        reply.send(fetched.body)
        return true
      } catch (err) {
        if (err instanceof RegistryError) throw err
        upstreamFailed(headerOf(c), t, err, false, what)
        return false
      }
    },

    /**
     * For the CNR and /packages downloads: a blob of a mirrored name that the repository does not link is
     * fetched from the upstream and returned as it streams into the store, verified by digest as a /v2 blob GET
     * is. Undefined when the caller should open the stored copy: it is held (or now is), or the upstream failed
     * and the caller's read answers 404 in its dialect.
     */
    async openBlob (name: string, digest: string): Promise<Readable | undefined> {
      const t = targetOf(name)
      if (t === undefined || !looksLikeDigest(digest)) return undefined
      const what = { repository: name, digest }
      if (await registry.blobs.exists(name, digest)) { count(t, 'hit', what); return undefined }
      try {
        if (await linkIfUpstreamHas(t, name, digest)) return undefined
        if (inFlight.has(blobKey(name, digest))) {
          await awaitStored(t, name, digest, noteMirror)
          return undefined
        }
        return (await fetchStreaming(t, name, digest))?.body
      } catch (err) {
        if (err instanceof RegistryError) throw err
        upstreamFailed(noteMirror, t, err, false, what)
        return undefined
      }
    },

    /**
     * A page of the tags list of a mirrored name: one page of the upstream's list (`n` + 1 asked for, to know
     * whether more follow without a second request; Link pages are followed only when the upstream sends fewer),
     * else, when the upstream cannot answer, undefined with the stale header (the handler lists the tags held).
     * Undefined too for names outside every prefix and for names the upstream does not know.
     */
    async upstreamTags (c: OciContext, page: { limit: number, last?: string | undefined }): Promise<{ items: string[], truncated: boolean } | undefined> {
      const t = targetOf(c.name)
      if (t === undefined) return undefined
      const what = { repository: c.name, list: 'tags' }
      try {
        const items: string[] = []
        const request = page.last === undefined ? { n: page.limit + 1 } : { n: page.limit + 1, last: page.last }
        for await (const tag of t.client.listTags(t.upstreamName, request)) {
          // Some registries ignore `last`: what is not after it is not on this page.
          if (page.last !== undefined && tag <= page.last) continue
          items.push(tag)
          if (items.length > page.limit) break
        }
        count(t, 'miss', what)
        return { items: items.slice(0, page.limit), truncated: items.length > page.limit }
      } catch (err) {
        if (err instanceof RemoteError && err.status === 404) return undefined
        upstreamFailed(headerOf(c), t, err, true, what)
        return undefined
      }
    }
  }
  return cache
}

export type MirrorCache = ReturnType<typeof createMirrorCache>

/** What the CNR and /packages read paths use of the cache, for the names it covers. */
export type MirrorReads = Pick<MirrorCache, 'covers' | 'ensureTag' | 'openBlob' | 'allUpstreamTags'>
