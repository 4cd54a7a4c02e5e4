// Namespace quotas: usage counted once per digest, refusals in every dialect before bytes are accepted where the
// size is known (at commit for chunked uploads), recount, the CLI and the metrics hook.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { runCli } from '../../src/cli.js'
import { paths } from '../../src/storage/paths.js'
import { assertCnrError, push, startApi, tarGz, KPM_FILES } from '../cnr/helpers.js'
import { buildTestApp } from '../helpers/app.js'
import { runBerth } from '../helpers/cli.js'
import { MT, expectError, pushBlob, pushImage, putManifest, sha256, storeKeys } from '../oci/helpers.js'

const NO_CACHE = { BERTH_AUTH_CACHE_SECONDS: '0' }

async function setQuota (app: FastifyInstance, namespace: string, bytes: number): Promise<void> {
  await app.berth.governance.setQuota(namespace, bytes, app.berth.registry.catalog, async () => {})
}
async function used (app: FastifyInstance, namespace: string): Promise<number> {
  return (await app.berth.governance.usage.total(namespace))?.usedBytes ?? -1
}
/** Every key outside governance/ (usage records are the quota's own bookkeeping). */
async function registryKeys (app: FastifyInstance): Promise<string[]> {
  return (await Promise.all(['blobs/', 'repositories/', 'uploads/', 'catalog/'].map(async p => await storeKeys(app, p)))).flat()
}

t.test('/v2: usage counts each digest once per namespace; pushes past the quota get 403 DENIED and write nothing', async t => {
  const { app } = await buildTestApp(t, NO_CACHE)
  const image = await pushImage(app, 'alice/a', 'v1', 'shared')
  await setQuota(app, 'alice', 10_000)
  const imageBytes = image.config.size + image.layers.reduce((n, l) => n + l.size, 0) + image.bytes.length
  t.equal(await used(app, 'alice'), imageBytes, 'setting a quota counts what the namespace already holds')

  // The same image in a second repository of the namespace costs nothing more.
  await pushImage(app, 'alice/b', 'v1', 'shared')
  t.equal(await used(app, 'alice'), imageBytes, 'shared blobs and manifests count once')

  const big = Buffer.alloc(20_000, 1)
  const before = await registryKeys(app)
  const refused = await app.inject({ method: 'POST', url: `/v2/alice/a/blobs/uploads/?digest=${sha256(big)}`, payload: big, headers: { 'content-type': 'application/octet-stream' } })
  const error = expectError(t, refused, 403, 'DENIED', 'monolithic push past the quota')
  t.match(error.message, new RegExp(`quota exceeded: storing .*\\(20000 bytes\\) in alice/a would take namespace alice past its quota: .*\\(${imageBytes} bytes\\) used of .*\\(10000 bytes\\)`))
  t.same(error.detail, { namespace: 'alice', usedBytes: imageBytes, limitBytes: 10_000, requestedBytes: 20_000 })
  t.same(await registryKeys(app), before, 'no blob, link or session left behind')

  // Chunked: the size is unknown until the end, so the final PUT refuses it.
  const start = await app.inject({ method: 'POST', url: '/v2/alice/a/blobs/uploads/' })
  const location = String(start.headers.location)
  const patch = await app.inject({ method: 'PATCH', url: location, payload: big, headers: { 'content-type': 'application/octet-stream' } })
  t.equal(patch.statusCode, 202, 'chunks are taken')
  const done = await app.inject({ method: 'PUT', url: `${location}${location.includes('?') ? '&' : '?'}digest=${sha256(big)}` })
  expectError(t, done, 403, 'DENIED', 'chunked push refused at commit')
  t.equal(await app.berth.registry.driver.stat(paths.blob(sha256(big))), undefined, 'the bytes never became a blob')
  t.same(await registryKeys(app), before, 'and the session is gone')

  // A manifest past the quota.
  await setQuota(app, 'alice', imageBytes + 5)
  const manifest = { ...image.manifest, annotations: { note: 'x'.repeat(100) } }
  const tooBig = await putManifest(app, 'alice/a', 'v2', manifest, MT.ociManifest)
  expectError(t, tooBig.res, 403, 'DENIED', 'manifest push past the quota')
  t.equal(await app.berth.registry.tags.get('alice/a', 'v2'), undefined)

  // Re-pushing what the namespace holds is free.
  t.equal((await putManifest(app, 'alice/a', 'v1', image.manifest, MT.ociManifest)).res.statusCode, 201)
  await pushBlob(app, 'alice/c', Buffer.from(`layer bytes for shared`))

  // A mount from another namespace counts.
  const bobBlob = Buffer.alloc(50, 2)
  await pushBlob(app, 'bob/x', bobBlob)
  const mount = await app.inject({ method: 'POST', url: `/v2/alice/a/blobs/uploads/?mount=${sha256(bobBlob)}&from=bob/x` })
  expectError(t, mount, 403, 'DENIED', 'a mount into the namespace past its quota')
  t.equal(await app.berth.registry.driver.stat(paths.layerLink('alice/a', sha256(bobBlob))), undefined)

  // Deleting frees space only when no repository of the namespace holds the digest any more.
  t.equal((await app.inject({ method: 'DELETE', url: `/v2/alice/a/manifests/${image.digest}` })).statusCode, 202)
  t.equal(await used(app, 'alice'), imageBytes, 'alice/b still holds the manifest')
  t.equal((await app.inject({ method: 'DELETE', url: `/v2/alice/b/manifests/${image.digest}` })).statusCode, 202)
  t.equal(await used(app, 'alice'), imageBytes - image.bytes.length, 'the last holder gone, the manifest no longer counts')

  const incremental = await used(app, 'alice')
  const report = await app.berth.governance.recount('alice', app.berth.registry.catalog)
  t.equal(report.usedBytes, incremental, 'a recount from the store agrees with the incremental usage')
  t.equal(report.repositories, 3)
  t.same(await app.berth.governance.quotaUsage(), [{ namespace: 'alice', usedBytes: incremental, limitBytes: imageBytes + 5 }], 'the metrics hook')
})

