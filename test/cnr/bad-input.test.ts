// Bad input through the CNR API (and through /v2 into what the CNR API shows) never gives a 5xx, and a
// refused push leaves the store exactly as it was: releases whose numbers do not fit, deeply nested JSON,
// oversized metadata, wrong JSON types, odd names, media types and release queries.
import t from 'tap'
import { KPM_FILES, assertCnrError, push, tarGz } from './helpers.js'
import { OCI_INDEX, putPackageManifest, startStoreApi } from './store.js'

const HUGE = '99999999999999999999.0.0'

const nested = (depth: number): unknown => {
  let value: unknown = 'bottom'
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { a: value } : [value]
  return value
}

t.test('a release above 2^53 is refused at push, and a stored one breaks no listing', async t => {
  const api = await startStoreApi(t)
  const blob = await tarGz(KPM_FILES('1.0.0'))
  t.equal((await push(api, 'ns/app', '1.0.0', 'kpm', blob)).status, 200)

  const before = api.keys()
  const refused = await push(api, 'ns/app', HUGE, 'kpm', blob)
  assertCnrError(t, refused, 422, 'invalid-release')
  t.match(refused.json<{ message: string }>().message, /may not be larger than 9007199254740991/)
  t.same(refused.json<{ details: unknown }>().details, { version: HUGE })
  t.same(api.keys(), before, 'nothing stored')

  // The same release as a /v2 tag on the package's repository (what another client can always do) ...
  const index = await api.request('GET', '/v2/ns/app/manifests/1.0.0', { headers: { accept: OCI_INDEX } })
  t.equal((await api.request('PUT', `/v2/ns/app/manifests/${HUGE}`, { body: index.body, headers: { 'content-type': OCI_INDEX } })).status, 201)
  // ... and in the index and channel records, as an older Berth may have written them.
  const driver = await api.driver()
  const record = JSON.parse((await driver.readVersioned('cnr/packages/ns/app'))?.data.toString('utf8') ?? '{}') as { releases: Record<string, string[]> }
  record.releases[HUGE] = ['kpm']
  record.releases['1.0'] = ['kpm']
  await driver.write('cnr/packages/ns/app', Buffer.from(JSON.stringify(record)))
  await driver.write('cnr/channels/ns/app', Buffer.from(JSON.stringify({ channels: { stable: { current: HUGE, releases: [HUGE, '1.0.0'] } } })))

  const summaries = [
    '/cnr/api/v1/packages', '/api/v1/packages', '/cnr/api/v1/packages?namespace=ns', '/cnr/api/v1/packages?media_type=kpm'
  ]
  for (const path of summaries) {
    const res = await api.request('GET', path)
    t.equal(res.status, 200, path)
    t.same(res.json<Array<{ releases: string[], default: string }>>().map(p => [p.releases, p.default]), [[['1.0.0'], '1.0.0']], `${path}: only real releases`)
  }
  t.same((await api.request('GET', '/cnr/api/v1/packages/search?q=app')).json(), ['ns/app'])
  const show = await api.request('GET', '/cnr/api/v1/packages/ns/app')
  t.equal(show.status, 200)
  t.same(show.json<Array<{ release: string }>>().map(m => m.release), ['1.0.0'], 'show')
  for (const query of ['default', '>=1.0.0', '1.0.0']) {
    const pull = await api.request('GET', `/cnr/api/v1/packages/ns/app/${encodeURIComponent(query)}/kpm/pull`)
    t.equal(pull.status, 200, `pull ${query}`)
    t.same(pull.body, blob, `pull ${query}: the 1.0.0 tarball`)
  }
  assertCnrError(t, await api.request('GET', `/cnr/api/v1/packages/ns/app/${HUGE}`), 404, 'package-not-found')
  assertCnrError(t, await api.request('GET', `/cnr/api/v1/packages/ns/app/${HUGE}/kpm`), 422, 'invalid-release')
  assertCnrError(t, await api.request('GET', `/cnr/api/v1/packages/ns/app/${encodeURIComponent('>=' + HUGE)}/kpm/pull`), 422, 'invalid-release')
  // A channel update sorts the channel's releases: the stale one is dropped, not a 500.
  const channel = await api.request('POST', '/cnr/api/v1/packages/ns/app/channels/stable/1.0.0')
  t.equal(channel.status, 200)
  t.same(channel.json(), { current: '1.0.0', name: 'stable', releases: ['1.0.0'] })
})

