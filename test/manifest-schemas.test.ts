import t from 'tap'
import {
  MediaTypes,
  isIndexMediaType,
  isManifestMediaType,
  isValidManifest,
  validateManifest
} from '../src/registry/manifest-schemas.js'

const hex = (c: string): string => c.repeat(64)
const DIGEST_A = `sha256:${hex('a')}`
const DIGEST_B = `sha256:${hex('b')}`
const DIGEST_C = `sha256:${hex('c')}`

const configDescriptor = () => ({
  mediaType: 'application/vnd.oci.image.config.v1+json',
  digest: DIGEST_A,
  size: 7023
})

const layerDescriptor = () => ({
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: DIGEST_B,
  size: 32654
})

const ociManifest = (): Record<string, unknown> => ({
  schemaVersion: 2,
  mediaType: MediaTypes.ociManifest,
  config: configDescriptor(),
  layers: [layerDescriptor()]
})

const ociIndex = (): Record<string, unknown> => ({
  schemaVersion: 2,
  mediaType: MediaTypes.ociIndex,
  manifests: [{
    mediaType: MediaTypes.ociManifest,
    digest: DIGEST_C,
    size: 1024,
    platform: { architecture: 'amd64', os: 'linux' }
  }]
})

const dockerManifest = (): Record<string, unknown> => ({
  schemaVersion: 2,
  mediaType: MediaTypes.dockerManifest,
  config: {
    mediaType: 'application/vnd.docker.container.image.v1+json',
    digest: DIGEST_A,
    size: 1469
  },
  layers: [{
    mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
    digest: DIGEST_B,
    size: 2811969
  }, {
    mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
    digest: DIGEST_C,
    size: 100,
    urls: ['https://mcr.microsoft.com/v2/windows/blobs/sha256:' + hex('c')]
  }]
})

const dockerManifestList = (): Record<string, unknown> => ({
  schemaVersion: 2,
  mediaType: MediaTypes.dockerManifestList,
  manifests: [{
    mediaType: MediaTypes.dockerManifest,
    digest: DIGEST_A,
    size: 7143,
    platform: { architecture: 'ppc64le', os: 'linux' }
  }, {
    mediaType: MediaTypes.dockerManifest,
    digest: DIGEST_B,
    size: 7682,
    platform: { architecture: 'arm', os: 'linux', variant: 'v7', features: ['sse4'] }
  }, {
    mediaType: MediaTypes.dockerManifest,
    digest: DIGEST_C,
    size: 1234,
    platform: { architecture: 'amd64', os: 'windows', 'os.version': '10.0.17763.1879', 'os.features': ['win32k'] }
  }]
})

t.test('media type helpers', async t => {
  for (const mt of Object.values(MediaTypes)) t.equal(isManifestMediaType(mt), true, mt)
  t.equal(isManifestMediaType('application/vnd.oci.image.config.v1+json'), false)
  t.equal(isManifestMediaType('application/json'), false)
  t.equal(isManifestMediaType(''), false)
  t.equal(isIndexMediaType(MediaTypes.ociIndex), true)
  t.equal(isIndexMediaType(MediaTypes.dockerManifestList), true)
  t.equal(isIndexMediaType(MediaTypes.ociManifest), false)
  t.equal(isIndexMediaType(MediaTypes.dockerManifest), false)
  t.equal(isIndexMediaType('application/vnd.oci.image.index.v2+json'), false)
})

t.test('OCI image manifest: accepted documents', async t => {
  t.equal(validateManifest(MediaTypes.ociManifest, ociManifest()), undefined, 'minimal manifest')

  const extended = {
    ...ociManifest(),
    unknownTopLevel: { anything: [1, 2, 3] },
    annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    config: {
      ...configDescriptor(),
      data: 'eyJhcmNoaXRlY3R1cmUiOiJhbWQ2NCJ9',
      'x-vendor-field': true
    },
    layers: [{
      ...layerDescriptor(),
      annotations: { 'org.opencontainers.image.title': 'layer.tar.gz' },
      urls: ['https://example.com/blobs/layer.tar.gz'],
      futureField: 42
    }]
  }
  t.equal(validateManifest(MediaTypes.ociManifest, extended), undefined, 'unknown fields and data are allowed')

  const { mediaType: _omit, ...withoutMediaType } = ociManifest()
  t.equal(validateManifest(MediaTypes.ociManifest, withoutMediaType), undefined, 'top-level mediaType is optional')

  t.equal(validateManifest(MediaTypes.ociManifest, { ...ociManifest(), layers: [] }), undefined, 'empty layers')

  const artifact = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    artifactType: 'application/vnd.example.sbom.v1+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: DIGEST_A, size: 2, data: 'e30=' },
    layers: [],
    subject: { mediaType: MediaTypes.ociManifest, digest: DIGEST_C, size: 512 }
  }
  t.equal(validateManifest(MediaTypes.ociManifest, artifact), undefined, 'artifact manifest with subject')

  const doc: unknown = ociManifest()
  t.equal(isValidManifest(MediaTypes.ociManifest, doc), true)
  if (isValidManifest(MediaTypes.ociManifest, doc)) {
    // compile-time check that the guard narrows to the generated ImageManifest type
    t.equal(doc.config.digest, DIGEST_A)
    t.equal(doc.layers.length, 1)
  }
})

