// How the CNR surface reads requests and reports errors: both mounts, trailing slashes, merged query,
// form and JSON parameters, users routes, CORS, and a CNR error body (never HTML, never a 500) for
// whatever a client sends.
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { cnrDialect } from '../../src/cnr/errors.js'
import { dialectFor } from '../../src/http/dialects.js'
import { packagesDialect } from '../../src/packages/errors.js'
import { KPM_FILES, assertCnrError, push, startApi, tarGz } from './helpers.js'

t.test('every route answers below /cnr and below /, with or without a trailing slash', async t => {
  const api = await startApi(t)
  const blob = await tarGz(KPM_FILES('1.0.0'))
  t.equal((await push(api, 'ns/app', '1.0.0', 'kpm', blob)).status, 200)
  for (const root of ['/cnr', '']) {
    for (const slash of ['', '/']) {
      // appr-server's body below /cnr (appr's own API tests compare it exactly), cnr-server's below /.
      const version = await api.request('GET', `${root}/version${slash}`)
      t.equal(version.text, root === '/cnr' ? '{"appr-api":"0.7.4"}' : '{"cnr-api":"0.7.4"}', `${root}/version${slash}`)
      t.equal((await api.request('GET', `${root}/api/v1/packages${slash}`)).json<unknown[]>().length, 1)
      t.equal((await api.request('GET', `${root}/api/v1/packages/ns/app/1.0.0/kpm/pull${slash}`)).status, 200)
      t.equal((await api.request('GET', `${root}/api/v1/packages/ns/app/channels${slash}`)).status, 200)
    }
  }
})

