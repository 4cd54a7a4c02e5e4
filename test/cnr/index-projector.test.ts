// The CNR index follows the registry's events, whichever door wrote (/v2 clients, /packages, the CNR API),
// and can be rebuilt from the store (`berth cnr reindex`) when records are lost or damaged.
import t from 'tap'
import { paths } from '../../src/storage/paths.js'
import { buildTestApp } from '../helpers/app.js'
import { runBerth, type CliRun } from '../helpers/cli.js'
import { type Api, KPM_FILES, sha256, startApi, tarGz } from './helpers.js'

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

/** Uploads `layer` (and, unless `withConfig` is false, the empty config) and returns an artifact manifest for it. */
async function artifactManifest (api: Api, name: string, layer: Buffer, withConfig = true): Promise<string> {
  for (const blob of withConfig ? [layer, Buffer.from('{}')] : [layer]) {
    await api.request('POST', `/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, { body: blob, headers: { 'content-type': 'application/octet-stream' } })
  }
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST,
    artifactType: 'application/vnd.example.thing.v1',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
    layers: [{ mediaType: 'application/vnd.appr.package.kpm.v0.tar+gzip', digest: sha256(layer), size: layer.length }]
  })
}

async function pushArtifact (api: Api, name: string, reference: string, content: string): Promise<string> {
  const manifest = await artifactManifest(api, name, Buffer.from(content))
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
    const body = await artifactManifest(api, 'oci/thing', Buffer.from('two'), false) // the config is already there
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

t.test('a /packages upload shows in the CNR list at once, and its delete leaves it', async t => {
  const api = await startApi(t)
  t.equal((await api.request('PUT', '/packages/foo-1.0.0.tar.gz', { body: await tarGz({ 'foo/README': 'one' }) })).status, 200)
  t.equal((await api.request('PUT', '/packages/foo-1.1.0.tar.gz', { body: await tarGz({ 'foo/README': 'two' }) })).status, 200)
  const list = (await api.request('GET', '/cnr/api/v1/packages')).json<Array<{ name: string, releases: string[], default: string }>>()
  t.match(list, [{ name: 'packages/foo', releases: ['1.1.0', '1.0.0'], default: '1.1.0' }])
  t.same((await api.request('GET', '/cnr/api/v1/packages?query=foo')).json<Array<{ name: string }>>().map(p => p.name), ['packages/foo'], 'and in searches')
  t.equal((await api.request('DELETE', '/packages/foo-1.1.0.tar.gz')).status, 200)
  t.same(await releasesOf(api), [['packages/foo', ['1.0.0']]], 'a /packages delete (by digest) drops the release')
})

/** Runs `berth <args>` in-process on a data directory; returns the exit status and what it printed. */
const berth = async (dir: string, args: string[]): Promise<CliRun> => await runBerth(args, { BERTH_DATA_DIR: dir, LOG_LEVEL: 'warn' })

t.test('berth cnr reindex rebuilds lost and damaged index records from the store', async t => {
  const { app, config } = await buildTestApp(t)
  const dir = config.storage.root
  const driver = app.berth.driver
  const list = async (query = ''): Promise<unknown> => {
    const res = await app.inject({ method: 'GET', url: `/cnr/api/v1/packages${query}` })
    return res.statusCode === 200 ? res.json<Array<{ name: string, releases: string[] }>>().map(p => [p.name, p.releases]) : res.statusCode
  }
  for (const [pkg, release] of [['acme/alpha', '1.0.0'], ['acme/alpha', '1.2.0'], ['acme/beta', '2.0.0'], ['zed/gamma', '0.1.0']] as const) {
    const blob = (await tarGz(KPM_FILES(release))).toString('base64')
    const res = await app.inject({ method: 'POST', url: `/cnr/api/v1/packages/${pkg}`, payload: { blob, release, media_type: 'kpm' } })
    t.equal(res.statusCode, 200, res.body)
  }
  t.equal((await app.inject({ method: 'PUT', url: '/packages/delta-3.0.0.tar.gz', payload: Buffer.from('not even gzip') })).statusCode, 200)
  // Indexing works out the CNR digest within a small time and size budget (src/cnr/tarball.ts); a file that is not
  // gzip has its own sha256 as its CNR digest.
  const recorded = JSON.parse((await driver.readAll(paths.cnrDigest(sha256('not even gzip')))).toString('utf8')) as { cnrDigest: string }
  t.equal(`sha256:${recorded.cnrDigest}`, sha256('not even gzip'), 'a file that is not gzip is its own CNR digest')
  const expected = [['acme/alpha', ['1.2.0', '1.0.0']], ['acme/beta', ['2.0.0']], ['packages/delta', ['3.0.0']], ['zed/gamma', ['0.1.0']]]
  t.same(await list(), expected)
  const gammaRecord = await driver.readAll(paths.cnrPackage('zed/gamma'))

  // A crash after the write and before its event, a lost record, a damaged one, lost search postings.
  await driver.delete(paths.cnrPackage('acme/alpha'))
  await driver.write(paths.cnrPackage('acme/beta'), Buffer.from('{"name": "acme/be'))
  await driver.write(paths.cnrPackage('packages/delta'), Buffer.from('{}'))
  await driver.write(paths.cnrPackage('zed/gamma'), Buffer.from(JSON.stringify({ ...JSON.parse(gammaRecord.toString('utf8')), releases: { '9.9.9': ['kpm'] } })))
  await driver.deletePrefix('cnr/search/')
  t.not(await list(), expected, 'the index is broken')

  const run = await berth(dir, ['cnr', 'reindex'])
  t.equal(run.code, 0, run.stderr)
  t.equal(run.stdout, 'reindexed 4 packages (4 repositories read)\n')
  t.same(await list(), expected, 'every package is back, with exactly its releases')
  t.same(await list('?query=gam'), [['zed/gamma', ['0.1.0']]], 'searches work again')
  t.same(await list('?query=a'), expected.filter(([name]) => (name as string).includes('a')))
  t.same(JSON.parse((await driver.readAll(paths.cnrPackage('zed/gamma'))).toString('utf8')), JSON.parse(gammaRecord.toString('utf8')),
    'a record that was readable keeps its creation time')

  t.same(await app.berth.cnrIndex.rebuild(), { repositories: 4, packages: 4, failed: [] }, 'rebuilding again changes nothing')
  t.same(await list(), expected)
  t.equal((await berth(dir, ['cnr', 'frob'])).code, 2, 'usage errors exit 2')
})
