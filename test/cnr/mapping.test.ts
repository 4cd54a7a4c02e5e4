// The CNR -> OCI storage mapping, checked through the /v2 API of the same server: a package is a
// repository, a release a tag on an image index with one manifest per media type, each manifest carrying
// the tarball as its layer with the CNR media type and digest in annotations; helm packages use the Helm
// OCI media types with a config built from Chart.yaml.
import t from 'tap'
import { HELM_FILES, KPM_FILES, assertCnrError, cnrDigest, push, sha256, startApi, tarGz } from './helpers.js'

const INDEX = 'application/vnd.oci.image.index.v1+json'
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const ACCEPT = { accept: `${INDEX}, ${MANIFEST}` }

interface Descriptor { mediaType: string, digest: string, size: number, artifactType?: string, annotations?: Record<string, string> }
interface Manifest { mediaType: string, artifactType?: string, config: Descriptor, layers: Descriptor[], annotations: Record<string, string> }
interface Index { mediaType: string, manifests: Descriptor[], annotations: Record<string, string> }

t.test('a release is a tag on an index; each media type a manifest with the tarball as its layer', async t => {
  const api = await startApi(t)
  const kpm = await tarGz(KPM_FILES('1.0.0'))
  const helm = await tarGz(HELM_FILES('app', '1.0.0'))
  const metadata = { maintainers: ['me'], source: ['https://example.invalid/app'] }
  t.equal((await api.request('POST', '/cnr/api/v1/packages/ns/app', { json: { release: '1.0.0', media_type: 'kpm', blob: kpm.toString('base64'), metadata } })).status, 200)
  t.equal((await push(api, 'ns/app', '1.0.0', 'helm', helm)).status, 200)

  t.same((await api.request('GET', '/v2/ns/app/tags/list')).json(), { name: 'ns/app', tags: ['1.0.0'] })
  const tagged = await api.request('GET', '/v2/ns/app/manifests/1.0.0', { headers: ACCEPT })
  t.equal(tagged.headers['content-type'], INDEX)
  const index = tagged.json<Index>()
  t.same(index.annotations, { 'org.berth.cnr.package': 'ns/app', 'org.berth.cnr.release': '1.0.0' })
  t.same(index.manifests.map(m => [m.mediaType, m.artifactType, m.annotations]), [
    [MANIFEST, 'application/vnd.cncf.helm.config.v1+json', { 'org.berth.cnr.media-type': 'helm' }],
    [MANIFEST, 'application/vnd.appr.package-manifest.kpm.v0.json', { 'org.berth.cnr.media-type': 'kpm' }]
  ])

  const kpmManifest = (await api.request('GET', `/v2/ns/app/manifests/${index.manifests[1]?.digest ?? ''}`)).json<Manifest>()
  t.equal(kpmManifest.artifactType, 'application/vnd.appr.package-manifest.kpm.v0.json')
  t.same(kpmManifest.config, { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 })
  t.same(kpmManifest.layers, [{
    mediaType: 'application/vnd.appr.package.kpm.v0.tar+gzip',
    digest: sha256(kpm),
    size: kpm.length,
    annotations: { 'org.opencontainers.image.title': 'kpm/ns_app_1.0.0.tar.gz', 'org.berth.cnr.digest': cnrDigest(kpm) }
  }])
  t.match(kpmManifest.annotations, {
    'org.opencontainers.image.created': /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/,
    'org.berth.cnr.package': 'ns/app',
    'org.berth.cnr.release': '1.0.0',
    'org.berth.cnr.media-type': 'kpm',
    'org.berth.cnr.metadata': JSON.stringify(metadata)
  })
  const layer = await api.request('GET', `/v2/ns/app/blobs/${sha256(kpm)}`)
  t.ok(layer.body.equals(kpm), 'the layer is the pushed tarball')

  const helmManifest = (await api.request('GET', `/v2/ns/app/manifests/${index.manifests[0]?.digest ?? ''}`)).json<Manifest>()
  t.equal(helmManifest.artifactType, undefined, 'helm manifests look like `helm push` ones')
  t.equal(helmManifest.config.mediaType, 'application/vnd.cncf.helm.config.v1+json')
  t.equal(helmManifest.layers[0]?.mediaType, 'application/vnd.cncf.helm.chart.content.v1.tar+gzip')
  t.equal(helmManifest.layers[0]?.annotations?.['org.berth.cnr.digest'], cnrDigest(helm))
  t.match(helmManifest.annotations, { 'org.opencontainers.image.title': 'app', 'org.opencontainers.image.version': '1.0.0' })
  const config = (await api.request('GET', `/v2/ns/app/blobs/${helmManifest.config.digest}`)).json()
  t.same(config, { name: 'app', version: '1.0.0', description: 'app chart for tests', apiVersion: 'v2', appVersion: '1.0', type: 'application' })

  const shown = (await api.request('GET', '/cnr/api/v1/packages/ns/app/1.0.0/kpm')).json<{ metadata: unknown }>()
  t.same(shown.metadata, metadata, 'metadata comes back as pushed')
})

