// OCI test data (random blobs, manifests, indexes) and the push/pull helpers every workflow group uses.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { expect, expectLocation, expectStatus, fail } from './expect.js'
import type { Client, Res } from './http.js'

export interface Ctx {
  client: Client
  /** main repository (OCI_NAMESPACE / OCI_REPO1) */
  repo: string
  /** second repository, target of cross-repository mounts (OCI_CROSSMOUNT_NAMESPACE / OCI_REPO2) */
  repo2: string
  /** short random id of this run; used in names that must not collide with other runs */
  run: string
}

export const MT = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerNonDistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  empty: 'application/vnd.oci.empty.v1+json'
} as const

/** Accept header for manifest requests: every OCI and Docker schema 2 type. */
export const ACCEPT_MANIFESTS = [
  MT.manifest, MT.index,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json'
].join(', ')

export type Alg = 'sha256' | 'sha512'

export function digestOf (data: Buffer, alg: Alg = 'sha256'): string {
  return `${alg}:${createHash(alg).update(data).digest('hex')}`
}

export function randomBlob (size: number): Buffer {
  return randomBytes(size)
}

/** Digest of random content that nobody has pushed. */
export function unknownDigest (alg: Alg = 'sha256'): string {
  return digestOf(randomBytes(32), alg)
}

export const ZERO_DIGEST = `sha256:${'0'.repeat(64)}`

export const EMPTY_JSON = Buffer.from('{}')
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'

/** A random but plausible image config. */
export function configBlob (extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [digestOf(randomBytes(16))] },
    config: { Labels: { 'org.example.berth.nonce': randomUUID() } },
    ...extra
  }))
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  [key: string]: unknown
}

export function descriptor (mediaType: string, data: Buffer, extra: Record<string, unknown> = {}, alg: Alg = 'sha256'): Descriptor {
  return { mediaType, digest: digestOf(data, alg), size: data.length, ...extra }
}

export const EMPTY_DESCRIPTOR: Descriptor = { mediaType: MT.empty, digest: EMPTY_JSON_DIGEST, size: 2 }

/** A manifest as pushed: exact bytes, their digest and the Content-Type it is pushed with. */
export interface Manifest {
  readonly bytes: Buffer
  readonly digest: string
  readonly mediaType: string
  readonly body: Record<string, unknown>
}

export function manifestFrom (body: Record<string, unknown>, mediaType: string, indent?: number): Manifest {
  const bytes = Buffer.from(JSON.stringify(body, null, indent))
  return { bytes, digest: digestOf(bytes), mediaType, body }
}

export interface ImageOptions {
  config: Descriptor
  layers: Descriptor[]
  subject?: Descriptor
  artifactType?: string
  annotations?: Record<string, string>
  /** leave out the top-level mediaType field (still pushed as an OCI image manifest) */
  omitMediaType?: boolean
  /** additional top-level fields */
  extra?: Record<string, unknown>
}

export function imageManifest (o: ImageOptions): Manifest {
  const body: Record<string, unknown> = { schemaVersion: 2 }
  if (o.omitMediaType !== true) body.mediaType = MT.manifest
  if (o.artifactType !== undefined) body.artifactType = o.artifactType
  body.config = o.config
  body.layers = o.layers
  if (o.subject !== undefined) body.subject = o.subject
  if (o.annotations !== undefined) body.annotations = o.annotations
  Object.assign(body, o.extra ?? {})
  return manifestFrom(body, MT.manifest)
}

export interface IndexOptions {
  manifests: Descriptor[]
  subject?: Descriptor
  artifactType?: string
  annotations?: Record<string, string>
}

export function indexManifest (o: IndexOptions): Manifest {
  const body: Record<string, unknown> = { schemaVersion: 2, mediaType: MT.index }
  if (o.artifactType !== undefined) body.artifactType = o.artifactType
  body.manifests = o.manifests
  if (o.subject !== undefined) body.subject = o.subject
  if (o.annotations !== undefined) body.annotations = o.annotations
  return manifestFrom(body, MT.index)
}

/** Descriptor pointing at a manifest (for index entries and subjects). */
export function manifestDescriptor (m: Manifest, extra: Record<string, unknown> = {}): Descriptor {
  return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, ...extra }
}

// --- URL paths ------------------------------------------------------------------------------------------------------

export const paths = {
  blob: (repo: string, digest: string) => `/v2/${repo}/blobs/${digest}`,
  uploads: (repo: string) => `/v2/${repo}/blobs/uploads/`,
  manifest: (repo: string, ref: string) => `/v2/${repo}/manifests/${ref}`,
  tags: (repo: string) => `/v2/${repo}/tags/list`,
  referrers: (repo: string, digest: string) => `/v2/${repo}/referrers/${digest}`,
  catalog: () => '/v2/_catalog'
}

