// Sparse manifests (BERTH_SPARSE_MANIFESTS): the cases of the redesigned OCI suite's OCI_DATA_SPARSE data set,
// an image whose layer was never uploaded and an index with one platform absent, refused by default and
// accepted when the option is on. The config blob stays required.
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { paths } from '../../src/storage/paths.js'
import { buildTestApp } from '../helpers/app.js'
import { MT, descriptor, expectError, header, pushImage, pushImageBlobs, pushManifest, putManifest, storedBlob } from './helpers.js'

const absentLayer = descriptor(MT.ociLayer, 'layer bytes nobody uploaded')
const absentChild = descriptor(MT.ociManifest, 'a manifest of another platform, not mirrored', { platform: { os: 'linux', architecture: 'arm64' } })

t.test('BERTH_SPARSE_MANIFESTS is off by default and must be a boolean', async t => {
  t.equal(loadConfig({}).sparseManifests, false)
  t.equal(loadConfig({ BERTH_SPARSE_MANIFESTS: 'true' }).sparseManifests, true)
  t.equal(loadConfig({ BERTH_SPARSE_MANIFESTS: 'false' }).sparseManifests, false)
  t.throws(() => loadConfig({ BERTH_SPARSE_MANIFESTS: 'sometimes' }), /BERTH_SPARSE_MANIFESTS must be true or false/)
})

for (const sparse of [false, true]) {
  const env: Record<string, string> = sparse ? { BERTH_SPARSE_MANIFESTS: 'true' } : {}
  const label = sparse ? 'on' : 'off'

  t.test(`sparse ${label}: an image manifest with a layer that was never uploaded`, async t => {
    const { app } = await buildTestApp(t, env)
    const image = await pushImageBlobs(app, 'mirror/img', 'one')
    const doc = { ...image.manifest, layers: [...image.layers, absentLayer] }
    const { res, digest, bytes } = await putManifest(app, 'mirror/img', 'sparse-image', doc, MT.ociManifest)
    if (!sparse) {
      const error = expectError(t, res, 400, 'MANIFEST_BLOB_UNKNOWN')
      t.match(error.message, absentLayer.digest, 'the error names the missing layer')
      t.equal(await storedBlob(app, digest), undefined, 'nothing was stored')
      t.equal(await app.berth.registry.driver.stat(paths.tag('mirror/img', 'sparse-image')), undefined, 'no tag')
      return
    }
    t.equal(res.statusCode, 201, res.body)
    t.equal(header(res, 'docker-content-digest'), digest)
    const got = await app.inject({ method: 'GET', url: '/v2/mirror/img/manifests/sparse-image' })
    t.equal(got.statusCode, 200)
    t.same(got.rawPayload, bytes, 'served byte for byte')
    const layer = await app.inject({ method: 'HEAD', url: `/v2/mirror/img/blobs/${absentLayer.digest}` })
    t.equal(layer.statusCode, 404, 'the absent layer is still absent')
    const present = await app.inject({ method: 'GET', url: `/v2/mirror/img/blobs/${image.layers[0]?.digest ?? ''}` })
    t.equal(present.statusCode, 200, 'the uploaded layer is served')
  })

  t.test(`sparse ${label}: an index with one platform absent`, async t => {
    const { app } = await buildTestApp(t, env)
    const amd64 = await pushImage(app, 'mirror/multi', 'amd64-only')
    const index = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        { mediaType: MT.ociManifest, digest: amd64.digest, size: amd64.bytes.length, platform: { os: 'linux', architecture: 'amd64' } },
        absentChild
      ]
    }
    const { res, digest, bytes } = await putManifest(app, 'mirror/multi', 'sparse-index', index, MT.ociIndex)
    if (!sparse) {
      const error = expectError(t, res, 400, 'MANIFEST_BLOB_UNKNOWN')
      t.match(error.message, absentChild.digest, 'the error names the missing child')
      t.equal(await storedBlob(app, digest), undefined, 'nothing was stored')
      return
    }
    t.equal(res.statusCode, 201, res.body)
    const got = await app.inject({ method: 'GET', url: '/v2/mirror/multi/manifests/sparse-index', headers: { accept: MT.ociIndex } })
    t.equal(got.statusCode, 200)
    t.same(got.rawPayload, bytes, 'served byte for byte')
    t.equal(header(got, 'content-type'), MT.ociIndex)
    const child = await app.inject({ method: 'GET', url: `/v2/mirror/multi/manifests/${absentChild.digest}` })
    expectError(t, child, 404, 'MANIFEST_UNKNOWN', 'the absent child')
    // A client that cannot read an index gets an entry the repository holds, whichever comes first in the index.
    const reordered = { ...index, manifests: [absentChild, index.manifests[0]] }
    await pushManifest(app, 'mirror/multi', 'arm64-first', reordered, MT.ociIndex)
    const single = await app.inject({ method: 'GET', url: '/v2/mirror/multi/manifests/arm64-first', headers: { accept: MT.ociManifest } })
    t.equal(single.statusCode, 200)
    t.equal(header(single, 'docker-content-digest'), amd64.digest, 'the held platform is served')
    t.same(single.rawPayload, amd64.bytes)
  })

  t.test(`sparse ${label}: the config blob is required and digests are checked`, async t => {
    const { app } = await buildTestApp(t, env)
    const image = await pushImageBlobs(app, 'mirror/img', 'two')
    const absentConfig = descriptor(MT.ociConfig, '{"never":"uploaded"}')
    const noConfig = await putManifest(app, 'mirror/img', 'no-config', { ...image.manifest, config: absentConfig }, MT.ociManifest)
    const error = expectError(t, noConfig.res, 400, 'MANIFEST_BLOB_UNKNOWN')
    t.match(error.message, absentConfig.digest)
    const badLayer = { ...absentLayer, digest: 'sha256:not-a-digest' }
    const bad = await putManifest(app, 'mirror/img', 'bad', { ...image.manifest, layers: [badLayer] }, MT.ociManifest)
    t.equal(bad.res.statusCode, 400, 'a malformed layer digest is refused')
    t.match(JSON.parse(bad.res.body), { errors: [{ code: /DIGEST_INVALID|MANIFEST_INVALID/ }] })
    const badChild = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ ...absentChild, digest: `sha256:${'z'.repeat(64)}` }] }
    const badIndex = await putManifest(app, 'mirror/img', 'bad-index', badChild, MT.ociIndex)
    t.equal(badIndex.res.statusCode, 400, 'a malformed child digest is refused')
  })
}
