// The reference server's own API tests (APPR appr/tests/test_apiserver.py, the contract's "Server API test
// checklist", 38 tests), against real Berth processes (src/server.ts). Tests marked (newdb) start from an empty
// store; the others from the checklist's fixture (titi/rocketchat, see seedRocketchat) pushed through the API.
// Tests that only read (or are refused) share one server per starting state; a test that changes the store
// gets a fresh server of its own, as in the originals. As in the originals, every request carries
// Content-Type: application/json and a JSON body, even GETs.
import t from 'tap'
import type { Test } from 'tap'
import {
  type Api, type Res, type Seed, assertCnrError, cnrDigest, push, seedRocketchat, startServerApi as startApi, tarGz, KPM_FILES
} from './helpers.js'

const P = '/cnr/api/v1'
const ROCKET = `${P}/packages/titi/rocketchat`

async function call (api: Api, method: string, path: string, body: Record<string, unknown> = {}): Promise<Res> {
  return await api.request(method, path, { json: body })
}

/** A fresh seeded server, for a test that changes the store. */
async function seeded (t: Test): Promise<{ api: Api, seed: Seed }> {
  const api = await startApi(t)
  return { api, seed: await seedRocketchat(t, api) }
}

// One server per starting state for the tests that leave the store as they found it; started on first use
// and stopped when the file ends.
let sharedSeeded: Promise<{ api: Api, seed: Seed }> | undefined
let sharedEmpty: Promise<Api> | undefined
const seededReadOnly = async (): Promise<{ api: Api, seed: Seed }> => await (sharedSeeded ??= seeded(t))
const emptyReadOnly = async (): Promise<Api> => await (sharedEmpty ??= startApi(t))

interface Manifest {
  package: string
  release: string
  mediaType: string
  content: { digest: string, size: number, mediaType: string }
  channels?: string[]
}

t.test('test_version', async t => {
  const api = await emptyReadOnly()
  const res = await call(api, 'GET', '/cnr/version')
  t.equal(res.status, 200)
  t.equal(res.text, '{"appr-api":"0.7.4"}') // appr's test_version compares the body exactly
})

t.test('test_search_package_match', async t => {
  const { api } = await seededReadOnly()
  const res = await call(api, 'GET', `${P}/packages/search?q=rocketchat`)
  t.equal(res.status, 200)
  t.same(res.json(), ['titi/rocketchat'])
})

t.test('test_search_package_no_match', async t => {
  const { api } = await seededReadOnly()
  const res = await call(api, 'GET', `${P}/packages/search?q=toto`)
  t.equal(res.status, 200)
  t.same(res.json(), [])
})

t.test('test_list_search_package_match', async t => {
  const { api } = await seededReadOnly()
  const res = await call(api, 'GET', `${P}/packages?query=rocketchat`)
  t.equal(res.status, 200)
  const list = res.json<Array<{ name: string }>>()
  t.equal(list.length, 1)
  t.equal(list[0]?.name, 'titi/rocketchat')
})

t.test('test_list_search_package_no_match', async t => {
  const { api } = await seededReadOnly()
  const res = await call(api, 'GET', `${P}/packages?query=toto`)
  t.equal(res.status, 200)
  t.same(res.json(), [])
})

t.test('test_pull_package', async t => {
  const { api, seed } = await seededReadOnly()
  const res = await call(api, 'GET', `${ROCKET}/1.0.1/kpm/pull`)
  t.equal(res.status, 200)
  t.equal(res.headers['content-type'], 'application/x-gzip')
  t.equal(res.headers['content-disposition'], 'titi_rocketchat_1.0.1.tar.gz')
  t.ok(res.body.equals(seed.blobs['1.0.1/kpm'] as Buffer), 'the raw pull is the pushed tarball, byte for byte')
})

t.test('test_pull_package_no_release', async t => {
  const { api } = await seededReadOnly()
  assertCnrError(t, await call(api, 'GET', `${ROCKET}/1.0.3/kpm/pull`), 404, 'package-release-not-found')
})

