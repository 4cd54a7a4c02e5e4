// The strings of the CNR/APPR dialect Berth speaks (APPR 0.7.4: vnd.appr, schema v0), the Helm OCI media
// types, and the annotations that record CNR facts on OCI manifests.

/** The API version Berth implements, reported under both dialects' keys. */
export const API_VERSION = '0.7.4'

/** Media type assumed when a push does not name one (as APPR does). */
export const DEFAULT_MEDIA_TYPE = 'kpm'

/** CNR media type of OCI artifacts that carry no CNR or Helm marking (pushed with oras, say). */
export const GENERIC_MEDIA_TYPE = 'oci'

/** A short media type: one path segment of safe characters; `-` means "the only one" in queries. */
const SHORT_MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export function isShortMediaType (s: string): boolean {
  return SHORT_MEDIA_TYPE.test(s)
}

export const cnrManifestMediaType = (type: string): string => `application/vnd.appr.package-manifest.${type}.v0.json`
export const cnrContentMediaType = (type: string): string => `application/vnd.appr.package.${type}.v0.tar+gzip`

/** The short type of a CNR content media type, in either dialect and any schema version. */
export function shortTypeOfContent (mediaType: string): string | undefined {
  return /^application\/vnd\.(?:appr|cnr)\.package\.(.+)\.v\d+\.tar\+gzip$/.exec(mediaType)?.[1]
}

/** The short type of a CNR manifest media type (used as an OCI artifactType), in either dialect. */
export function shortTypeOfManifest (mediaType: string): string | undefined {
  return /^application\/vnd\.(?:appr|cnr)\.package-manifest\.(.+)\.v\d+\.json$/.exec(mediaType)?.[1]
}

export const Helm = {
  mediaType: 'helm',
  config: 'application/vnd.cncf.helm.config.v1+json',
  chart: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
  legacyChart: 'application/tar+gzip'
} as const

export const OciTypes = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  imageConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json'
} as const

/** The OCI empty descriptor: config of artifacts that have none. */
export const EmptyConfig = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  bytes: Buffer.from('{}')
} as const

export const Annotations = {
  created: 'org.opencontainers.image.created',
  title: 'org.opencontainers.image.title',
  version: 'org.opencontainers.image.version',
  description: 'org.opencontainers.image.description',
  /** On CNR-pushed manifests and indexes: the package, release and short media type. */
  cnrPackage: 'org.berth.cnr.package',
  cnrRelease: 'org.berth.cnr.release',
  cnrMediaType: 'org.berth.cnr.media-type',
  /** On the tarball layer: sha256 of the uncompressed tar, hex (the CNR digest). */
  cnrDigest: 'org.berth.cnr.digest',
  /** On CNR-pushed manifests: the push's `metadata`, as JSON. */
  cnrMetadata: 'org.berth.cnr.metadata'
} as const

/** `<ns>_<pkg>_<release>.tar.gz`, the file name of a pull (APPR `filename`; blobs put a digest prefix in place of the release). */
export function packageFilename (pkg: string, release: string): string {
  return `${pkg.replace('/', '_')}_${release}.tar.gz`
}
