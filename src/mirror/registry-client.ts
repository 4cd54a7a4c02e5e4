// A client for remote OCI/Docker registries, used by the pull-through cache and by sync/replication.
// Auth: anonymous first; on a 401 the WWW-Authenticate challenge decides: Basic credentials, or the Docker
// token flow (GET realm?service=&scope= with Basic credentials when configured). Tokens are cached per scope
// until they expire. Manifest bytes are verified against the digest asked for and Docker-Content-Digest; blob
// bodies are streamed, never buffered.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { Descriptor } from '../types/generated/index.js'

export interface RemoteRegistry {
  /** e.g. http://127.0.0.1:5001 or https://registry.example */
  url: string
  username?: string
  password?: string
  /** Per request, until the response headers arrive (bodies may take longer). Default 30 s. */
  timeoutMs?: number
}

export interface RemoteManifest { digest: string, mediaType: string, size: number }

/** A failed remote call. `unavailable`: a network error, timeout, 5xx or 429 (worth serving stale content). */
export class RemoteError extends Error {
  readonly status?: number
  readonly unavailable: boolean
  constructor (message: string, options: { status?: number, unavailable: boolean, cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'RemoteError'
    if (options.status !== undefined) this.status = options.status
    this.unavailable = options.unavailable
  }
}

export interface RegistryClient {
  /** undefined: 404 */
  headManifest: (repo: string, reference: string) => Promise<RemoteManifest | undefined>
  getManifest: (repo: string, reference: string) => Promise<(RemoteManifest & { bytes: Buffer }) | undefined>
  headBlob: (repo: string, digest: string) => Promise<{ size: number } | undefined>
  /** `size` is the length of `body` (the range's length when a range is asked for). Ranges are inclusive. */
  getBlob: (repo: string, digest: string, range?: { start: number, end: number }) => Promise<{ size: number, body: Readable } | undefined>
  /**
   * Follows Link pages as far as the caller reads (stop reading, and no further page is asked for). `n` and `last`
   * go to the first request, so a caller that wants one page asks for one. A repository the remote does not know
   * throws RemoteError with status 404.
   */
  listTags: (repo: string, page?: { n?: number, last?: string }) => AsyncIterable<string>
  /** The referrers API, falling back to the tag schema (sha256-<hex>) when the remote has no referrers API. */
  referrers: (repo: string, digest: string, artifactType?: string) => Promise<Descriptor[]>
  /** Skips when HEAD finds the blob; otherwise POST an upload then PUT ?digest= with the body. */
  pushBlob: (repo: string, digest: string, size: number, body: () => Readable) => Promise<void>
  /** Returns the digest. */
  putManifest: (repo: string, reference: string, mediaType: string, bytes: Buffer) => Promise<string>
}

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json'
].join(', ')

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const DIGEST = /^(sha256|sha512):([a-f0-9]+)$/

interface Challenge { scheme: string, params: Record<string, string> }

/** Parses `Bearer realm="...",service="...",scope="..."` (or `Basic realm="..."`). */
export function parseChallenge (header: string | null): Challenge | undefined {
  if (header === null) return undefined
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header)
  if (match === null) return undefined
  const params: Record<string, string> = {}
  const pair = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g
  for (const p of (match[2] as string).matchAll(pair)) {
    params[(p[1] as string).toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1')
  }
  return { scheme: (match[1] as string).toLowerCase(), params }
}

function unavailableStatus (status: number): boolean {
  return status >= 500 || status === 429
}