t.test('parameters: query, form and JSON are merged; JSON is read whatever the Content-Type', async t => {
  const api = await startApi(t)
  const blob = (await tarGz(KPM_FILES('1.0.0'))).toString('base64')
  // Form fields only (what `curl --data-urlencode` sends).
  const form = new URLSearchParams({ release: '1.0.0', media_type: 'kpm', blob }).toString()
  t.equal((await api.request('POST', '/api/v1/packages/ns/form', { body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 200)
  // Query string plus a JSON body sent as text/plain.
  t.equal((await api.request('POST', '/api/v1/packages/ns/mixed?release=1.0.0&media_type=helm', { body: JSON.stringify({ blob }), headers: { 'content-type': 'text/plain' } })).status, 200)
  // No Content-Type at all.
  t.equal((await api.request('POST', '/api/v1/packages/ns/bare', { body: JSON.stringify({ blob, release: '1.0.0' }) })).status, 200)
  // JSON wins over the query string, and media_type defaults to kpm.
  t.equal((await api.request('POST', '/api/v1/packages/ns/wins?release=9.9.9', { json: { blob, release: '2.0.0' } })).status, 200)
  const list = (await api.request('GET', '/api/v1/packages?namespace=ns')).json<Array<{ name: string, releases: string[], manifests: string[] }>>()
  t.same(list.map(p => [p.name, p.releases, p.manifests]), [
    ['ns/bare', ['1.0.0'], ['kpm']],
    ['ns/form', ['1.0.0'], ['kpm']],
    ['ns/mixed', ['1.0.0'], ['helm']],
    ['ns/wins', ['2.0.0'], ['kpm']]
  ])
})

t.test('bad pushes are 4xx with a CNR error body and a clear message', async t => {
  const api = await startApi(t)
  const blob = (await tarGz(KPM_FILES('1.0.0'))).toString('base64')
  const cases: Array<[string, unknown, number, string, RegExp]> = [
    ['missing release', { blob }, 400, 'invalid-usage', /Missing release/],
    ['missing blob', { release: '1.0.0' }, 400, 'invalid-usage', /Missing blob/],
    ['blob not a string', { release: '1.0.0', blob: 42 }, 400, 'invalid-usage', /base64/],
    ['blob not base64', { release: '1.0.0', blob: 'not base64 !!' }, 400, 'invalid-usage', /base64/],
    ['blob not gzip', { release: '1.0.0', blob: Buffer.from('plain text').toString('base64') }, 422, 'invalid-parameters', /not gzip/],
    ['gzip but not tar', { release: '1.0.0', blob: gzipSync('just text').toString('base64') }, 422, 'invalid-parameters', /not a gzip-compressed tar/],
    ['release not semver', { release: 'v1.0', blob }, 422, 'invalid-release', /Invalid release/],
    ['media type -', { release: '1.0.0', blob, media_type: '-' }, 400, 'invalid-usage', /media_type/],
    ['media type with a slash', { release: '1.0.0', blob, media_type: 'a/b' }, 400, 'invalid-usage', /media_type/]
  ]
  for (const [label, body, status, code, message] of cases) {
    const res = await api.request('POST', '/cnr/api/v1/packages/ns/app', { json: body })
    assertCnrError(t, res, status, code)
    t.match(res.json(), { message }, label)
  }
  for (const body of ['{not json', '[1,2]', 'null', '']) {
    assertCnrError(t, await api.request('POST', '/cnr/api/v1/packages/ns/app', { body, headers: { 'content-type': 'application/json' } }), 400, 'invalid-usage')
  }
  t.same((await api.request('GET', '/cnr/api/v1/packages')).json(), [], 'nothing was stored')
})

t.test('names are validated; unknown routes, methods and media types get CNR errors', async t => {
  const api = await startApi(t)
  t.equal((await push(api, 'ns/app', '1.0.0', 'kpm', await tarGz(KPM_FILES('1.0.0')))).status, 200)
  t.equal((await push(api, 'ns/app', '1.0.0', 'helm', await tarGz({ 'c/Chart.yaml': 'name: c\n' }))).status, 200)
  for (const name of ['MyNs/Weird.Name', 'ns/-app', 'ns/app-', 'n%20s/app', 'ns/a..b']) {
    const res = await api.request('GET', `/cnr/api/v1/packages/${name}`)
    assertCnrError(t, res, 400, 'invalid-usage')
    t.match(res.json(), { message: /invalid package name/ }, name)
  }
  assertCnrError(t, await push(api, 'UPPER/case', '1.0.0', 'kpm', await tarGz(KPM_FILES('1.0.0'))), 400, 'invalid-usage')
  assertCnrError(t, await api.request('GET', '/cnr/api/v1/packages/ns/app/1.0.0/-'), 400, 'invalid-usage')
  t.match((await api.request('GET', '/cnr/api/v1/packages/ns/app/1.0.0/-')).json(), { message: 'media-type non specified: [helm,kpm]' })
  assertCnrError(t, await api.request('GET', '/cnr/api/v1/packages/ns/app/1.0.0/dab'), 404, 'package-not-found')
  assertCnrError(t, await api.request('GET', '/cnr/api/v1/packages/ns/app/latest/kpm/pull'), 422, 'invalid-release')
  assertCnrError(t, await api.request('GET', '/cnr/api/v1/packages/ns/app/blobs/sha256/zz'), 404, 'package-not-found')
  assertCnrError(t, await api.request('GET', '/cnr/api/v1/nothing/here'), 404, 'resource-not-found')
  assertCnrError(t, await api.request('GET', '/cnr/whatever'), 404, 'resource-not-found')
  assertCnrError(t, await api.request('GET', '/api/v1/nothing'), 404, 'resource-not-found')
  const wrong = await api.request('POST', '/cnr/api/v1/packages/ns/app/channels/stable')
  assertCnrError(t, wrong, 405, 'method-not-allowed')
  t.equal(wrong.headers.allow, 'GET, DELETE')
  assertCnrError(t, await api.request('PUT', '/api/v1/packages/ns/app'), 405, 'method-not-allowed')
  const huge = await api.request('POST', '/cnr/api/v1/packages/ns/app', { body: Buffer.alloc(65 * 1024 * 1024, 0x61), headers: { 'content-type': 'application/json' } })
  assertCnrError(t, huge, 413, 'invalid-usage')
})

t.test('login and signup return a token the client replays verbatim; any token is accepted for now', async t => {
  const api = await startApi(t)
  const login = await api.request('POST', '/cnr/api/v1/users/login', { json: { user: { username: 'alice', password: 's3cret' } } })
  t.equal(login.status, 200)
  const { token } = login.json<{ token: string }>()
  t.equal(token, `basic ${Buffer.from('alice:s3cret').toString('base64')}`)
  const signup = await api.request('POST', '/cnr/api/v1/users', { json: { user: { username: 'bob', password: 'pw', password_confirmation: 'pw', email: 'b@example.invalid' } } })
  t.same(signup.json(), { token: `basic ${Buffer.from('bob:pw').toString('base64')}` })
  assertCnrError(t, await api.request('POST', '/cnr/api/v1/users/login', { json: { user: { username: 'alice' } } }), 400, 'invalid-usage')
  assertCnrError(t, await api.request('POST', '/cnr/api/v1/users', { json: { user: { username: 'bob', password: 'a', password_confirmation: 'b' } } }), 400, 'invalid-usage')
  const pushed = await api.request('POST', '/cnr/api/v1/packages/ns/app', {
    json: { release: '1.0.0', blob: (await tarGz(KPM_FILES('1.0.0'))).toString('base64') },
    headers: { authorization: token }
  })
  t.equal(pushed.status, 200)
})

t.test('CORS: every CNR response allows any origin, errors included', async t => {
  const api = await startApi(t)
  t.equal((await api.request('GET', '/cnr/version')).headers['access-control-allow-origin'], '*')
  t.equal((await api.request('GET', '/cnr/api/v1/packages/a/b')).headers['access-control-allow-origin'], '*')
})

t.test('the dialect table gives the CNR dialect to the paths the CNR surface answers', async t => {
  for (const url of ['/cnr', '/cnr/', '/cnr/version', '/cnr/api/v1/packages?q=x', '/api/v1/packages', '/version', '/version?x']) t.equal(dialectFor(url), cnrDialect, url)
  for (const url of ['/v2/', '/packages', '/cnrx', '/versions', '/api/v2', '/healthz']) t.not(dialectFor(url), cnrDialect, url)
  for (const url of ['/packages', '/packages/x-1.0.0.tar.gz', '/packages?n=1', '/packages\u0001\u001b']) t.equal(dialectFor(url), packagesDialect, JSON.stringify(url))
  t.not(dialectFor('/packagesx'), packagesDialect, '/packagesx')
})