t.test('deeply nested JSON: refused at push with nothing left behind; tolerated when stored through /v2', async t => {
  const api = await startStoreApi(t)
  const blob = (await tarGz(KPM_FILES('1.0.0'))).toString('base64')
  const before = api.keys()
  const res = await api.request('POST', '/cnr/api/v1/packages/deep/app', { json: { blob, release: '1.0.0', metadata: nested(4000) } })
  assertCnrError(t, res, 400, 'invalid-usage')
  t.match(res.json<{ message: string }>().message, /metadata is nested more than 64 levels deep/)
  t.same(api.keys(), before, 'no repository, tag, record or index entry')
  t.same((await api.request('GET', '/v2/_catalog')).json(), { repositories: [] })
  t.same((await api.request('GET', '/cnr/api/v1/packages')).json(), [])

  // Metadata nested within the bound is kept as it was sent.
  t.equal((await api.request('POST', '/cnr/api/v1/packages/deep/ok', { json: { blob, release: '1.0.0', metadata: nested(60) } })).status, 200)
  t.same((await api.request('GET', '/cnr/api/v1/packages/deep/ok/1.0.0/kpm')).json<{ metadata: unknown }>().metadata, nested(60))

  // The same JSON in the metadata annotation of a manifest pushed through /v2.
  const layer = await tarGz(KPM_FILES('2.0.0'))
  const put = await putPackageManifest(t, api, 'deep/v2', '2.0.0', layer, { 'org.berth.cnr.metadata': JSON.stringify(nested(4000)) })
  t.equal(put.status, 201, 'a valid manifest is accepted')
  const views = [
    '/cnr/api/v1/packages/deep/v2', '/cnr/api/v1/packages/deep/v2/2.0.0', '/cnr/api/v1/packages/deep/v2/2.0.0/kpm', '/cnr/api/v1/packages/deep/v2/default/kpm'
  ]
  for (const path of views) {
    const view = await api.request('GET', path)
    t.equal(view.status, 200, path)
    t.match(view.text, /"metadata":null/, `${path}: unreadable metadata shows as absent`)
  }
  t.same((await api.request('GET', '/cnr/api/v1/packages?namespace=deep')).json<Array<{ name: string }>>().map(p => p.name), ['deep/ok', 'deep/v2'])
})

t.test('a refused push leaves nothing behind, whatever refuses it', async t => {
  const api = await startStoreApi(t)
  const blob = await tarGz(KPM_FILES('1.0.0'))
  const b64 = blob.toString('base64')
  const refusals: Array<[string, unknown, number]> = [
    ['bad release, with a visibility', { blob: b64, release: '1.0', visibility: 'private' }, 422],
    ['metadata too large for a manifest', { blob: b64, release: '1.0.0', metadata: 'x'.repeat(5 * 1024 * 1024) }, 400],
    ['deep metadata, with a visibility', { blob: b64, release: '1.0.0', metadata: nested(100), visibility: 'private' }, 400],
    ['bad media type', { blob: b64, release: '1.0.0', media_type: '../x' }, 400],
    ['not a tarball', { blob: Buffer.from('plain').toString('base64'), release: '1.0.0' }, 422]
  ]
  const empty = api.keys()
  for (const [label, body, status] of refusals) {
    const res = await api.request('POST', '/cnr/api/v1/packages/ns/app', { json: body })
    assertCnrError(t, res, status)
    t.same(api.keys(), empty, `${label}: the store is as it was`)
  }
  t.equal((await push(api, 'ns/app', '1.0.0', 'kpm', blob)).status, 200)
  const pushed = api.keys()
  const other = await tarGz({ ...KPM_FILES('1.0.0'), extra: 'x' })
  const res = await api.request('POST', '/cnr/api/v1/packages/ns/app', { json: { blob: other.toString('base64'), release: '1.0.0', visibility: 'private' } })
  assertCnrError(t, res, 409, 'package-exists')
  t.same(api.keys(), pushed, 'a 409 writes no blob, link or visibility record')
})