function digestBytes (digest: string, bytes: Buffer): string {
  const algorithm = digest.startsWith('sha512:') ? 'sha512' : 'sha256'
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`
}

function nextLink (header: string | null, base: string): string | undefined {
  if (header === null) return undefined
  for (const part of header.split(',')) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part)
    if (match !== null) return new URL(match[1] as string, base).toString()
  }
  return undefined
}

export function createRegistryClient (remote: RemoteRegistry): RegistryClient {
  const base = remote.url.replace(/\/+$/, '')
  const timeoutMs = remote.timeoutMs ?? 30_000
  const basic = remote.username !== undefined
    ? `Basic ${Buffer.from(`${remote.username}:${remote.password ?? ''}`).toString('base64')}`
    : undefined
  // Authorization per scope: a bearer token with its expiry, or Basic when the remote asked for it.
  const tokens = new Map<string, { authorization: string, expiresAt: number }>()
  let basicChallenged = false

  function authorizationFor (scope: string): string | undefined {
    const cached = tokens.get(scope)
    if (cached !== undefined && cached.expiresAt > Date.now()) return cached.authorization
    if (basicChallenged) return basic
    return undefined
  }

  async function timedFetch (url: string, init: RequestInit): Promise<Response> {
    const controller = new AbortController()
    const timer = setTimeout(() => { controller.abort(new Error(`timed out after ${timeoutMs} ms`)) }, timeoutMs)
    try {
      return await fetch(url, { ...init, signal: controller.signal })
    } catch (err) {
      throw new RemoteError(`${init.method ?? 'GET'} ${url}: ${(err as Error).message}`, { unavailable: true, cause: err })
    } finally {
      clearTimeout(timer)
    }
  }

  /** Answers a challenge: remembers Basic, or fetches a bearer token for the scope. */
  async function authenticate (challenge: Challenge, scope: string): Promise<boolean> {
    if (challenge.scheme === 'basic') {
      if (basic === undefined || basicChallenged) return false
      basicChallenged = true
      return true
    }
    if (challenge.scheme !== 'bearer' || challenge.params.realm === undefined) return false
    const url = new URL(challenge.params.realm)
    if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service)
    url.searchParams.set('scope', challenge.params.scope ?? scope)
    const headers: Record<string, string> = {}
    if (basic !== undefined) headers.authorization = basic
    const res = await timedFetch(url.toString(), { headers })
    if (!res.ok) {
      await res.body?.cancel()
      throw new RemoteError(`token request to ${url.origin}${url.pathname} failed: ${res.status}`, { status: res.status, unavailable: unavailableStatus(res.status) })
    }
    const body = await res.json() as { token?: string, access_token?: string, expires_in?: number }
    const token = body.token ?? body.access_token
    if (token === undefined || token === '') throw new RemoteError('token response carries no token', { unavailable: false })
    const lifetime = Math.max(30, body.expires_in ?? 60)
    tokens.set(scope, { authorization: `Bearer ${token}`, expiresAt: Date.now() + (lifetime - 10) * 1000 })
    return true
  }

  /** One request with auth: anonymous or cached credentials first, then one retry after answering a 401. */
  async function request (method: string, pathOrUrl: string, scope: string, init: { headers?: Record<string, string>, body?: () => BodyInit, length?: number } = {}): Promise<Response> {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${base}${pathOrUrl}`
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...init.headers }
      const authorization = authorizationFor(scope)
      if (authorization !== undefined) headers.authorization = authorization
      if (init.length !== undefined) headers['content-length'] = String(init.length)
      const body = init.body?.()
      const res = await timedFetch(url, { method, headers, ...(body === undefined ? {} : { body, duplex: 'half' } as RequestInit) })
      if (res.status !== 401 || attempt > 0) return res
      await res.body?.cancel()
      const challenge = parseChallenge(res.headers.get('www-authenticate'))
      if (challenge === undefined || !await authenticate(challenge, scope)) return res
    }
  }

  async function fail (res: Response, what: string): Promise<never> {
    let detail = ''
    try { detail = (await res.text()).slice(0, 200) } catch {}
    throw new RemoteError(`${what}: upstream answered ${res.status}${detail === '' ? '' : ` ${detail}`}`, { status: res.status, unavailable: unavailableStatus(res.status) })
  }

  const pull = (repo: string): string => `repository:${repo}:pull`
  const push = (repo: string): string => `repository:${repo}:pull,push`

  function manifestOf (res: Response, reference: string, bytes?: Buffer): RemoteManifest {
    const headerDigest = res.headers.get('docker-content-digest') ?? undefined
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? ''
    const size = bytes?.length ?? Number(res.headers.get('content-length') ?? NaN)
    let digest = headerDigest ?? (DIGEST.test(reference) ? reference : undefined)
    if (bytes !== undefined) {
      const asked = DIGEST.test(reference) ? reference : undefined
      for (const expected of [asked, headerDigest]) {
        if (expected !== undefined && DIGEST.test(expected) && digestBytes(expected, bytes) !== expected) {
          throw new RemoteError(`manifest ${reference}: bytes do not match ${expected}`, { unavailable: false })
        }
      }
      digest = asked ?? headerDigest ?? digestBytes('sha256:', bytes)
    }
    if (digest === undefined) throw new RemoteError(`manifest ${reference}: upstream sent no Docker-Content-Digest`, { unavailable: false })
    return { digest, mediaType, size }
  }

  async function headManifest (repo: string, reference: string): Promise<RemoteManifest | undefined> {
    const res = await request('HEAD', `/v2/${repo}/manifests/${reference}`, pull(repo), { headers: { accept: MANIFEST_ACCEPT } })
    if (res.status === 404) return undefined
    if (!res.ok) return await fail(res, `HEAD manifest ${repo}:${reference}`)
    if (res.headers.get('docker-content-digest') === null) {
      // Some registries omit the digest on HEAD: a GET tells.
      const full = await getManifest(repo, reference)
      return full === undefined ? undefined : { digest: full.digest, mediaType: full.mediaType, size: full.size }
    }
    return manifestOf(res, reference)
  }

  async function getManifest (repo: string, reference: string): Promise<(RemoteManifest & { bytes: Buffer }) | undefined> {
    const res = await request('GET', `/v2/${repo}/manifests/${reference}`, pull(repo), { headers: { accept: MANIFEST_ACCEPT } })
    if (res.status === 404) { await res.body?.cancel(); return undefined }
    if (!res.ok) return await fail(res, `GET manifest ${repo}:${reference}`)
    const bytes = Buffer.from(await res.arrayBuffer())
    return { ...manifestOf(res, reference, bytes), bytes }
  }

  async function headBlob (repo: string, digest: string): Promise<{ size: number } | undefined> {
    const res = await request('HEAD', `/v2/${repo}/blobs/${digest}`, pull(repo))
    if (res.status === 404) return undefined
    if (!res.ok) return await fail(res, `HEAD blob ${repo}@${digest}`)
    return { size: Number(res.headers.get('content-length') ?? NaN) }
  }

  async function getBlob (repo: string, digest: string, range?: { start: number, end: number }): Promise<{ size: number, body: Readable } | undefined> {
    const headers: Record<string, string> = range === undefined ? {} : { range: `bytes=${range.start}-${range.end}` }
    const res = await request('GET', `/v2/${repo}/blobs/${digest}`, pull(repo), { headers })
    if (res.status === 404) { await res.body?.cancel(); return undefined }
    if (!res.ok) return await fail(res, `GET blob ${repo}@${digest}`)
    if (range !== undefined && res.status !== 206) {
      await res.body?.cancel()
      throw new RemoteError(`GET blob ${repo}@${digest}: upstream ignored the range`, { status: res.status, unavailable: false })
    }
    const body = res.body === null ? Readable.from([]) : Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>)
    return { size: Number(res.headers.get('content-length') ?? NaN), body }
  }

  async function * listTags (repo: string, page: { n?: number, last?: string } = {}): AsyncIterable<string> {
    const query = new URLSearchParams()
    if (page.n !== undefined) query.set('n', String(page.n))
    if (page.last !== undefined) query.set('last', page.last)
    let url: string | undefined = `${base}/v2/${repo}/tags/list${query.size === 0 ? '' : `?${query.toString()}`}`
    while (url !== undefined) {
      const res = await request('GET', url, pull(repo))
      if (!res.ok) await fail(res, `GET tags ${repo}`)
      const body = await res.json() as { tags?: string[] | null }
      for (const tag of body.tags ?? []) yield tag
      url = nextLink(res.headers.get('link'), url)
    }
  }

  async function referrers (repo: string, digest: string, artifactType?: string): Promise<Descriptor[]> {
    const query = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`
    const res = await request('GET', `/v2/${repo}/referrers/${digest}${query}`, pull(repo), { headers: { accept: OCI_INDEX } })
    let manifests: Descriptor[]
    if (res.ok && (res.headers.get('content-type') ?? '').startsWith(OCI_INDEX)) {
      manifests = ((await res.json()) as { manifests?: Descriptor[] }).manifests ?? []
      // A filter the remote did not apply (no OCI-Filters-Applied) is applied here.
      if (artifactType !== undefined && !(res.headers.get('oci-filters-applied') ?? '').includes('artifactType')) {
        manifests = manifests.filter(m => m.artifactType === artifactType)
      }
      return manifests
    }
    if (res.ok || res.status === 404 || res.status === 405 || res.status === 400) {
      await res.body?.cancel()
      const fallback = await getManifest(repo, digest.replace(':', '-'))
      manifests = fallback === undefined ? [] : ((JSON.parse(fallback.bytes.toString('utf8')) as { manifests?: Descriptor[] }).manifests ?? [])
      return artifactType === undefined ? manifests : manifests.filter(m => m.artifactType === artifactType)
    }
    return await fail(res, `GET referrers ${repo}@${digest}`)
  }

  async function pushBlob (repo: string, digest: string, size: number, body: () => Readable): Promise<void> {
    const head = await request('HEAD', `/v2/${repo}/blobs/${digest}`, push(repo))
    if (head.ok) return
    if (head.status !== 404) await fail(head, `HEAD blob ${repo}@${digest}`)
    const start = await request('POST', `/v2/${repo}/blobs/uploads/`, push(repo), { length: 0 })
    await start.body?.cancel()
    if (start.status !== 202) await fail(start, `POST upload ${repo}`)
    const location = start.headers.get('location')
    if (location === null) throw new RemoteError(`POST upload ${repo}: no Location`, { unavailable: false })
    const url = new URL(location, `${base}/`)
    url.searchParams.set('digest', digest)
    const put = await request('PUT', url.toString(), push(repo), {
      headers: { 'content-type': 'application/octet-stream' },
      length: size,
      body: () => Readable.toWeb(body()) as unknown as BodyInit
    })
    if (put.status !== 201) await fail(put, `PUT blob ${repo}@${digest}`)
    await put.body?.cancel()
  }

  async function putManifest (repo: string, reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    const res = await request('PUT', `/v2/${repo}/manifests/${reference}`, push(repo), {
      headers: { 'content-type': mediaType },
      length: bytes.length,
      body: () => new Uint8Array(bytes)
    })
    if (res.status !== 201) await fail(res, `PUT manifest ${repo}:${reference}`)
    await res.body?.cancel()
    return res.headers.get('docker-content-digest') ?? digestBytes(DIGEST.test(reference) ? reference : 'sha256:', bytes)
  }

  return { headManifest, getManifest, headBlob, getBlob, listTags, referrers, pushBlob, putManifest }
}
