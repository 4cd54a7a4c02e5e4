// GET /v2/ (end-1), unknown endpoints, wrong methods and repository-name validation.
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { expectError, header, ociError, pushBlob, rawRequest, sha256 } from './helpers.js'

t.test('GET /v2/ answers 200 {} with the API version header', async t => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ method: 'GET', url: '/v2/' })
  t.equal(res.statusCode, 200)
  t.equal(header(res, 'docker-distribution-api-version'), 'registry/2.0')
  t.match(header(res, 'content-type'), /^application\/json/)
  t.same(JSON.parse(res.body), {})
})

t.test('HEAD /v2/ answers 200 with no body', async t => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ method: 'HEAD', url: '/v2/' })
  t.equal(res.statusCode, 200)
  t.equal(header(res, 'docker-distribution-api-version'), 'registry/2.0')
  t.equal(res.body, '')
})

t.test('unknown /v2 paths answer 404 NOT_FOUND in the OCI envelope', async t => {
  const { app } = await buildTestApp(t)
  for (const url of ['/v2/nothing', '/v2/a/unknown/x', '/v2/a/manifests/', '/v2/a/blobs/', '/v2/a/tags', '/v2/a/referrers/']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 404, `${url} status`)
    t.equal(header(res, 'docker-distribution-api-version'), 'registry/2.0', `${url} version header`)
    expectError(t, res, 404, 'NOT_FOUND')
    t.notMatch(res.body, /<html/i)
  }
})

t.test('a method an endpoint does not support answers 405 UNSUPPORTED with Allow', async t => {
  const { app } = await buildTestApp(t)
  const cases: Array<[string, string, string[]]> = [
    ['POST', '/v2/a/manifests/x', ['GET', 'HEAD', 'PUT', 'DELETE']],
    ['PATCH', '/v2/a/manifests/x', ['GET', 'HEAD', 'PUT', 'DELETE']],
    ['PUT', `/v2/a/blobs/${sha256('x')}`, ['GET', 'HEAD', 'DELETE']],
    ['POST', `/v2/a/blobs/${sha256('x')}`, ['GET', 'HEAD', 'DELETE']],
    ['DELETE', '/v2/a/tags/list', ['GET']],
    ['PUT', '/v2/_catalog', ['GET']],
    ['GET', '/v2/a/blobs/uploads/', ['POST']],
    ['POST', '/v2/a/blobs/uploads/0d9b3b8a-6f63-4c3e-9a8e-3e1d0d3c6a11', ['GET', 'PATCH', 'PUT', 'DELETE']],
    ['DELETE', `/v2/a/referrers/${sha256('x')}`, ['GET']],
    ['DELETE', '/v2/', ['GET', 'HEAD']]
  ]
  for (const [method, url, allowed] of cases) {
    const res = await app.inject({ method: method as 'GET', url })
    const entry = expectError(t, res, 405, 'UNSUPPORTED')
    const allow = (header(res, 'allow') ?? '').split(',').map(s => s.trim()).sort()
    t.same(allow, [...allowed].sort(), `${method} ${url}: Allow lists the supported methods`)
    t.match(entry.message, method, 'message names the method')
  }
})

t.test('OPTIONS on a known endpoint reports its methods instead of claiming the endpoint does not exist', async t => {
  const { app } = await buildTestApp(t)
  for (const [url, allowed] of [['/v2/a/manifests/x', ['DELETE', 'GET', 'HEAD', 'PUT']], ['/v2/', ['GET', 'HEAD']]] as const) {
    const res = await app.inject({ method: 'OPTIONS', url })
    t.not(res.statusCode, 404, `${url}: not 404`)
    t.ok([200, 204, 405].includes(res.statusCode), `${url}: 200, 204 or 405 (got ${res.statusCode})`)
    if (res.statusCode === 405) expectError(t, res, 405, 'UNSUPPORTED', url)
    const allow = (header(res, 'allow') ?? '').split(',').map(v => v.trim()).filter(v => v !== '' && v !== 'OPTIONS').sort()
    t.same(allow, allowed, `${url}: Allow`)
  }
})

const INVALID_NAMES = [
  'A',
  'Abc/def',
  'a//b',
  '-a',
  'a-',
  'a/-b',
  'a/../b',
  'a/./b',
  '../a',
  'a..b',
  'a/_b',
  'a:b',
  'a'.repeat(256),
  `${'abcdefghij/'.repeat(23)}abc` // 256 characters in many components
]