t.test('OCI image manifest: rejected documents', async t => {
  const { config: _omit, ...noConfig } = ociManifest()
  t.equal(validateManifest(MediaTypes.ociManifest, noConfig), 'config: is required')

  const { layers: _omitLayers, ...noLayers } = ociManifest()
  t.equal(validateManifest(MediaTypes.ociManifest, noLayers), 'layers: is required')

  const badDigest = { ...ociManifest(), layers: [{ ...layerDescriptor(), digest: 'sha256:not/valid' }] }
  const msg = validateManifest(MediaTypes.ociManifest, badDigest)
  t.match(msg, /^layers\[0\]\.digest: must match pattern /)
  t.match(msg, '^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$', 'message quotes the digest pattern')

  t.match(
    validateManifest(MediaTypes.ociManifest, { ...ociManifest(), config: { ...configDescriptor(), digest: 'a'.repeat(64) } }),
    /^config\.digest: must match pattern/,
    'digest without algorithm'
  )

  t.equal(
    validateManifest(MediaTypes.ociManifest, { ...ociManifest(), config: { ...configDescriptor(), size: -1 } }),
    'config.size: must be >= 0'
  )
  t.equal(
    validateManifest(MediaTypes.ociManifest, { ...ociManifest(), layers: [{ ...layerDescriptor(), size: 1.5 }] }),
    'layers[0].size: must be integer'
  )
  t.equal(
    validateManifest(MediaTypes.ociManifest, { ...ociManifest(), layers: [{ ...layerDescriptor(), size: '12' }] }),
    'layers[0].size: must be integer'
  )

  t.equal(validateManifest(MediaTypes.ociManifest, { ...ociManifest(), schemaVersion: 1 }), 'schemaVersion: must be 2')
  const { schemaVersion: _sv, ...noSchemaVersion } = ociManifest()
  t.equal(validateManifest(MediaTypes.ociManifest, noSchemaVersion), 'schemaVersion: is required')

  t.equal(
    validateManifest(MediaTypes.ociManifest, { ...ociManifest(), mediaType: MediaTypes.dockerManifest }),
    'mediaType: must be "application/vnd.oci.image.manifest.v1+json"'
  )

  const { mediaType: _mt, ...noDescriptorMediaType } = layerDescriptor()
  t.equal(
    validateManifest(MediaTypes.ociManifest, { ...ociManifest(), layers: [layerDescriptor(), noDescriptorMediaType] }),
    'layers[1].mediaType: is required'
  )

  t.match(
    validateManifest(MediaTypes.ociManifest, { ...ociManifest(), config: { ...configDescriptor(), data: 'not base64!' } }),
    /^config\.data: must match pattern/
  )
  t.match(
    validateManifest(MediaTypes.ociManifest, { ...ociManifest(), layers: [{ ...layerDescriptor(), urls: ['not a uri'] }] }),
    /^layers\[0\]\.urls\[0\]: must match format "uri"/
  )
  t.equal(
    validateManifest(MediaTypes.ociManifest, { ...ociManifest(), annotations: { 'org.example.count': 3 } }),
    'annotations["org.example.count"]: must be string'
  )
  t.equal(
    validateManifest(MediaTypes.ociManifest, { ...ociManifest(), layers: {} }),
    'layers: must be array'
  )
  t.equal(validateManifest(MediaTypes.ociManifest, null), 'manifest: must be object')
  t.equal(validateManifest(MediaTypes.ociManifest, [ociManifest()]), 'manifest: must be object')
})

