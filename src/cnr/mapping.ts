// The CNR <-> OCI mapping, as pure functions over documents.
//
//   package <ns>/<name>       the OCI repository <ns>/<name>
//   release R                 the tag R ('+' written '_'), pointing at an OCI image index with one entry per
//                             media type, even when there is only one (see "Helm and indexes" below)
//   (release, media type T)   an OCI image manifest whose single layer is the package tarball:
//       T = helm              config application/vnd.cncf.helm.config.v1+json (from Chart.yaml),
//                             layer application/vnd.cncf.helm.chart.content.v1.tar+gzip
//       any other T           config: the OCI empty descriptor, artifactType
//                             application/vnd.appr.package-manifest.T.v0.json,
//                             layer application/vnd.appr.package.T.v0.tar+gzip
//     The layer is titled `T/<ns>_<name>_<R>.tar.gz` (so `oras pull` writes one file per media type) and
//     annotated with the CNR digest; the manifest records package, release, media type, metadata and time.
//   channel C                 the tag C, pointing at the same index as its current release's tag
//
// Going the other way, a manifest pushed by another client is a package manifest when it is a helm chart
// (media type `helm`), has a vnd.appr/vnd.cnr package layer (its type), or is any other artifact that is
// not a container image (media type `oci`); a tag that parses as SemVer and points at one, or at an index
// of them, is a release.
//
// Helm and indexes (checked against the helm v3.21.4 binary, test/clients/helm-cnr.test.ts): `helm pull
// oci://…` resolves the tag with an Accept header that includes image indexes and copies the whole graph
// (oras.Copy), skipping every node whose media type is not an index, an image manifest, the helm config,
// the chart layer or the provenance layer; it then takes the helm config and chart layer from what it
// copied. So an index works wherever the helm manifest sits in it, with or without artifactType, and an
// index without a helm entry fails with "could not load config with mediatype …helm.config.v1+json". Two
// helm entries would be ambiguous; a release has one entry per media type, so it never has two. Hence
// every release is an index (no special case for single-type releases), and the entries carry
// artifactType (the helm config type for helm, the CNR manifest type otherwise) for clients that pick by
// it. helm only resolves --version against SemVer tags, so channels are for appr and oras clients.
import type { Descriptor, ImageIndex, ImageManifest } from '../types/generated/index.js'
import { parseBoundedJson } from './json.js'
import {
  Annotations, EmptyConfig, GENERIC_MEDIA_TYPE, Helm, OciTypes, cnrContentMediaType, cnrManifestMediaType,
  isShortMediaType, packageFilename, shortTypeOfContent, shortTypeOfManifest
} from './media-types.js'

/** One release and media type, as found in the OCI store. */
export interface PackageEntry {
  /** Short CNR media type (helm, kpm...). */
  mediaType: string
  /** The OCI manifest of this media type. */
  manifest: Descriptor
  /** The package tarball. */
  layer: Descriptor
  /** The CNR digest, when the layer records it (CNR pushes do; other clients' pushes are hashed on demand). */
  cnrDigest?: string
  /** RFC 3339 push time, when the manifest records it. */
  createdAt?: string
  metadata: unknown
}

type ParsedManifest = Partial<ImageManifest & ImageIndex> & Record<string, unknown>

const CONTAINER_CONFIGS: ReadonlySet<string> = new Set([OciTypes.imageConfig, OciTypes.dockerConfig])
const IMAGE_MANIFESTS: ReadonlySet<string> = new Set([OciTypes.manifest, OciTypes.dockerManifest])
const INDEXES: ReadonlySet<string> = new Set([OciTypes.index, OciTypes.dockerList])

export function isIndex (mediaType: string): boolean {
  return INDEXES.has(mediaType)
}

export function isImageManifest (mediaType: string): boolean {
  return IMAGE_MANIFESTS.has(mediaType)
}

export function parseDocument (bytes: Buffer): ParsedManifest {
  return JSON.parse(bytes.toString('utf8')) as ParsedManifest
}