function requestsFor (name: string): Array<{ method: 'GET' | 'POST', url: string }> {
  return [
    { method: 'GET', url: `/v2/${name}/tags/list` },
    { method: 'GET', url: `/v2/${name}/manifests/latest` },
    { method: 'GET', url: `/v2/${name}/blobs/${sha256('x')}` },
    { method: 'POST', url: `/v2/${name}/blobs/uploads/` },
    { method: 'GET', url: `/v2/${name}/referrers/${sha256('x')}` }
  ]
}

t.test('invalid repository names answer 400 NAME_INVALID, never HTML or 500 (inject)', async t => {
  const { app } = await buildTestApp(t)
  // inject() resolves dot segments like a URL parser would; those names are sent raw in the next test.
  for (const name of INVALID_NAMES.filter(n => !n.split('/').some(s => s === '.' || s === '..'))) {
    for (const request of requestsFor(name)) {
      const res = await app.inject(request)
      const label = `${request.method} ${request.url.slice(0, 80)}`
      t.not(res.statusCode, 500, `${label}: not a 500`)
      t.notMatch(res.body, /<html/i, `${label}: no HTML`)
      const entry = expectError(t, res, 400, 'NAME_INVALID', label)
      t.ok(entry.detail !== null && typeof entry.detail === 'object', `${label}: detail is an object`)
    }
  }
})

t.test('invalid repository names answer 400 NAME_INVALID over a real socket, dot segments unresolved', async t => {
  const { app } = await buildTestApp(t)
  for (const name of INVALID_NAMES) {
    for (const request of requestsFor(name)) {
      const res = await rawRequest(app, request.method, request.url)
      const label = `raw ${request.method} ${request.url.slice(0, 80)}`
      t.not(res.statusCode, 500, `${label}: not a 500`)
      t.notMatch(res.body, /<html/i, `${label}: no HTML`)
      expectError(t, res, 400, 'NAME_INVALID', label)
    }
  }
})

async function checkUsableName (t: Test, app: FastifyInstance, name: string): Promise<void> {
  const label = `${name.slice(0, 40)} (${name.length} chars)`
  const content = `content of ${name.slice(0, 20)}`
  const push = await app.inject({
    method: 'POST',
    url: `/v2/${name}/blobs/uploads/?digest=${sha256(content)}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: content
  })
  t.equal(push.statusCode, 201, `${label}: monolithic push`)
  t.equal(header(push, 'location'), `/v2/${name}/blobs/${sha256(content)}`, `${label}: Location`)
  const res = await app.inject({ method: 'GET', url: `/v2/${name}/blobs/${sha256(content)}` })
  t.equal(res.statusCode, 200, `${label}: blob readable`)
  t.equal(res.body, content)
  const tags = await app.inject({ method: 'GET', url: `/v2/${name}/tags/list` })
  t.equal(tags.statusCode, 200, `${label}: tags/list`)
  t.same(JSON.parse(tags.body), { name, tags: [] })
}

t.test('names at the limits of the grammar are accepted', async t => {
  const { app } = await buildTestApp(t)
  const nestedLong = `${'abcdefghij/'.repeat(23)}ab` // 255 characters, 24 components
  const longLastComponent = `x/${'b'.repeat(253)}` // 255 characters
  t.equal(nestedLong.length, 255)
  t.equal(longLastComponent.length, 255)
  const names = ['a', 'a0', 'a.b', 'a_b', 'a__b', 'a---b', 'a/b/c', '0', 'a'.repeat(254), nestedLong, longLastComponent]
  for (const name of names) await checkUsableName(t, app, name)
  const catalog = await app.inject({ method: 'GET', url: '/v2/_catalog' })
  t.same(JSON.parse(catalog.body).repositories, [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
})

t.test('a name component of 255 characters is refused with NAME_INVALID (components are limited to 254)', async t => {
  const { app } = await buildTestApp(t)
  const name = 'a'.repeat(255)
  const res = await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/?digest=${sha256('x')}`, payload: 'x' })
  expectError(t, res, 400, 'NAME_INVALID', '255-character component')
  const catalog = await app.inject({ method: 'GET', url: '/v2/_catalog' })
  t.same(JSON.parse(catalog.body).repositories, [], 'nothing was stored')
})

t.test('malformed percent-encoding in a /v2 path answers 400 in the OCI envelope', async t => {
  const { app } = await buildTestApp(t)
  for (const rawPath of ['/v2/a/manifests/%ZZ', '/v2/a%ZZ/tags/list', `/v2/a/blobs/sha256%ZZ`]) {
    const res = await rawRequest(app, 'GET', rawPath)
    t.equal(res.statusCode, 400, `${rawPath}: 400`)
    t.notMatch(res.body, /<html/i)
    t.equal(header(res, 'docker-distribution-api-version'), 'registry/2.0', `${rawPath}: version header`)
    ociError(t, res, 400, rawPath)
  }
})
