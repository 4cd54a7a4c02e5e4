// The package-repository API's model over the OCI store: a file `<name>-<version>.tar.gz` is an OCI
// artifact in repository `packages/<name>`, tagged `<version>`, whose one layer is the file, titled with
// its name (so `oras pull <host>/packages/<name>:<version>` writes the same file). Files stream in and
// out; nothing holds a whole file in memory.
import type { Readable } from 'node:stream'
import semver from 'semver'
import { ensureBlob } from '../registry/artifacts.js'
import type { MirrorReads } from '../mirror/cache.js'
import type { Registry } from '../registry/index.js'
import { isValidName } from '../registry/reference.js'
import type { ImageManifest } from '../types/generated/index.js'

const FILE = /^([a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)-(\d+\.\d+\.\d+(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)\.tar\.gz$/
const REPOSITORY_PREFIX = 'packages/'
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const EMPTY = { mediaType: 'application/vnd.oci.empty.v1+json', bytes: Buffer.from('{}') }
export const ARTIFACT_TYPE = 'application/vnd.berth.package.v1'
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'
const TITLE = 'org.opencontainers.image.title'

export class PackageFileError extends Error {
  override readonly name = 'PackageFileError'
  constructor (readonly status: 400 | 404, message: string) {
    super(message)
  }
}

export interface PackageFile {
  file: string
  name: string
  version: string
  repository: string
}

/** Splits `<name>-<version>.tar.gz`; undefined when the file name does not have that form. */
export function parseFile (file: string): PackageFile | undefined {
  const match = FILE.exec(file)
  if (match === null) return undefined
  const name = match[1] as string
  const version = match[2] as string
  const repository = `${REPOSITORY_PREFIX}${name}`
  if (!isValidName(repository) || semver.valid(version) === null || version.length > 128) return undefined
  return { file, name, version, repository }
}

export interface PackageListing {
  name: string
  latest_versions: Array<{ version: string, file: string }>
}

export interface Download {
  size: number
  body: Readable
}

export interface PackageServiceOptions {
  /** The pull-through cache: downloads of files under a mirror prefix fetch what is missing from the upstream. */
  mirror?: MirrorReads | undefined
}

export function createPackageService (registry: Registry, { mirror }: PackageServiceOptions = {}) {
  const { tags, manifests, blobs, catalog } = registry

  /** The layer of a stored file, or undefined. */
  async function find (file: PackageFile) {
    const tag = await tags.get(file.repository, file.version)
    if (tag === undefined) return undefined
    const manifest = JSON.parse((await manifests.read(tag)).bytes.toString('utf8')) as Partial<ImageManifest>
    const layer = manifest.layers?.find(l => l.annotations?.[TITLE] === file.file) ?? manifest.layers?.[0]
    return layer === undefined ? undefined : { tag, layer }
  }

  /** Versions of a package, highest first (tags of its repository that are versions). */
  async function versions (repository: string): Promise<string[]> {
    const found: string[] = []
    let last: string | undefined
    for (;;) {
      const page = await tags.list(repository, { limit: 1000, last })
      found.push(...page.items.filter(v => semver.valid(v) !== null && /^\d/.test(v)))
      if (!page.truncated || page.items.length === 0) return found.sort(semver.rcompare)
      last = page.items.at(-1)
    }
  }

  return {
    /**
     * Stores a file, replacing an earlier upload of the same name unless an immutable-tag rule matches its version.
     * `size` (the Content-Length, when sent) lets the quota refuse it before a byte is read.
     */
    async put (fileName: string, body: Readable, size?: number): Promise<void> {
      const file = parseFile(fileName)
      if (file === undefined) {
        throw new PackageFileError(400, `package name must be of the form <name>-<major>.<minor>.<patch>[-<pre-release>].tar.gz, ` +
          `with a lowercase name (letters, digits and . _ - separators), e.g. my-package-1.0.0.tar.gz; got ${JSON.stringify(fileName)}`)
      }
      // Every upload is a new manifest (it records when it was made), so an immutable version is never overwritten.
      await tags.assertChangeable(file.repository, file.version, 'replace')
      if (size !== undefined) await blobs.checkQuota(file.repository, undefined, size)
      const layer = await registry.uploads.putMonolithic(file.repository, undefined, body)
      const config = await ensureBlob(registry, file.repository, EMPTY.bytes)
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: MANIFEST,
        artifactType: ARTIFACT_TYPE,
        config: { mediaType: EMPTY.mediaType, digest: config.digest, size: config.size },
        layers: [{ mediaType: LAYER, digest: layer.digest, size: layer.size, annotations: { [TITLE]: file.file } }],
        annotations: { 'org.opencontainers.image.created': new Date().toISOString(), 'org.opencontainers.image.version': file.version }
      }
      const { digest } = await manifests.put(file.repository, file.version, Buffer.from(JSON.stringify(manifest)), MANIFEST)
      await registry.events.emit('package-uploaded', { repository: file.repository, file: file.file, version: file.version, digest, size: layer.size })
    },

    async get (fileName: string): Promise<Download> {
      const file = parseFile(fileName)
      // A file under a mirror prefix: its version's tag, then its layer, come from the upstream when missing.
      const mirrored = file !== undefined && mirror?.covers(file.repository) === true
      if (mirrored) await mirror?.ensureTag(file.repository, file.version)
      const found = file === undefined ? undefined : await find(file)
      if (file === undefined || found === undefined) throw new PackageFileError(404, '404 not found')
      const fetching = mirrored ? await mirror?.openBlob(file.repository, found.layer.digest) : undefined
      return { size: found.layer.size, body: fetching ?? await blobs.open(file.repository, found.layer.digest) }
    },

    /** Deletes a file: its manifest and every tag naming it. */
    async delete (fileName: string): Promise<void> {
      const file = parseFile(fileName)
      const found = file === undefined ? undefined : await find(file)
      if (file === undefined || found === undefined) throw new PackageFileError(404, '404 not found')
      await manifests.delete(file.repository, found.tag.digest)
      await registry.events.emit('package-deleted', { repository: file.repository, file: file.file, version: file.version, digest: found.tag.digest })
    },

    /**
     * A page of packages in name order, each with its `recency` highest versions. Packages are the
     * repositories below packages/ (one catalog listing); a package without versions is left out.
     */
    async list (recency: number, limit: number, last?: string): Promise<{ items: PackageListing[], truncated: boolean }> {
      const items: PackageListing[] = []
      let after = REPOSITORY_PREFIX + (last ?? '')
      for (;;) {
        const page = await catalog.list({ limit: 1000, last: after })
        for (const repository of page.items) {
          if (!repository.startsWith(REPOSITORY_PREFIX)) return { items, truncated: false } // the catalog is in name order
          const name = repository.slice(REPOSITORY_PREFIX.length)
          if (name.includes('/')) continue
          const found = await versions(repository)
          if (found.length === 0) continue
          if (items.length === limit) return { items, truncated: true }
          items.push({ name, latest_versions: found.slice(0, recency).map(version => ({ version, file: `${name}-${version}.tar.gz` })) })
        }
        if (!page.truncated || page.items.length === 0) return { items, truncated: false }
        after = page.items.at(-1) as string
      }
    }
  }
}

export type PackageService = ReturnType<typeof createPackageService>