/** Appends query parameters to a Location value, leaving its existing query (e.g. opaque state) untouched. */
export function withQuery (location: string, params: Record<string, string>): string {
  const extra = Object.entries(params).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
  const hash = location.indexOf('#')
  const base = hash >= 0 ? location.slice(0, hash) : location
  return base + (base.includes('?') ? '&' : '?') + extra
}

// --- push helpers ---------------------------------------------------------------------------------------------------

const OCTET = { 'content-type': 'application/octet-stream' }

/** POST an upload session: exactly 202 with a Location. Returns the Location. */
export async function startUpload (client: Client, repo: string): Promise<{ location: string, res: Res }> {
  const res = await client.post(paths.uploads(repo), { headers: { 'content-length': '0' } })
  expectStatus(res, 202)
  return { location: expectLocation(res), res }
}

/** Pushes a blob with POST + monolithic PUT (the most widely supported flow); expects 201. Returns its digest. */
export async function pushBlob (client: Client, repo: string, data: Buffer, alg: Alg = 'sha256'): Promise<string> {
  const digest = digestOf(data, alg)
  const { location } = await startUpload(client, repo)
  const res = await client.put(withQuery(location, { digest }), { body: data, headers: OCTET })
  expectStatus(res, 201)
  expectLocation(res)
  return digest
}

/** PUTs a manifest with its media type as Content-Type; returns the raw response. */
export function putManifest (client: Client, repo: string, ref: string, m: Manifest, query?: Record<string, string | string[]>): Promise<Res> {
  return client.put(paths.manifest(repo, ref), {
    body: m.bytes,
    headers: { 'content-type': m.mediaType },
    ...(query !== undefined ? { query } : {})
  })
}

/** PUTs a manifest and requires 201 + Location (and a matching Docker-Content-Digest if sent). */
export async function pushManifest (client: Client, repo: string, ref: string, m: Manifest): Promise<Res> {
  const res = await putManifest(client, repo, ref, m)
  expectStatus(res, 201)
  expectLocation(res)
  const dcd = res.header('docker-content-digest')
  if (dcd !== null) expect(dcd === m.digest, `Docker-Content-Digest is ${dcd}, expected ${m.digest}`, res)
  return res
}

export function getManifest (client: Client, repo: string, ref: string): Promise<Res> {
  return client.get(paths.manifest(repo, ref), { headers: { accept: ACCEPT_MANIFESTS } })
}

export function headManifest (client: Client, repo: string, ref: string): Promise<Res> {
  return client.head(paths.manifest(repo, ref), { headers: { accept: ACCEPT_MANIFESTS } })
}

/** Tag list of a repository (200 required); follows no pagination. */
export async function listTags (client: Client, repo: string, query?: Record<string, string | number>): Promise<{ tags: string[], res: Res }> {
  const res = await client.get(paths.tags(repo), query !== undefined ? { query } : {})
  expectStatus(res, 200)
  const body = res.json() as { name?: unknown, tags?: unknown } | undefined
  expect(body !== undefined && typeof body === 'object', 'tag list body is not JSON', res)
  expect(body.name === repo, `tag list "name" should be ${repo}, got ${JSON.stringify(body.name)}`, res)
  const tags = body.tags ?? []
  expect(Array.isArray(tags) && tags.every((t) => typeof t === 'string'), 'tag list "tags" must be an array of strings (or null)', res)
  return { tags: tags as string[], res }
}

/** Teardown of a manifest (upstream semantics): DELETE by digest → 2xx, or 405 when deletion is disabled. */
export async function deleteManifestTolerant (client: Client, repo: string, digest: string): Promise<void> {
  const res = await client.delete(paths.manifest(repo, digest))
  if (!(res.status >= 200 && res.status < 300) && res.status !== 405) {
    fail(`manifest DELETE expected 2xx or 405, got ${res.status}`, res)
  }
}

/** Teardown of a blob (upstream semantics): DELETE → 2xx, 404 or 405. */
export async function deleteBlobTolerant (client: Client, repo: string, digest: string): Promise<void> {
  const res = await client.delete(paths.blob(repo, digest))
  if (!(res.status >= 200 && res.status < 300) && res.status !== 404 && res.status !== 405) {
    fail(`blob DELETE expected 2xx, 404 or 405, got ${res.status}`, res)
  }
}