t.test('CNR and /packages: pushes past the quota are refused in their own formats', async t => {
  const api = await startApi(t, NO_CACHE)
  await setQuota(api.app, 'alice', 100)
  await setQuota(api.app, 'packages', 100)
  const before = await registryKeys(api.app)
  const pushed = await push(api, 'alice/pkg', '1.0.0', 'kpm', await tarGz(KPM_FILES('1.0.0')))
  assertCnrError(t, pushed, 403, 'quota-exceeded')
  t.match(pushed.json<{ message: string }>().message, /^quota exceeded: storing .* in alice\/pkg would take namespace alice past its quota: 0 B \(0 bytes\) used of 100 B \(100 bytes\)$/)
  t.match(pushed.json<{ details: unknown }>().details, { namespace: 'alice', usedBytes: 0, limitBytes: 100 })

  const file = await api.request('PUT', '/packages/tool-1.0.0.tar.gz', { body: Buffer.alloc(500) })
  t.equal(file.status, 403)
  t.match(file.headers['content-type'], /^text\/plain/)
  t.match(file.text, /^quota exceeded: storing 500 B \(500 bytes\) in packages\/tool would take namespace packages past its quota/)
  t.same(await registryKeys(api.app), before, 'nothing written')
  t.equal((await api.request('PUT', '/packages/tool-1.0.0.tar.gz', { body: 'ok' })).status, 403, 'the package manifest and config count too')
  await setQuota(api.app, 'packages', 10_000)
  t.equal((await api.request('PUT', '/packages/tool-1.0.0.tar.gz', { body: 'ok' })).status, 200)
  t.ok(await used(api.app, 'packages') > 2)
})

t.test('berth quota: set, list, recount and unset', async t => {
  const dataDir = t.testdir()
  const env = { BERTH_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }
  const cli = async (...argv: string[]) => {
    const { code, stdout: out, stderr: err } = await runBerth(argv, env)
    return { code, out, err }
  }
  const { app } = await buildTestApp(t, { BERTH_DATA_DIR: dataDir })
  const blob = Buffer.alloc(3000, 7)
  await pushBlob(app, 'dave/one', blob)
  await pushBlob(app, 'dave/two', blob)

  const set = await cli('quota', 'set', 'dave', '1KiB')
  t.equal(set.code, 0, set.err)
  t.equal(set.out, 'dave\t2.93 KiB of 1 KiB\n', 'usage counted once, from the store')
  t.equal((await cli('quota')).out, 'dave\t2.93 KiB of 1 KiB (293%)\n')
  t.equal((await cli('quota', 'list', '--json')).out, '[{"namespace":"dave","usedBytes":3000,"limitBytes":1024}]\n')
  t.equal((await cli('quota', 'recount')).out, 'dave\t2.93 KiB in 1 blobs and manifests (2 links in 2 repositories)\n')
  t.equal((await cli('quota', 'set', 'dave', 'lots')).code, 2, 'a bad size is a usage error')
  t.equal((await cli('quota', 'unset', 'dave')).out, 'dave\tno quota\n')
  t.same(await storeKeys(app, 'governance/'), [], 'no quota, no records')
  t.equal((await cli('quota')).out, '')

  // Without a quota, nothing is tracked on push; a recount measures a snapshot that pushes do not move.
  await pushBlob(app, 'erin/one', Buffer.alloc(10, 1))
  t.same(await storeKeys(app, 'governance/'), [], 'a push to a namespace without a quota writes no usage records')
  t.same(await app.berth.governance.storageUsage(), [])
  t.equal((await cli('quota', 'recount')).out,
    'dave\t2.93 KiB in 1 blobs and manifests (2 links in 2 repositories)\nerin\t10 B in 1 blobs and manifests (1 links in 1 repositories)\n',
    'without a namespace: every namespace in the catalog')
  const measured = await app.berth.governance.storageUsage()
  t.match(measured, [{ namespace: 'dave', usedBytes: 3000, live: false, measuredAt: String }, { namespace: 'erin', usedBytes: 10, live: false, measuredAt: String }])
  await pushBlob(app, 'erin/one', Buffer.alloc(20, 2))
  t.same(await app.berth.governance.storageUsage(), measured, 'a snapshot does not move on push')
  t.match(await app.berth.governance.measure('erin', app.berth.registry.catalog), { namespace: 'erin', usedBytes: 30, live: false, measuredAt: String })
  await t.rejects(app.berth.governance.measure('Bad Name', app.berth.registry.catalog), { name: 'GovernanceInputError' })
})