/** The package entry a manifest stands for, or undefined when it is not a package (a container image...). */
export function classifyManifest (manifest: Descriptor, doc: ParsedManifest): PackageEntry | undefined {
  const layers: Descriptor[] = Array.isArray(doc.layers) ? doc.layers : []
  const annotations = doc.annotations ?? {}
  const configType = doc.config?.mediaType ?? ''
  let mediaType = annotations[Annotations.cnrMediaType]
  let layer: Descriptor | undefined
  if (configType === Helm.config) {
    mediaType ??= Helm.mediaType
    layer = layers.find(l => l.mediaType === Helm.chart || l.mediaType === Helm.legacyChart)
  } else if (mediaType === undefined) {
    layer = layers.find(l => shortTypeOfContent(l.mediaType) !== undefined)
    if (layer !== undefined) mediaType = shortTypeOfContent(layer.mediaType)
    else if (CONTAINER_CONFIGS.has(configType)) return undefined
    else mediaType = shortTypeOfManifest(doc.artifactType ?? '') ?? GENERIC_MEDIA_TYPE
  }
  layer ??= layers.find(l => l.annotations?.[Annotations.cnrDigest] !== undefined) ?? layers[0]
  if (layer === undefined || mediaType === undefined || !isShortMediaType(mediaType)) return undefined
  const cnrDigest = layer.annotations?.[Annotations.cnrDigest]
  return {
    mediaType,
    manifest,
    layer,
    cnrDigest: cnrDigest !== undefined && /^[a-f0-9]{64}$/.test(cnrDigest) ? cnrDigest : undefined,
    createdAt: annotations[Annotations.created],
    metadata: parseMetadata(annotations[Annotations.cnrMetadata])
  }
}

/** The metadata annotation; absent (null) when it is not JSON or is nested too deep to serve. */
function parseMetadata (text: string | undefined): unknown {
  if (typeof text !== 'string') return null
  return parseBoundedJson(text) ?? null
}

export interface PackageManifestInput {
  pkg: string
  release: string
  mediaType: string
  layer: { digest: string, size: number }
  cnrDigest: string
  /** The helm config blob for helm packages; the OCI empty config otherwise. */
  config?: { digest: string, size: number, name: string, description?: string }
  metadata: unknown
  /** RFC 3339. */
  created: string
}

/** The OCI image manifest of one release and media type. */
export function buildPackageManifest (input: PackageManifestInput): Buffer {
  const helm = input.config !== undefined
  const annotations: Record<string, string> = {
    [Annotations.created]: input.created,
    [Annotations.cnrPackage]: input.pkg,
    [Annotations.cnrRelease]: input.release,
    [Annotations.cnrMediaType]: input.mediaType
  }
  if (input.metadata !== undefined && input.metadata !== null) annotations[Annotations.cnrMetadata] = JSON.stringify(input.metadata)
  if (input.config !== undefined) {
    // What `helm push` records, so that registry UIs show the chart the same way.
    annotations[Annotations.title] = input.config.name
    annotations[Annotations.version] = input.release
    if (input.config.description !== undefined) annotations[Annotations.description] = input.config.description
  }
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OciTypes.manifest,
    ...(helm ? {} : { artifactType: cnrManifestMediaType(input.mediaType) }),
    config: input.config === undefined
      ? { mediaType: EmptyConfig.mediaType, digest: EmptyConfig.digest, size: EmptyConfig.size }
      : { mediaType: Helm.config, digest: input.config.digest, size: input.config.size },
    layers: [{
      mediaType: helm ? Helm.chart : cnrContentMediaType(input.mediaType),
      digest: input.layer.digest,
      size: input.layer.size,
      annotations: {
        [Annotations.title]: `${input.mediaType}/${packageFilename(input.pkg, input.release)}`,
        [Annotations.cnrDigest]: input.cnrDigest
      }
    }],
    annotations
  }
  return Buffer.from(JSON.stringify(manifest))
}

/** The index entry for a package entry: artifactType and media type annotation let clients pick without fetching. */
export function indexEntry (entry: PackageEntry): Descriptor {
  return {
    mediaType: entry.manifest.mediaType,
    digest: entry.manifest.digest,
    size: entry.manifest.size,
    artifactType: entry.mediaType === Helm.mediaType ? Helm.config : cnrManifestMediaType(entry.mediaType),
    annotations: { [Annotations.cnrMediaType]: entry.mediaType }
  }
}

/** The OCI image index of a release: one entry per media type, ordered by media type. */
export function buildReleaseIndex (pkg: string, release: string, entries: PackageEntry[]): Buffer {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: OciTypes.index,
    manifests: [...entries].sort((a, b) => a.mediaType.localeCompare(b.mediaType)).map(indexEntry),
    annotations: { [Annotations.cnrPackage]: pkg, [Annotations.cnrRelease]: release }
  }
  return Buffer.from(JSON.stringify(index))
}