t.test('odd requests get a CNR 4xx, never a 5xx', async t => {
  const api = await startStoreApi(t)
  const blob = await tarGz(KPM_FILES('1.0.0'))
  t.equal((await push(api, 'ns/app', '1.0.0', 'kpm', blob)).status, 200)
  const b64 = blob.toString('base64')
  const pushBodies: unknown[] = [
    { blob: b64, release: 1 }, { blob: b64, release: { a: 1 } }, { blob: b64, release: ['1.0.0'] }, { blob: b64, release: true },
    { blob: [b64], release: '1.0.0' }, { blob: { b64 }, release: '1.0.0' }, { blob: 'YQ', release: '1.0.0' }, { blob: '====', release: '1.0.0' },
    { blob: '@@@', release: '1.0.0' }, { blob: 'A'.repeat(4 * 1024 * 1024), release: '1.0.0' },
    { blob: b64, release: '1.0.0', media_type: 7 }, { blob: b64, release: '1.0.0', media_type: { a: 1 } }, { blob: b64, release: '1.0.0', media_type: '' },
    { blob: b64, release: '1.0.0', media_type: 'x'.repeat(10_000) }, { blob: b64, release: '1.0.0', media_type: 'héllo' },
    { blob: b64, release: 'x'.repeat(100_000) }, { blob: b64, release: '1.0.0-' + 'a.'.repeat(70) + 'a' }, { blob: b64, release: '1.0.0+' + 'b'.repeat(200) },
    { blob: b64, release: '01.0.0' }, { blob: b64, release: '1.0.0-01' }, { blob: b64, release: ' 1.0.0' }, { blob: b64, release: 'v1.0.0' },
    { blob: b64, release: '1.0.0', visibility: 7 },
    [b64], 'just a string', 42, null
  ]
  for (const body of pushBodies) {
    const res = await api.request('POST', '/cnr/api/v1/packages/ns/other', { json: body })
    t.ok(res.status >= 400 && res.status < 500, `push ${JSON.stringify(body).replace(b64, '<tgz>').slice(0, 100)}: ${res.status}`)
    assertCnrError(t, res, res.status)
  }
  t.same(api.keys().filter(k => k.includes('ns/other')), [], 'none of them stored anything')
  // Only the string "true" forces, as in APPR.
  assertCnrError(t, await api.request('POST', '/cnr/api/v1/packages/ns/app', { json: { blob: b64, release: '1.0.0', force: { a: 1 } } }), 409, 'package-exists')
  const paths = [
    '/cnr/api/v1/packages/ns/app/%3E%3D1.0.0-a..b/kpm', '/cnr/api/v1/packages/ns/app/%3D%3D99999999999999999999.0.0-/kpm',
    '/cnr/api/v1/packages/ns/app/%5E99999999999999999999/kpm', '/cnr/api/v1/packages/ns/app/~9007199254740991.9007199254740991/kpm',
    '/cnr/api/v1/packages/ns/app/%3E%3D1.0.0-%2B/kpm/pull', '/cnr/api/v1/packages/ns/app/%2C%2C/kpm', '/cnr/api/v1/packages/ns/app/%3E%3D/kpm',
    '/cnr/api/v1/packages/ns/app/1.0.0/..', '/cnr/api/v1/packages/ns/app/1.0.0/kpm%00', '/cnr/api/v1/packages/NS/App', '/cnr/api/v1/packages/ns/a..b',
    `/cnr/api/v1/packages/ns/${'a'.repeat(300)}`, '/cnr/api/v1/packages/ns/app/blobs/sha256/zz', '/cnr/api/v1/packages/ns/app/99999999999999999999.0.0/kpm/pull',
    '/cnr/api/v1/packages?n=1e400', '/cnr/api/v1/packages?n=-1', '/cnr/api/v1/packages?last=%FF', '/cnr/api/v1/packages/search?q=%28.*',
    '/cnr/api/v1/packages/ns/app/channels/1.0.0', '/cnr/api/v1/packages/ns/app/deleted'
  ]
  for (const path of paths) {
    const res = await api.request('GET', path)
    t.ok(res.status < 500, `GET ${path}: ${res.status}`)
    if (res.status >= 400) assertCnrError(t, res, res.status)
  }
  const writes: Array<[string, string]> = [
    ['POST', '/cnr/api/v1/packages/ns/app/channels/stable/%3E%3D99999999999999999999'],
    ['POST', '/cnr/api/v1/packages/ns/app/channels/stable/99999999999999999999.0.0'],
    ['POST', '/cnr/api/v1/packages/ns/app/channels/1.0.0/1.0.0'],
    ['DELETE', '/cnr/api/v1/packages/ns/app/99999999999999999999.0.0/kpm'],
    ['DELETE', '/cnr/api/v1/packages/ns/app/channels/stable/99999999999999999999.0.0']
  ]
  for (const [method, path] of writes) {
    const res = await api.request(method, path, { json: {} })
    t.ok(res.status >= 400 && res.status < 500, `${method} ${path}: ${res.status}`)
    assertCnrError(t, res, res.status)
  }
  t.equal((await api.request('GET', '/cnr/api/v1/packages/ns/app/1.0.0/kpm/pull')).status, 200, 'the package is untouched')
})
