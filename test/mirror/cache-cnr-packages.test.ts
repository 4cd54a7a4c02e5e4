// CNR and /packages reads of mirrored names fetch on demand, through the same cache as /v2 manifest GETs. The
// upstream is a second Berth (in this process) holding CNR releases pushed through its CNR API and a /packages
// file; the mirror Berth serves them through its own CNR and /packages APIs with the upstream's bytes and
// digests, projects them into its CNR index, and still serves what it fetched once the upstream is gone.
import t from 'tap'
import { HELM_FILES, KPM_FILES, assertCnrError, push, sha256, startApi, tarGz } from '../cnr/helpers.js'

interface ReleaseManifest { package: string, release: string, mediaType: string, content: { digest: string, size: number, mediaType: string } }

t.test('CNR and /packages reads of mirrored names', async t => {
  const upstream = await startApi(t)
  const kpm100 = await tarGz(KPM_FILES('1.0.0'))
  const helm100 = await tarGz(HELM_FILES('pkg', '1.0.0'))
  const kpm110 = await tarGz(KPM_FILES('1.1.0'))
  for (const [release, mediaType, blob] of [['1.0.0', 'kpm', kpm100], ['1.0.0', 'helm', helm100], ['1.1.0', 'kpm', kpm110]] as const) {
    const res = await push(upstream, 'ns/pkg', release, mediaType, blob)
    t.equal(res.status, 200, `pushed ${release} ${mediaType} upstream`)
  }
  const file = Buffer.concat([Buffer.from('a package file\n'), await tarGz({ 'tool/README': 'tool 1.2.3\n' })])
  t.equal((await upstream.request('PUT', '/packages/tool-1.2.3.tar.gz', { body: file })).status, 200)

  const mirror = await startApi(t, {
    BERTH_MIRRORS: JSON.stringify([
      { prefix: 'up', upstream: upstream.url, upstreamPrefix: 'ns', ttlSeconds: 1 },
      { prefix: 'packages', upstream: upstream.url, upstreamPrefix: 'packages', ttlSeconds: 86400 }
    ])
  })
  const upstreamView = async (path: string): Promise<ReleaseManifest> => (await upstream.request('GET', `/cnr/api/v1/packages/ns/pkg${path}`)).json<ReleaseManifest>()

  await t.test('a release pulled by exact version: the upstream\'s bytes, digests and OCI index', async t => {
    const pulled = await mirror.request('GET', '/cnr/api/v1/packages/up/pkg/1.0.0/kpm/pull')
    t.equal(pulled.status, 200)
    t.match(pulled.headers['content-type'], /^application\/x-gzip/)
    t.ok(pulled.body.equals(kpm100), 'the kpm tarball pushed upstream')
    t.equal(pulled.headers['berth-mirror'], undefined, 'a fresh copy carries no Berth-Mirror note')
    const helm = await mirror.request('GET', '/cnr/api/v1/packages/up/pkg/1.0.0/helm/pull')
    t.ok(helm.body.equals(helm100), 'the helm tarball pushed upstream')

    const release = await mirror.request('GET', '/cnr/api/v1/packages/up/pkg/1.0.0')
    t.equal(release.status, 200)
    const views = release.json<ReleaseManifest[]>()
    const want = await upstream.request('GET', '/cnr/api/v1/packages/ns/pkg/1.0.0')
    t.same(views.map(v => [v.mediaType, v.content]), want.json<ReleaseManifest[]>().map(v => [v.mediaType, v.content]), 'the same media types and content digests')
    t.same(views.map(v => v.package), ['up/pkg', 'up/pkg'])

    const accept = { accept: 'application/vnd.oci.image.index.v1+json' }
    const index = await fetch(`${mirror.url}/v2/up/pkg/manifests/1.0.0`, { headers: accept })
    const direct = await fetch(`${upstream.url}/v2/ns/pkg/manifests/1.0.0`, { headers: accept })
    t.equal(index.headers.get('docker-content-digest'), direct.headers.get('docker-content-digest'), 'the release index is the upstream\'s')
    t.ok(Buffer.from(await index.arrayBuffer()).equals(Buffer.from(await direct.arrayBuffer())))
  })

  await t.test('a manifest read and a semver query choose among the upstream\'s releases', async t => {
    const manifest = await mirror.request('GET', '/cnr/api/v1/packages/up/pkg/1.1.0/kpm')
    t.equal(manifest.status, 200)
    t.same(manifest.json<ReleaseManifest>().content, (await upstreamView('/1.1.0/kpm')).content)
    const latest = await mirror.request('GET', '/cnr/api/v1/packages/up/pkg/default/kpm/pull')
    t.equal(latest.status, 200)
    t.ok(latest.body.equals(kpm110), 'default is the highest release upstream')
    const range = await mirror.request('GET', `/cnr/api/v1/packages/up/pkg/${encodeURIComponent('>=1.0.0,<1.1.0')}/kpm/pull`)
    t.ok(range.body.equals(kpm100), 'a range picks the highest release in it')
    const json = await mirror.request('GET', '/cnr/api/v1/packages/up/pkg/1.1.0/kpm/pull/json')
    t.ok(Buffer.from(json.json<{ blob: string }>().blob, 'base64').equals(kpm110))
    // What was fetched is in the mirror's CNR index, as any push would be.
    const listed = await mirror.request('GET', '/cnr/api/v1/packages?namespace=up')
    t.same(listed.json<Array<{ name: string, releases: string[] }>>().map(p => [p.name, p.releases]), [['up/pkg', ['1.1.0', '1.0.0']]])
    assertCnrError(t, await mirror.request('GET', '/cnr/api/v1/packages/up/pkg/9.9.9/kpm/pull'), 404)
    assertCnrError(t, await mirror.request('GET', '/cnr/api/v1/packages/up/other/1.0.0/kpm/pull'), 404)
    assertCnrError(t, await mirror.request('GET', '/cnr/api/v1/packages/ns/pkg/1.0.0/kpm/pull'), 404) // outside every prefix: nothing is fetched
  })

  await t.test('a /packages download: the upstream\'s file', async t => {
    const got = await mirror.request('GET', '/packages/tool-1.2.3.tar.gz')
    t.equal(got.status, 200)
    t.equal(got.headers['content-length'], String(file.length))
    t.ok(got.body.equals(file), 'the bytes uploaded upstream')
    const tag = await fetch(`${mirror.url}/v2/packages/tool/manifests/1.2.3`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
    const direct = await fetch(`${upstream.url}/v2/packages/tool/manifests/1.2.3`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
    t.equal(tag.headers.get('docker-content-digest'), direct.headers.get('docker-content-digest'))
    const layer = (await tag.json() as { layers: Array<{ digest: string }> }).layers[0]?.digest
    t.equal(layer, sha256(file))
    const missing = await mirror.request('GET', '/packages/tool-9.9.9.tar.gz')
    t.equal(missing.status, 404)
    t.equal(missing.text.trim(), '404 not found', 'in the /packages dialect')
  })

  await t.test('pushes and deletes under a mirror prefix are refused in each dialect, and change nothing', async t => {
    const pushed = await push(mirror, 'up/pkg', '2.0.0', 'kpm', kpm110)
    assertCnrError(t, pushed, 403)
    t.match(pushed.json<{ message: string }>().message, /mirror prefix "up\/"/)
    assertCnrError(t, await mirror.request('DELETE', '/cnr/api/v1/packages/up/pkg/1.0.0/kpm'), 403)
    const upload = await mirror.request('PUT', '/packages/tool-2.0.0.tar.gz', { body: 'new file' })
    t.equal(upload.status, 403)
    t.match(upload.text, /^403 .*mirror prefix "packages\/"/)
    t.equal((await mirror.request('DELETE', '/packages/tool-1.2.3.tar.gz')).status, 403)
    const tags = await fetch(`${mirror.url}/v2/up/pkg/tags/list?n=0`)
    t.notMatch(await tags.text(), /2\.0\.0/, 'no release 2.0.0 was stored')
    t.ok((await mirror.request('GET', '/packages/tool-1.2.3.tar.gz')).body.equals(file), 'the file is still there')
  })

  await t.test('with the upstream gone, what was fetched is still served', async t => {
    await upstream.app.close()
    await new Promise(resolve => setTimeout(resolve, 1100)) // past the TTL of "up": its tags are checked again
    const pulled = await mirror.request('GET', '/cnr/api/v1/packages/up/pkg/1.0.0/kpm/pull')
    t.equal(pulled.status, 200)
    t.ok(pulled.body.equals(kpm100))
    t.equal(pulled.headers['berth-mirror'], 'stale; upstream unavailable', 'the CNR read says it is served stale')
    const latest = await mirror.request('GET', '/cnr/api/v1/packages/up/pkg/default/kpm/pull')
    t.ok(latest.body.equals(kpm110), 'a query chooses among the releases held')
    t.equal(latest.headers['berth-mirror'], 'stale; upstream unavailable')
    const held = await mirror.request('GET', '/packages/tool-1.2.3.tar.gz')
    t.ok(held.body.equals(file))
    t.equal(held.headers['berth-mirror'], undefined, 'within its TTL, a held file is not checked upstream')
    const gone = await mirror.request('GET', '/cnr/api/v1/packages/up/pkg/2.0.0/kpm/pull')
    assertCnrError(t, gone, 404)
    t.equal(gone.headers['berth-mirror'], 'upstream unavailable', 'a 404 says the upstream could not be asked')
    const missing = await mirror.request('GET', '/packages/other-1.0.0.tar.gz')
    t.equal(missing.status, 404)
    t.equal(missing.text.trim(), '404 not found')
    t.equal(missing.headers['berth-mirror'], 'upstream unavailable')
  })
})

t.test('a release index first pulled through /v2 joins the CNR index once a CNR read fetches its entries', async t => {
  const upstream = await startApi(t)
  const kpm = await tarGz(KPM_FILES('2.0.0'))
  const helm = await tarGz(HELM_FILES('app', '2.0.0'))
  t.equal((await push(upstream, 'ns/app', '2.0.0', 'kpm', kpm)).status, 200)
  t.equal((await push(upstream, 'ns/app', '2.0.0', 'helm', helm)).status, 200)
  const mirror = await startApi(t, { BERTH_MIRRORS: JSON.stringify([{ prefix: 'up', upstream: upstream.url, upstreamPrefix: 'ns' }]) })

  // A /v2 client asks for the index alone: its child manifests are not fetched (a docker pull takes one).
  const index = await fetch(`${mirror.url}/v2/up/app/manifests/2.0.0`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } })
  t.equal(index.status, 200)
  const listed = async (): Promise<unknown> => (await mirror.request('GET', '/cnr/api/v1/packages?namespace=up')).json<Array<{ name: string, releases: string[] }>>()
    .map(p => [p.name, p.releases])
  t.same(await listed(), [], 'not a CNR release yet: its entries are not held')

  const pulled = await mirror.request('GET', '/cnr/api/v1/packages/up/app/2.0.0/helm/pull')
  t.equal(pulled.status, 200)
  t.ok(pulled.body.equals(helm))
  t.same(await listed(), [['up/app', ['2.0.0']]], 'the CNR read fetched its entries, and the index lists it')
  const release = await mirror.request('GET', '/cnr/api/v1/packages/up/app/2.0.0')
  t.same(release.json<ReleaseManifest[]>().map(v => v.mediaType).sort(),
    ['application/vnd.appr.package-manifest.helm.v0.json', 'application/vnd.appr.package-manifest.kpm.v0.json'])
})