t.test('OCI image index', async t => {
  t.equal(validateManifest(MediaTypes.ociIndex, ociIndex()), undefined, 'plain index')
  t.equal(validateManifest(MediaTypes.ociIndex, { ...ociIndex(), manifests: [] }), undefined, 'empty manifests')

  const { mediaType: _mt, ...noMediaType } = ociIndex()
  t.equal(validateManifest(MediaTypes.ociIndex, noMediaType), undefined, 'top-level mediaType is optional')

  const withSubject = {
    ...ociIndex(),
    artifactType: 'application/vnd.example.signature.v1+json',
    subject: { mediaType: MediaTypes.ociManifest, digest: DIGEST_A, size: 512 },
    annotations: { 'org.opencontainers.image.ref.name': 'v1' },
    somethingNew: 'ignored'
  }
  t.equal(validateManifest(MediaTypes.ociIndex, withSubject), undefined, 'artifactType + subject + unknown field')

  const { manifests: _m, ...noManifests } = ociIndex()
  t.equal(validateManifest(MediaTypes.ociIndex, noManifests), 'manifests: is required')

  t.equal(
    validateManifest(MediaTypes.ociIndex, { ...ociIndex(), mediaType: MediaTypes.ociManifest }),
    'mediaType: must be "application/vnd.oci.image.index.v1+json"'
  )
  t.equal(
    validateManifest(MediaTypes.ociIndex, {
      ...ociIndex(),
      manifests: [{ mediaType: MediaTypes.ociManifest, digest: DIGEST_A, size: 1, platform: { os: 'linux' } }]
    }),
    'manifests[0].platform.architecture: is required'
  )
  t.equal(
    validateManifest(MediaTypes.ociIndex, { ...ociIndex(), subject: { mediaType: MediaTypes.ociManifest, digest: DIGEST_A } }),
    'subject.size: is required'
  )
  t.match(
    validateManifest(MediaTypes.ociIndex, { ...ociIndex(), artifactType: 'not-a-media-type' }),
    /^artifactType: must match pattern/
  )
  t.equal(validateManifest(MediaTypes.ociIndex, { ...ociIndex(), schemaVersion: 1 }), 'schemaVersion: must be 2')
})

t.test('Docker schema 2 manifest', async t => {
  t.equal(validateManifest(MediaTypes.dockerManifest, dockerManifest()), undefined, 'manifest with a foreign layer')
  t.equal(validateManifest(MediaTypes.dockerManifest, { ...dockerManifest(), extra: 1 }), undefined, 'unknown fields')

  const { mediaType: _mt, ...noMediaType } = dockerManifest()
  t.equal(validateManifest(MediaTypes.dockerManifest, noMediaType), 'mediaType: is required')
  t.equal(
    validateManifest(MediaTypes.dockerManifest, { ...dockerManifest(), mediaType: MediaTypes.ociManifest }),
    'mediaType: must be "application/vnd.docker.distribution.manifest.v2+json"'
  )
  t.equal(validateManifest(MediaTypes.dockerManifest, { ...dockerManifest(), schemaVersion: 1 }), 'schemaVersion: must be 2')
  const { config: _c, ...noConfig } = dockerManifest()
  t.equal(validateManifest(MediaTypes.dockerManifest, noConfig), 'config: is required')
  t.equal(
    validateManifest(MediaTypes.dockerManifest, { ...dockerManifest(), config: { ...configDescriptor(), size: -5 } }),
    'config.size: must be >= 0'
  )
})

t.test('Docker manifest list', async t => {
  t.equal(validateManifest(MediaTypes.dockerManifestList, dockerManifestList()), undefined, 'multi-platform list')

  const { mediaType: _mt, ...noMediaType } = dockerManifestList()
  t.equal(validateManifest(MediaTypes.dockerManifestList, noMediaType), 'mediaType: is required')
  t.equal(
    validateManifest(MediaTypes.dockerManifestList, { ...dockerManifestList(), mediaType: MediaTypes.ociIndex }),
    'mediaType: must be "application/vnd.docker.distribution.manifest.list.v2+json"'
  )
  t.equal(
    validateManifest(MediaTypes.dockerManifestList, {
      ...dockerManifestList(),
      manifests: [{ mediaType: MediaTypes.dockerManifest, digest: DIGEST_A, size: 10 }]
    }),
    'manifests[0].platform: is required'
  )
  t.match(
    validateManifest(MediaTypes.dockerManifestList, {
      ...dockerManifestList(),
      manifests: [{ mediaType: MediaTypes.dockerManifest, digest: 'md5-abc', size: 10, platform: { os: 'linux', architecture: 'amd64' } }]
    }),
    /^manifests\[0\]\.digest: must match pattern/
  )
})

t.test('media type is not a manifest media type', async t => {
  // Callers should check isManifestMediaType first; a bad value must not throw.
  t.equal(
    validateManifest('application/json' as never, ociManifest()),
    'unsupported manifest media type "application/json"'
  )
})
