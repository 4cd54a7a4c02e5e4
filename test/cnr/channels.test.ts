// Channels as OCI tags, their membership records, immutable releases and deleted-release tracking.
import t from 'tap'
import { type Api, KPM_FILES, assertCnrError, cnrDigest, push, startApi, tarGz } from './helpers.js'

const PKG = '/cnr/api/v1/packages/ns/app'
const ACCEPT = { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' }

async function digestOf (api: Api, tag: string): Promise<string | undefined> {
  const res = await api.request('HEAD', `/v2/ns/app/manifests/${tag}`, { headers: ACCEPT })
  return res.status === 200 ? String(res.headers['docker-content-digest']) : undefined
}

async function seed (api: Api, releases: string[]): Promise<void> {
  for (const release of releases) {
    const res = await push(api, 'ns/app', release, 'kpm', await tarGz(KPM_FILES(release)))
    if (res.status !== 200) throw new Error(res.text)
  }
}

t.test('a channel is a tag on its current release\'s index, and follows it', async t => {
  const api = await startApi(t)
  await seed(api, ['1.0.0', '1.1.0'])
  t.same((await api.request('POST', `${PKG}/channels/stable/1.0.0`)).json(), { current: '1.0.0', name: 'stable', releases: ['1.0.0'] })
  t.equal(await digestOf(api, 'stable'), await digestOf(api, '1.0.0'))

  // Setting an older release still makes it current (as APPR does); releases stay highest first.
  await api.request('POST', `${PKG}/channels/stable/1.1.0`)
  t.same((await api.request('POST', `${PKG}/channels/stable/1.0.0`)).json(), { current: '1.0.0', name: 'stable', releases: ['1.1.0', '1.0.0'] })
  t.equal(await digestOf(api, 'stable'), await digestOf(api, '1.0.0'))

  // A new media type changes the release's index: the channel tag moves with it.
  const before = await digestOf(api, '1.0.0')
  t.equal((await push(api, 'ns/app', '1.0.0', 'helm', await tarGz({ 'app/Chart.yaml': 'name: app\nversion: 1.0.0\n' }))).status, 200)
  t.not(await digestOf(api, '1.0.0'), before)
  t.equal(await digestOf(api, 'stable'), await digestOf(api, '1.0.0'))

  // Removing a release from the channel moves it to its highest remaining release.
  await api.request('DELETE', `${PKG}/channels/stable/1.0.0`)
  t.same((await api.request('GET', `${PKG}/channels/stable`)).json(), { current: '1.1.0', name: 'stable', releases: ['1.1.0'] })
  t.equal(await digestOf(api, 'stable'), await digestOf(api, '1.1.0'))
  // ... and removing the last one deletes the channel and its tag.
  t.equal((await api.request('DELETE', `${PKG}/channels/stable/1.1.0`)).status, 200)
  assertCnrError(t, await api.request('GET', `${PKG}/channels/stable`), 404, 'channel-not-found')
  t.equal(await digestOf(api, 'stable'), undefined)
  // A release of the package that is not in the channel: 200, nothing changes (APPR).
  await api.request('POST', `${PKG}/channels/dev/1.1.0`)
  t.equal((await api.request('DELETE', `${PKG}/channels/dev/1.0.0`)).status, 200)
  t.same((await api.request('GET', `${PKG}/channels/dev`)).json(), { current: '1.1.0', name: 'dev', releases: ['1.1.0'] })
  // Deleting a channel deletes its tag.
  t.equal((await api.request('DELETE', `${PKG}/channels/dev`)).status, 200)
  t.same((await api.request('GET', '/v2/ns/app/tags/list')).json(), { name: 'ns/app', tags: ['1.0.0', '1.1.0'] })
})

t.test('channel names that read as releases or versions are refused, as are tags in use', async t => {
  const api = await startApi(t)
  await seed(api, ['1.0.0'])
  for (const bad of ['1.0.0', '2.0.0', '1.0.0_x', 'v1', '1.2', 'bad%20name']) {
    assertCnrError(t, await api.request('POST', `${PKG}/channels/${bad}/1.0.0`), 400, 'invalid-usage')
  }
  // A release query that is not a single release: 404 (APPR); something that is not even a query: 422.
  assertCnrError(t, await api.request('POST', `${PKG}/channels/stable/>=0.1.0`), 404, 'package-release-not-found')
  assertCnrError(t, await api.request('POST', `${PKG}/channels/stable/1.a.1`), 422, 'invalid-release')
  // An OCI tag that is not a channel is not taken over.
  const index = await api.request('GET', '/v2/ns/app/manifests/1.0.0', { headers: ACCEPT })
  t.equal((await api.request('PUT', '/v2/ns/app/manifests/latest', { body: index.body, headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' } })).status, 201)
  assertCnrError(t, await api.request('POST', `${PKG}/channels/latest/1.0.0`), 409, 'package-exists')
})

t.test('concurrent channel updates all land (compare-and-swap on the membership record)', async t => {
  const api = await startApi(t)
  const releases = ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0', '1.5.0']
  await seed(api, releases)
  const results = await Promise.all(releases.map(async r => await api.request('POST', `${PKG}/channels/stable/${r}`)))
  t.same(results.map(r => r.status), releases.map(() => 200))
  const channel = (await api.request('GET', `${PKG}/channels/stable`)).json<{ current: string, releases: string[] }>()
  t.same(channel.releases, [...releases].reverse())
  t.equal(await digestOf(api, 'stable'), await digestOf(api, channel.current), 'the tag agrees with the record')
})

t.test('concurrent pushes of several media types to one release all land in its index', async t => {
  const api = await startApi(t)
  const types = ['kpm', 'helm', 'docker-compose', 'dab', 'kubernetes']
  const results = await Promise.all(types.map(async type => await push(api, 'ns/app', '1.0.0', type, await tarGz({ [`${type}.txt`]: type }))))
  t.same(results.map(r => r.status), types.map(() => 200))
  const shown = (await api.request('GET', `${PKG}/1.0.0`)).json<Array<{ mediaType: string }>>()
  t.same(shown.map(m => m.mediaType.split('.')[3]).sort(), [...types].sort())
})

t.test('releases are immutable; deleted releases are tracked, listed, leave their channels, and need force to return', async t => {
  const api = await startApi(t)
  await seed(api, ['1.0.0', '2.0.0'])
  const second = await tarGz(KPM_FILES('2.0.0'))
  t.equal((await push(api, 'ns/app', '1.0.0', 'helm', await tarGz({ 'c/Chart.yaml': 'name: c\n' }))).status, 200)
  await api.request('POST', `${PKG}/channels/stable/1.0.0`)
  await api.request('POST', `${PKG}/channels/stable/2.0.0`)
  await api.request('POST', `${PKG}/channels/old/1.0.0`)

  // Same release and media type: 409; the JSON boolean true is not "true"; force in the query or body is.
  const replacement = await tarGz(KPM_FILES('2.0.0-replaced'))
  assertCnrError(t, await push(api, 'ns/app', '2.0.0', 'kpm', replacement), 409, 'package-exists')
  assertCnrError(t, await api.request('POST', '/cnr/api/v1/packages/ns/app', { json: { release: '2.0.0', media_type: 'kpm', blob: replacement.toString('base64'), force: true } }), 409)
  t.equal((await api.request('POST', '/cnr/api/v1/packages/ns/app?force=true', { json: { release: '2.0.0', media_type: 'kpm', blob: replacement.toString('base64') } })).status, 200)
  t.ok((await api.request('GET', `${PKG}/2.0.0/kpm/pull`)).body.equals(replacement))
  t.equal((await push(api, 'ns/app', '2.0.0', 'kpm', second, true)).status, 200)

  // Deleting one of two media types keeps the release (and its channels).
  t.equal((await api.request('DELETE', `${PKG}/1.0.0/helm`)).status, 200)
  t.same((await api.request('GET', `${PKG}/1.0.0`)).json<Array<{ mediaType: string }>>().map(m => m.mediaType), ['application/vnd.appr.package-manifest.kpm.v0.json'])
  t.same((await api.request('GET', `${PKG}/channels/old`)).json(), { current: '1.0.0', name: 'old', releases: ['1.0.0'] })
  t.equal(await digestOf(api, 'old'), await digestOf(api, '1.0.0'))

  // Deleting the last one removes the release, its tag, and the release from every channel.
  t.equal((await api.request('DELETE', `${PKG}/1.0.0/-`)).status, 200, 'media type - names the only one')
  t.equal(await digestOf(api, '1.0.0'), undefined)
  assertCnrError(t, await api.request('GET', `${PKG}/channels/old`), 404, 'channel-not-found')
  t.equal(await digestOf(api, 'old'), undefined)
  t.same((await api.request('GET', `${PKG}/channels/stable`)).json(), { current: '2.0.0', name: 'stable', releases: ['2.0.0'] })
  t.same((await api.request('GET', '/cnr/api/v1/packages')).json<Array<{ releases: string[] }>>()[0]?.releases, ['2.0.0'])

  const deleted = (await api.request('GET', `${PKG}/deleted`)).json<Array<Record<string, string>>>()
  t.same(deleted.map(d => [d.release, d.media_type, d.digest]), [
    ['1.0.0', 'helm', cnrDigest(await tarGz({ 'c/Chart.yaml': 'name: c\n' }))],
    ['1.0.0', 'kpm', cnrDigest(await tarGz(KPM_FILES('1.0.0')))]
  ])
  for (const d of deleted) t.match(d, { package: 'ns/app', deleted_at: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/ })

  // A deleted release stays deleted unless forced.
  const again = await tarGz(KPM_FILES('1.0.0'))
  const refused = await push(api, 'ns/app', '1.0.0', 'kpm', again)
  assertCnrError(t, refused, 409, 'package-exists')
  t.match(refused.json(), { message: /was deleted at/ })
  t.equal((await push(api, 'ns/app', '1.0.0', 'kpm', again, true)).status, 200)
  t.same((await api.request('GET', `${PKG}/deleted`)).json<Array<{ media_type: string }>>().map(d => d.media_type), ['helm'])

  assertCnrError(t, await api.request('DELETE', `${PKG}/default/kpm`), 404, 'package-not-found')
  assertCnrError(t, await api.request('GET', '/cnr/api/v1/packages/ns/none/deleted'), 404, 'package-not-found')
})
