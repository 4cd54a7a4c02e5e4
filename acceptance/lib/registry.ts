// Cross-checks through /v2 of what a client pushed: the manifest as the registry stores and serves it.
import type { Client as HttpClient } from '../../conformance/suite/http.js'
import { CheckError } from '../../conformance/suite/harness.js'
import { sha256 } from './fixtures.js'

/** Every manifest media type the clients push: OCI and Docker, images and indexes. */
export const ACCEPT_ALL = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json'
].join(', ')

export const DOCKER_MT = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  list: 'application/vnd.docker.distribution.manifest.list.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip'
} as const

export interface Descriptor { mediaType: string, digest: string, size: number, platform?: { os: string, architecture: string } }

export interface StoredManifest {
  /** Content-Type the registry served */
  contentType: string
  /** Docker-Content-Digest the registry served, checked against the bytes */
  digest: string
  bytes: Buffer
  mediaType?: string
  config?: Descriptor
  layers?: Descriptor[]
  manifests?: Descriptor[]
}

/** GET /v2/<repo>/manifests/<ref>; fails unless it answers 200 with a digest header that matches the bytes. */
export async function storedManifest (http: HttpClient, repo: string, ref: string, headers: Record<string, string> = {}): Promise<StoredManifest> {
  const res = await http.get(`/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT_ALL, ...headers } })
  if (res.status !== 200) throw new CheckError(`GET /v2/${repo}/manifests/${ref} should answer 200, answered ${res.status}: ${res.text().slice(0, 300)}`)
  const digest = res.header('docker-content-digest') ?? ''
  if (digest !== sha256(res.body)) {
    throw new CheckError(`Docker-Content-Digest of ${repo}:${ref} is ${JSON.stringify(digest)}, the bytes hash to ${sha256(res.body)}`)
  }
  const parsed = res.json() as Omit<StoredManifest, 'contentType' | 'digest' | 'bytes'> | undefined
  if (parsed === undefined) throw new CheckError(`the manifest of ${repo}:${ref} is not JSON`)
  return { ...parsed, contentType: res.header('content-type') ?? '', digest, bytes: res.body }
}

/** `Authorization: Basic ...` for a user, for cross-checks on a registry with auth on. */
export const basic = (user: string, password: string): Record<string, string> =>
  ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` })