t.test('test_pull_package_default_media_type', async t => {
  const { api, seed } = await seededReadOnly()
  const res = await call(api, 'GET', `${ROCKET}/1.0.1/-/pull?format=json`)
  t.equal(res.status, 200)
  const body = res.json<{ media_type: string, blob: string, release: string }>()
  t.equal(body.media_type, 'kpm')
  t.equal(body.release, '1.0.1')
  t.equal(body.blob, seed.blobs['1.0.1/kpm']?.toString('base64'))
})

t.test('test_pull_package_bad_release', async t => {
  const { api } = await seededReadOnly()
  assertCnrError(t, await call(api, 'GET', `${ROCKET}/abc/kpm/pull`), 422, 'invalid-release')
})

t.test('test_pull_package_json', async t => {
  const { api, seed } = await seededReadOnly()
  const res = await call(api, 'GET', `${ROCKET}/1.0.1/kpm/pull?format=json`)
  t.equal(res.status, 200)
  t.same(res.json(), {
    package: 'titi/rocketchat',
    blob: seed.blobs['1.0.1/kpm']?.toString('base64'),
    release: '1.0.1',
    media_type: 'kpm',
    filename: 'titi_rocketchat_1.0.1.tar.gz'
  })
})

t.test('test_push_package (newdb)', async t => {
  const api = await startApi(t)
  const blob = await tarGz(KPM_FILES('2.4.1'))
  const res = await push(api, 'titi/rocketchat', '2.4.1', 'kpm', blob)
  t.equal(res.status, 200)
  t.same(res.json(), { status: 'ok' })
  const fetched = await call(api, 'GET', `${ROCKET}/blobs/sha256/${cnrDigest(blob)}`)
  t.equal(fetched.status, 200)
  t.ok(fetched.body.equals(blob), 'the blob is retrievable by its digest')
})

t.test('test_push_package_bad_release', async t => {
  const { api } = await seededReadOnly()
  const res = await push(api, 'titi/rocketchat', 'anc', 'kpm', await tarGz(KPM_FILES('anc')))
  assertCnrError(t, res, 422, 'invalid-release')
  t.same(res.json<{ details: unknown }>().details, { version: 'anc' })
})

t.test('test_push_package_already_exists', async t => {
  const { api } = await seededReadOnly()
  const res = await push(api, 'titi/rocketchat', '1.0.1', 'kpm', await tarGz(KPM_FILES('1.0.1-bis')))
  assertCnrError(t, res, 409, 'package-exists')
  t.same(res.json<{ details: unknown }>().details, { package: 'titi/rocketchat', release: '1.0.1', media_type: 'kpm' })
})

t.test('test_push_package_already_exists_force', async t => {
  const { api } = await seeded(t)
  const blob = await tarGz(KPM_FILES('1.0.1-forced'))
  const res = await push(api, 'titi/rocketchat', '1.0.1', 'kpm', blob, true)
  t.equal(res.status, 200)
  const pulled = await call(api, 'GET', `${ROCKET}/1.0.1/kpm/pull`)
  t.ok(pulled.body.equals(blob), 'the forced push replaced the tarball')
})

t.test('test_get_blob', async t => {
  const { api, seed } = await seededReadOnly()
  const shown = await call(api, 'GET', `${ROCKET}/default/kpm`)
  const digest = shown.json<Manifest>().content.digest
  t.equal(digest, cnrDigest(seed.blobs['2.0.1/kpm'] as Buffer))
  const res = await call(api, 'GET', `${ROCKET}/blobs/sha256/${digest}`)
  t.equal(res.status, 200)
  t.ok(res.body.equals(seed.blobs['2.0.1/kpm'] as Buffer), 'body is the raw tar.gz')
})

t.test('test_get_absent_blob (newdb)', async t => {
  const api = await emptyReadOnly()
  assertCnrError(t, await call(api, 'GET', `${P}/packages/a/b/blobs/sha256/12345`), 404, 'package-not-found')
})

t.test('test_list_packages', async t => {
  const { api } = await seededReadOnly()
  const res = await call(api, 'GET', `${P}/packages/`)
  t.equal(res.status, 200)
  const list = res.json<Array<Record<string, unknown>>>()
  t.equal(list.length, 1)
  t.match(list[0], { created_at: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/ })
  t.same({ ...list[0], created_at: undefined }, {
    releases: ['2.0.1', '1.0.1', '0.0.1'],
    default: '2.0.1',
    manifests: ['kpm'],
    name: 'titi/rocketchat',
    visibility: 'public',
    created_at: undefined
  })
})

