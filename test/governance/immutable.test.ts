// Immutable tags in every dialect: /v2 (inject and oras), the CNR API, /packages, and a rule set through the
// CLI on a running server. A refused change leaves the store as it was.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { toolPath } from '../../scripts/tool-paths.mjs'
import { runCli } from '../../src/cli.js'
import { paths } from '../../src/storage/paths.js'
import { assertCnrError, push, startApi, tarGz, KPM_FILES } from '../cnr/helpers.js'
import { buildTestApp } from '../helpers/app.js'
import { runBerth, type CliRun } from '../helpers/cli.js'
import { MT, expectError, pushImage, putManifest, storeKeys } from '../oci/helpers.js'

const exec = promisify(execFile)
const NO_CACHE = { BERTH_AUTH_CACHE_SECONDS: '0' }

const cli = async (env: Record<string, string>, ...argv: string[]): Promise<CliRun> => await runBerth(argv, env)

t.test('/v2: an immutable tag is not moved or deleted; the same digest may be pushed again', async t => {
  const { app } = await buildTestApp(t, NO_CACHE)
  const first = await pushImage(app, 'alice/app', 'v1.0', 'one')
  await pushImage(app, 'alice/app', 'latest', 'one-latest')
  await app.berth.governance.addImmutable('alice', 'v*')

  const other = await pushImage(app, 'alice/app', 'scratch', 'two')
  const keysBefore = await storeKeys(app, 'repositories/')
  const moved = await putManifest(app, 'alice/app', 'v1.0', other.manifest, MT.ociManifest)
  const error = expectError(t, moved.res, 409, 'TAG_INVALID', 'moving v1.0')
  t.match(error.message, /tag "v1\.0" of alice\/app is immutable \(rule "v\*"/, 'the message names the tag and the rule')
  t.same(error.detail, { repository: 'alice/app', tag: 'v1.0', rule: 'v*', digest: first.digest })
  t.equal((await app.berth.registry.tags.get('alice/app', 'v1.0'))?.digest, first.digest, 'the tag still names its manifest')
  t.same(await storeKeys(app, 'repositories/'), keysBefore, 'a refused push writes nothing')

  const again = await putManifest(app, 'alice/app', 'v1.0', first.manifest, MT.ociManifest)
  t.equal(again.res.statusCode, 201, 're-pushing the same manifest to the tag is allowed')

  // ?tag= on a digest push is checked too, before the manifest is linked.
  const viaQuery = await putManifest(app, 'alice/app', other.digest, other.manifest, MT.ociManifest, '?tag=v1.0')
  expectError(t, viaQuery.res, 409, 'TAG_INVALID', 'moving via ?tag=')

  const delTag = await app.inject({ method: 'DELETE', url: '/v2/alice/app/manifests/v1.0' })
  expectError(t, delTag, 409, 'TAG_INVALID', 'deleting the tag')
  const delManifest = await app.inject({ method: 'DELETE', url: `/v2/alice/app/manifests/${first.digest}` })
  const byDigest = expectError(t, delManifest, 409, 'TAG_INVALID', 'deleting the manifest it names')
  t.match(byDigest.message, /cannot be deleted/)
  t.ok(await app.berth.registry.driver.stat(paths.manifestLink('alice/app', first.digest)), 'the manifest is still linked')

  // Tags outside the rule, and other namespaces, are unaffected.
  t.equal((await putManifest(app, 'alice/app', 'latest', other.manifest, MT.ociManifest)).res.statusCode, 201)
  t.equal((await app.inject({ method: 'DELETE', url: '/v2/alice/app/manifests/latest' })).statusCode, 202)
  await pushImage(app, 'bob/app', 'v1.0', 'bob')
  t.equal((await pushImage(app, 'bob/app', 'v1.0', 'bob-two')).res.statusCode, 201, 'other namespaces have their own rules')

  // Removing the rule lifts it.
  await app.berth.governance.removeImmutable('alice', 'v*')
  t.equal((await app.inject({ method: 'DELETE', url: '/v2/alice/app/manifests/v1.0' })).statusCode, 202)
})

t.test('oras: pushing over an immutable tag fails with the registry\'s message', async t => {
  const api = await startApi(t, NO_CACHE)
  const dir = t.testdir({ 'a.txt': 'first', 'b.txt': 'second' })
  const oras = toolPath('oras')
  const orasPush = async (file: string) => await exec(oras, ['push', '--plain-http', `${api.host}/alice/files:release-1`, file], { cwd: dir }).then(
    r => ({ ok: true, out: r.stdout + r.stderr }), (e: { stdout: string, stderr: string }) => ({ ok: false, out: e.stdout + e.stderr }))
  t.ok((await orasPush('a.txt')).ok, 'first push')
  const before = await api.app.berth.registry.tags.get('alice/files', 'release-1')
  await api.app.berth.governance.addImmutable('alice', 'release-*')
  const refused = await orasPush('b.txt')
  t.notOk(refused.ok, 'oras fails')
  t.match(refused.out, /immutable/, refused.out)
  t.same(await api.app.berth.registry.tags.get('alice/files', 'release-1'), before, 'the tag did not move')
})

t.test('CNR: an immutable release cannot be replaced (even with force) or deleted, nor its channel moved', async t => {
  const api = await startApi(t, NO_CACHE)
  const blob = await tarGz(KPM_FILES('1.0.0'))
  t.equal((await push(api, 'alice/pkg', '1.0.0', 'kpm', blob)).status, 200)
  t.equal((await api.request('POST', '/api/v1/packages/alice/pkg/channels/stable/1.0.0')).status, 200)
  await api.app.berth.governance.addImmutable('alice', '*')
  const tagBefore = await api.app.berth.registry.tags.get('alice/pkg', '1.0.0')
  const keysBefore = await storeKeys(api.app, 'repositories/')

  // Without force the release's own rule answers (package-exists); with force, the immutable rule does.
  assertCnrError(t, await push(api, 'alice/pkg', '1.0.0', 'kpm', blob), 409, 'package-exists')
  const forced = await push(api, 'alice/pkg', '1.0.0', 'kpm', await tarGz(KPM_FILES('1.0.0-other')), true)
  assertCnrError(t, forced, 409, 'tag-immutable')
  t.match(forced.json<{ message: string }>().message, /tag "1\.0\.0" of alice\/pkg is immutable \(rule "\*"/)
  t.same(forced.json<{ details: unknown }>().details, { repository: 'alice/pkg', tag: '1.0.0', rule: '*', digest: tagBefore?.digest })
  // Another media type changes the release's index: refused as well.
  assertCnrError(t, await push(api, 'alice/pkg', '1.0.0', 'helm', blob), 409, 'tag-immutable')

  assertCnrError(t, await api.request('DELETE', '/api/v1/packages/alice/pkg/1.0.0/kpm'), 409, 'tag-immutable')
  assertCnrError(t, await api.request('DELETE', '/api/v1/packages/alice/pkg/channels/stable'), 409, 'tag-immutable')
  assertCnrError(t, await api.request('DELETE', '/api/v1/packages/alice/pkg/channels/stable/1.0.0'), 409, 'tag-immutable')
  t.same(await storeKeys(api.app, 'repositories/'), keysBefore, 'nothing in the repository changed')
  t.same(await storeKeys(api.app, paths.cnrDeletedPrefix('alice/pkg')), [], 'no tombstone written')
  const channel = await api.request('GET', '/api/v1/packages/alice/pkg/channels/stable')
  t.equal(channel.json<{ current: string }>().current, '1.0.0', 'the channel is unchanged')

  // New releases are still welcome.
  t.equal((await push(api, 'alice/pkg', '1.0.1', 'kpm', await tarGz(KPM_FILES('1.0.1')))).status, 200)
})

t.test('/packages: an immutable package file is neither overwritten nor deleted (plain-text 409)', async t => {
  const api = await startApi(t, NO_CACHE)
  const up = async (file: string, body: string) => await api.request('PUT', `/packages/${file}`, { body })
  t.equal((await up('tool-1.0.0.tar.gz', 'one')).status, 200)
  await api.app.berth.governance.addImmutable('packages', '1.*')
  const keysBefore = await storeKeys(api.app, 'repositories/')
  const over = await up('tool-1.0.0.tar.gz', 'two')
  t.equal(over.status, 409)
  t.match(over.headers['content-type'], /^text\/plain/)
  t.match(over.text, /^tag "1\.0\.0" of packages\/tool is immutable \(rule "1\.\*"/)
  const del = await api.request('DELETE', '/packages/tool-1.0.0.tar.gz')
  t.equal(del.status, 409)
  t.match(del.text, /cannot be deleted/)
  t.same(await storeKeys(api.app, 'repositories/'), keysBefore, 'nothing written or removed')
  t.equal((await api.request('GET', '/packages/tool-1.0.0.tar.gz')).text, 'one', 'the file is the one first uploaded')
  t.equal((await up('tool-2.0.0.tar.gz', 'two')).status, 200, 'versions outside the rule are mutable')
})

t.test('a rule set through the CLI holds on a running server within its cache lifetime', async t => {
  const dataDir = t.testdir()
  const env = { BERTH_DATA_DIR: dataDir }
  const { app } = await buildTestApp(t, { BERTH_DATA_DIR: dataDir }) // the default cache: rules re-read every 2 s
  const one = await pushImage(app, 'carol/app', 'v1', 'one')
  const two = await pushImage(app, 'carol/app', 'scratch', 'two')

  const added = await cli(env, 'immutable', 'add', 'carol', 'v*')
  t.equal(added.code, 0, added.stderr)
  t.equal(added.stdout, 'carol\timmutable: v*\n')
  t.equal((await cli(env, 'immutable', 'list')).stdout, 'carol\tv*\n')
  t.equal((await cli(env, 'immutable', 'list', '--json')).stdout, '[{"namespace":"carol","patterns":["v*"]}]\n')
  t.equal((await cli(env, 'immutable', 'add', 'carol', 'bad/pattern')).code, 2, 'a bad pattern is a usage error')

  // Poll the way a client would retry; the bound is RULES_CACHE_MS (2 s), given generous room here. Each try
  // moves v1 to the other image, so whenever the rule starts to hold, the next try is a move it refuses. (Moving
  // it to two and back in one try could leave it on two when the rule arrived in between: every later push of
  // two would then change nothing and be accepted.)
  const deadline = Date.now() + 30_000
  let current = one
  let res
  for (;;) {
    const other = current === one ? two : one
    res = await putManifest(app, 'carol/app', 'v1', other.manifest, MT.ociManifest)
    if (res.res.statusCode === 409 || Date.now() > deadline) break
    current = other // accepted: the rule was not seen yet
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  expectError(t, res.res, 409, 'TAG_INVALID', 'the running server applies the CLI rule')

  t.equal((await cli(env, 'immutable', 'remove', 'carol', 'v*')).stdout, 'carol\timmutable: -\n')
  t.same(await storeKeys(app, 'governance/namespaces/'), [], 'a namespace without rules keeps no record')
})