t.test('a CNR-era chart: Chart.yaml at the top level, maintainers as strings, version != release', async t => {
  const api = await startApi(t)
  const chart = await tarGz({
    'Chart.yaml': 'name: es\nversion: 0.2.0\ndescription: Search\nmaintainers:\n  - Ian Coffey <icoffey@deis.com>\n  - Nobody\nkeywords: [search, 3]\ndetails: x\n',
    'manifests/svc.yaml': 'kind: Service\n'
  })
  t.equal((await push(api, 'ns/es', '2.2.1', 'helm', chart)).status, 200)
  const index = (await api.request('GET', '/v2/ns/es/manifests/2.2.1', { headers: ACCEPT })).json<Index>()
  const manifest = (await api.request('GET', `/v2/ns/es/manifests/${index.manifests[0]?.digest ?? ''}`)).json<Manifest>()
  const config = (await api.request('GET', `/v2/ns/es/blobs/${manifest.config.digest}`)).json()
  t.same(config, {
    name: 'es',
    version: '2.2.1',
    description: 'Search',
    keywords: ['search'],
    maintainers: [{ name: 'Ian Coffey', email: 'icoffey@deis.com' }, { name: 'Nobody' }],
    apiVersion: 'v1'
  }, 'fields helm types strictly are converted or dropped; the version is the release (the tag)')
})

t.test('build metadata: release 1.0.0+build.7 is the tag 1.0.0_build.7', async t => {
  const api = await startApi(t)
  t.equal((await push(api, 'ns/b', '1.0.0+build.7', 'kpm', await tarGz(KPM_FILES('b')))).status, 200)
  t.same((await api.request('GET', '/v2/ns/b/tags/list')).json(), { name: 'ns/b', tags: ['1.0.0_build.7'] })
  t.same((await api.request('GET', '/cnr/api/v1/packages/ns/b')).json<Array<{ release: string }>>().map(m => m.release), ['1.0.0+build.7'])
  t.equal((await api.request('GET', '/cnr/api/v1/packages/ns/b/1.0.0+build.7/kpm/pull')).status, 200)
})

t.test('a tag that holds a container image is not a release, and a push does not overwrite it unforced', async t => {
  const api = await startApi(t)
  const layer = Buffer.from('layer')
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}')
  for (const blob of [layer, config]) {
    t.equal((await api.request('POST', `/v2/ns/img/blobs/uploads/?digest=${sha256(blob)}`, { body: blob, headers: { 'content-type': 'application/octet-stream' } })).status, 201)
  }
  const image = JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }]
  })
  t.equal((await api.request('PUT', '/v2/ns/img/manifests/1.0.0', { body: image, headers: { 'content-type': MANIFEST } })).status, 201)
  t.same((await api.request('GET', '/cnr/api/v1/packages?namespace=ns')).json(), [])
  assertCnrError(t, await api.request('GET', '/cnr/api/v1/packages/ns/img/1.0.0'), 404, 'package-not-found')
  assertCnrError(t, await push(api, 'ns/img', '1.0.0', 'kpm', await tarGz(KPM_FILES('x'))), 409, 'package-exists')
  t.equal((await api.request('GET', '/v2/ns/img/manifests/1.0.0', { headers: ACCEPT })).text, image, 'the image tag is intact')
})