t.test('test_list_packages_filter_namespace', async t => {
  const { api } = await seededReadOnly()
  const none = await call(api, 'GET', `${P}/packages?namespace=ant31`)
  t.equal(none.status, 200)
  t.same(none.json(), [])
  const titi = await call(api, 'GET', `${P}/packages?namespace=titi`)
  t.equal(titi.status, 200)
  t.same(titi.json<Array<{ name: string }>>().map(p => p.name), ['titi/rocketchat'])
})

t.test('test_list_empty (newdb)', async t => {
  const api = await emptyReadOnly()
  const res = await call(api, 'GET', `${P}/packages`)
  t.equal(res.status, 200)
  t.same(res.json(), [])
})

t.test('test_delete_package', async t => {
  const { api } = await seeded(t)
  t.equal((await call(api, 'GET', `${ROCKET}/1.0.1/kpm`)).status, 200)
  const deleted = await call(api, 'DELETE', `${ROCKET}/1.0.1/kpm`)
  t.equal(deleted.status, 200)
  t.same(deleted.json(), { status: 'deleted', package: 'titi/rocketchat', release: '1.0.1' })
  assertCnrError(t, await call(api, 'GET', `${ROCKET}/1.0.1/kpm`), 404)
})

t.test('test_delete_absent_package (newdb)', async t => {
  const api = await emptyReadOnly()
  assertCnrError(t, await call(api, 'DELETE', `${ROCKET}/1.0.1/kpm`), 404, 'package-not-found')
})

t.test('test_show_package', async t => {
  const { api, seed } = await seededReadOnly()
  const res = await call(api, 'GET', `${ROCKET}/1.0.1/kpm`)
  t.equal(res.status, 200)
  const body = res.json<Manifest>()
  t.equal(body.content.digest, cnrDigest(seed.blobs['1.0.1/kpm'] as Buffer))
  t.equal(body.content.size, seed.blobs['1.0.1/kpm']?.length)
  t.equal(body.mediaType, 'application/vnd.appr.package-manifest.kpm.v0.json')
  t.equal(body.content.mediaType, 'application/vnd.appr.package.kpm.v0.tar+gzip')
  t.same(body.channels, ['dev'])
})

t.test('test_show_package_releases', async t => {
  const { api } = await seededReadOnly()
  const res = await call(api, 'GET', ROCKET)
  t.equal(res.status, 200)
  const list = res.json<Manifest[]>()
  t.equal(list.length, 4)
  t.same(list.map(m => `${m.release}/${m.mediaType}`).sort(), [
    '0.0.1/application/vnd.appr.package-manifest.helm.v0.json',
    '0.0.1/application/vnd.appr.package-manifest.kpm.v0.json',
    '1.0.1/application/vnd.appr.package-manifest.kpm.v0.json',
    '2.0.1/application/vnd.appr.package-manifest.kpm.v0.json'
  ])
})

t.test('test_show_package_manifests', async t => {
  const { api, seed } = await seededReadOnly()
  const res = await call(api, 'GET', `${ROCKET}/1.0.1`)
  t.equal(res.status, 200)
  const list = res.json<Manifest[]>()
  t.equal(list.length, 1)
  t.equal(list[0]?.content.digest, cnrDigest(seed.blobs['1.0.1/kpm'] as Buffer))
})

t.test('test_show_package_absent (newdb)', async t => {
  const api = await emptyReadOnly()
  assertCnrError(t, await call(api, 'GET', `${ROCKET}/1.0.1/kpm`), 404, 'package-not-found')
})

t.test('test_show_package_bad_release', async t => {
  const { api } = await seededReadOnly()
  assertCnrError(t, await call(api, 'GET', `${ROCKET}/abc/kpm`), 422, 'invalid-release')
})

t.test('test_show_package_media_type', async t => {
  const { api, seed } = await seededReadOnly()
  const res = await call(api, 'GET', `${ROCKET}/0.0.1/helm`)
  t.equal(res.status, 200)
  t.equal(res.json<Manifest>().content.digest, cnrDigest(seed.blobs['0.0.1/helm'] as Buffer))
})

