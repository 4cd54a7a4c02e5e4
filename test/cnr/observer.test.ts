// The CNR index follows manifests pushed and deleted through /v2 by other clients.
import t from 'tap'
import { changedTags } from '../../src/cnr/observer.js'
import { type Api, sha256, startApi } from './helpers.js'

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

async function pushArtifact (api: Api, name: string, reference: string, content: string): Promise<string> {
  const layer = Buffer.from(content)
  for (const blob of [layer, Buffer.from('{}')]) {
    await api.request('POST', `/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, { body: blob, headers: { 'content-type': 'application/octet-stream' } })
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST,
    artifactType: 'application/vnd.example.thing.v1',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
    layers: [{ mediaType: 'application/vnd.appr.package.kpm.v0.tar+gzip', digest: sha256(layer), size: layer.length }]
  })
  const res = await api.request('PUT', `/v2/${name}/manifests/${reference}`, { body: manifest, headers: { 'content-type': MANIFEST } })
  if (res.status !== 201) throw new Error(res.text)
  return sha256(manifest)
}

const releasesOf = async (api: Api): Promise<unknown> =>
  (await api.request('GET', '/cnr/api/v1/packages')).json<Array<{ name: string, releases: string[] }>>().map(p => [p.name, p.releases])

t.test('/v2 pushes and deletes show in the CNR list at once', async t => {
  const api = await startApi(t)
  const first = await pushArtifact(api, 'oci/thing', '1.0.0', 'one')
  t.same(await releasesOf(api), [['oci/thing', ['1.0.0']]])

  // PUT by digest with ?tag= sets several tags at once.
  const manifestTwo = await (async () => {
    const layer = Buffer.from('two')
    await api.request('POST', `/v2/oci/thing/blobs/uploads/?digest=${sha256(layer)}`, { body: layer, headers: { 'content-type': 'application/octet-stream' } })
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      artifactType: 'application/vnd.example.thing.v1',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
      layers: [{ mediaType: 'application/vnd.appr.package.kpm.v0.tar+gzip', digest: sha256(layer), size: layer.length }]
    })
    const res = await api.request('PUT', `/v2/oci/thing/manifests/${sha256(body)}?tag=2.0.0&tag=2.1.0&tag=edge`, { body, headers: { 'content-type': MANIFEST } })
    t.equal(res.status, 201)
    return sha256(body)
  })()
  t.same(await releasesOf(api), [['oci/thing', ['2.1.0', '2.0.0', '1.0.0']]])

  t.equal((await api.request('DELETE', '/v2/oci/thing/manifests/2.1.0')).status, 202)
  t.same(await releasesOf(api), [['oci/thing', ['2.0.0', '1.0.0']]], 'a tag delete')
  t.equal((await api.request('DELETE', `/v2/oci/thing/manifests/${manifestTwo}`)).status, 202)
  t.same(await releasesOf(api), [['oci/thing', ['1.0.0']]], 'a digest delete drops every release it named')
  t.equal((await api.request('DELETE', `/v2/oci/thing/manifests/${first}`)).status, 202)
  t.same(await releasesOf(api), [], 'a package without releases is not listed')
  t.same((await api.request('GET', '/cnr/api/v1/packages/oci/thing')).json(), [], 'but is still known: its show is an empty list')
})

t.test('changedTags reads the /v2 manifest URLs', async t => {
  t.same(changedTags('PUT', '/v2/a/b/manifests/1.0.0', 201), { name: 'a/b', tags: ['1.0.0'] })
  t.same(changedTags('PUT', `/v2/a/b/manifests/${sha256('m')}?tag=1.0.0&tag=x`, 201), { name: 'a/b', tags: ['1.0.0', 'x'] })
  t.same(changedTags('PUT', `/v2/a/b/manifests/${sha256('m')}`, 201), undefined)
  t.same(changedTags('DELETE', `/v2/a/b/manifests/${sha256('m')}`, 202), { name: 'a/b', tags: 'all' })
  t.same(changedTags('DELETE', '/v2/a/b/manifests/1.0.0', 202), { name: 'a/b', tags: ['1.0.0'] })
  t.same(changedTags('PUT', '/v2/a/b/manifests/1.0.0', 400), undefined)
  t.same(changedTags('PUT', '/v2/a/b/c/manifests/1.0.0', 201), undefined, 'CNR packages have two components')
  t.same(changedTags('PUT', '/v2/a/b/blobs/uploads/x', 201), undefined)
})