t.test('test_show_channel', async t => {
  const { api } = await seededReadOnly()
  const res = await call(api, 'GET', `${ROCKET}/channels/stable`)
  t.equal(res.status, 200)
  t.same(res.json(), { releases: ['2.0.1', '1.0.1'], name: 'stable', current: '2.0.1' })
})

t.test('test_show_channel_absent_package (newdb)', async t => {
  const api = await emptyReadOnly()
  assertCnrError(t, await call(api, 'GET', `${ROCKET}/channels/no`), 404)
})

t.test('test_list_channels', async t => {
  const { api } = await seededReadOnly()
  const res = await call(api, 'GET', `${ROCKET}/channels`)
  t.equal(res.status, 200)
  const list = res.json<Array<{ name: string }>>().sort((a, b) => a.name.localeCompare(b.name))
  t.same(list, [
    { releases: ['1.0.1'], name: 'dev', current: '1.0.1' },
    { releases: ['2.0.1', '1.0.1'], name: 'stable', current: '2.0.1' }
  ])
})

t.test('test_list_channels_404 (newdb)', async t => {
  const api = await emptyReadOnly()
  assertCnrError(t, await call(api, 'GET', `${P}/packages/titi/no/channels`), 404, 'package-not-found')
})

t.test('test_add_channel_release', async t => {
  const { api } = await seeded(t)
  assertCnrError(t, await call(api, 'GET', `${ROCKET}/channels/default`), 404, 'channel-not-found')
  const res = await call(api, 'POST', `${ROCKET}/channels/default/1.0.1`)
  t.equal(res.status, 200)
  t.same(res.json<{ releases: string[] }>().releases, ['1.0.1'])
})

t.test('test_add_channel_release_new_chan', async t => {
  const { api } = await seeded(t)
  t.equal((await call(api, 'POST', `${ROCKET}/channels/newchan/1.0.1`)).status, 200)
  const res = await call(api, 'GET', `${ROCKET}/channels/newchan`)
  t.equal(res.status, 200)
  t.same(res.json(), { current: '1.0.1', name: 'newchan', releases: ['1.0.1'] })
})

t.test('test_add_channel_release_absent_release', async t => {
  const { api } = await seededReadOnly()
  assertCnrError(t, await call(api, 'POST', `${ROCKET}/channels/default/1.0.2`), 404, 'package-release-not-found')
})

t.test('test_delete_channel_release', async t => {
  const { api } = await seeded(t)
  t.ok((await call(api, 'GET', `${ROCKET}/channels/stable`)).json<{ releases: string[] }>().releases.includes('1.0.1'))
  const res = await call(api, 'DELETE', `${ROCKET}/channels/stable/1.0.1`)
  t.equal(res.status, 200)
  t.same(res.json(), { status: 'deleted', package: 'titi/rocketchat', name: 'stable', release: '1.0.1' })
  t.same((await call(api, 'GET', `${ROCKET}/channels/stable`)).json(), { current: '2.0.1', name: 'stable', releases: ['2.0.1'] })
})

t.test('test_delete_channel_release_absent_release', async t => {
  const { api } = await seededReadOnly()
  assertCnrError(t, await call(api, 'DELETE', `${ROCKET}/channels/stable/1.0.2`), 404, 'package-not-found')
})

t.test('test_delete_channel', async t => {
  const { api } = await seeded(t)
  t.same((await call(api, 'GET', `${ROCKET}/1.0.1/kpm`)).json<Manifest>().channels, ['dev'])
  const res = await call(api, 'DELETE', `${ROCKET}/channels/dev`)
  t.equal(res.status, 200)
  t.same(res.json(), { channel: 'dev', package: 'titi/rocketchat', action: 'delete' })
  t.same((await call(api, 'GET', `${ROCKET}/1.0.1/kpm`)).json<Manifest>().channels, [], 'release 1.0.1 no longer lists dev')
  assertCnrError(t, await call(api, 'GET', `${ROCKET}/channels/dev`), 404, 'channel-not-found')
})

t.test('test_delete_absent_channel', async t => {
  const { api } = await seededReadOnly()
  assertCnrError(t, await call(api, 'DELETE', `${ROCKET}/channels/no`), 404, 'channel-not-found')
})
