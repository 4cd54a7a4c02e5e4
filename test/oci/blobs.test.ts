// Blob endpoints: monolithic push (end-4b), GET/HEAD with ranges (end-2), DELETE (end-10).
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import {
  diskFiles, expectError, header, pushBlob, sha256, sha512, storeKeys, storedBlob
} from './helpers.js'
import { paths } from '../../src/storage/paths.js'

const FIVE = Buffer.from('01234')

t.test('monolithic POST ?digest= stores the blob and answers 201', async t => {
  const { app } = await buildTestApp(t)
  const bytes = Buffer.from('hello, monolithic world\n')
  const digest = sha256(bytes)
  const res = await app.inject({
    method: 'POST',
    url: `/v2/mono/repo/blobs/uploads/?digest=${digest}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: bytes
  })
  t.equal(res.statusCode, 201)
  t.equal(header(res, 'location'), `/v2/mono/repo/blobs/${digest}`)
  t.equal(header(res, 'docker-content-digest'), digest)
  t.equal(header(res, 'docker-distribution-api-version'), 'registry/2.0')
  t.equal(res.body, '')
  t.same(await storedBlob(app, digest), bytes, 'the stored file holds exactly the pushed bytes')
  t.same(await app.berth.registry.driver.readAll(paths.blob(digest)), bytes, 'the driver reads the same bytes')
  t.same(await storeKeys(app, 'uploads/'), [], 'no upload session or staging data is left behind')
  const get = await app.inject({ method: 'GET', url: header(res, 'location') ?? '' })
  t.equal(get.statusCode, 200, 'Location is readable')
  t.same(get.rawPayload, bytes)
})

t.test('monolithic POST of an empty blob', async t => {
  const { app } = await buildTestApp(t)
  const digest = sha256(Buffer.alloc(0))
  const res = await app.inject({
    method: 'POST',
    url: `/v2/empty/blobs/uploads/?digest=${digest}`,
    headers: { 'content-type': 'application/octet-stream', 'content-length': '0' }
  })
  t.equal(res.statusCode, 201)
  t.equal(header(res, 'docker-content-digest'), digest)
  t.same(await storedBlob(app, digest), Buffer.alloc(0))
  const head = await app.inject({ method: 'HEAD', url: `/v2/empty/blobs/${digest}` })
  t.equal(head.statusCode, 200)
  t.equal(header(head, 'content-length'), '0')
  const get = await app.inject({ method: 'GET', url: `/v2/empty/blobs/${digest}` })
  t.equal(get.statusCode, 200)
  t.equal(get.rawPayload.length, 0)
})

t.test('monolithic POST with a digest that does not match the body answers 400 and stores nothing', async t => {
  const { app } = await buildTestApp(t)
  const bytes = Buffer.from('actual content')
  const claimed = sha256('something else')
  const res = await app.inject({
    method: 'POST',
    url: `/v2/mono/blobs/uploads/?digest=${claimed}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: bytes
  })
  const entry = expectError(t, res, 400, 'DIGEST_INVALID')
  t.match(entry.detail, { expected: claimed, actual: sha256(bytes) })
  t.same(await storeKeys(app, 'blobs/'), [], 'nothing under blobs/')
  t.same(await storeKeys(app, 'uploads/'), [], 'no staging data left')
  const get = await app.inject({ method: 'GET', url: `/v2/mono/blobs/${claimed}` })
  expectError(t, get, 404, 'BLOB_UNKNOWN')
})

t.test('monolithic POST with a malformed or unsupported digest answers 400 DIGEST_INVALID', async t => {
  const { app } = await buildTestApp(t)
  for (const digest of ['sha256:abc', `md5:${'a'.repeat(32)}`, 'nodigest', `sha256:${'A'.repeat(64)}`]) {
    const res = await app.inject({
      method: 'POST',
      url: `/v2/mono/blobs/uploads/?digest=${encodeURIComponent(digest)}`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.from('x')
    })
    expectError(t, res, 400, 'DIGEST_INVALID', digest)
  }
  t.same(await storeKeys(app, 'blobs/'), [])
})

t.test('HEAD on a blob: 200, Content-Length, digest header, empty body', async t => {
  const { app } = await buildTestApp(t)
  const bytes = Buffer.from('some blob content for HEAD')
  const digest = await pushBlob(app, 'headrepo', bytes)
  const res = await app.inject({ method: 'HEAD', url: `/v2/headrepo/blobs/${digest}` })
  t.equal(res.statusCode, 200)
  t.equal(header(res, 'content-length'), String(bytes.length))
  t.equal(header(res, 'docker-content-digest'), digest)
  t.equal(header(res, 'accept-ranges'), 'bytes')
  t.equal(res.body, '')
})

t.test('GET a blob returns its exact bytes', async t => {
  const { app } = await buildTestApp(t)
  const bytes = Buffer.from([0, 1, 2, 3, 255, 254, 10, 13, 0x80])
  const digest = await pushBlob(app, 'getrepo', bytes)
  const res = await app.inject({ method: 'GET', url: `/v2/getrepo/blobs/${digest}` })
  t.equal(res.statusCode, 200)
  t.same(res.rawPayload, bytes)
  t.equal(header(res, 'content-length'), String(bytes.length))
  t.equal(header(res, 'docker-content-digest'), digest)
  t.equal(header(res, 'content-type'), 'application/octet-stream')
  t.equal(sha256(res.rawPayload), digest)
})

t.test('GET with a single satisfiable Range answers 206 with exactly those bytes', async t => {
  const { app } = await buildTestApp(t)
  const digest = await pushBlob(app, 'ranges', FIVE)
  const cases: Array<[string, string, string]> = [
    ['bytes=1-3', 'bytes 1-3/5', '123'],
    ['bytes=2-', 'bytes 2-4/5', '234'],
    ['bytes=-2', 'bytes 3-4/5', '34'],
    ['bytes=0-0', 'bytes 0-0/5', '0'],
    ['bytes=4-4', 'bytes 4-4/5', '4'],
    ['bytes=3-100', 'bytes 3-4/5', '34'], // end past the end is clamped
    ['bytes=-10', 'bytes 0-4/5', '01234'] // suffix longer than the blob is the whole blob
  ]
  for (const [range, contentRange, body] of cases) {
    const res = await app.inject({ method: 'GET', url: `/v2/ranges/blobs/${digest}`, headers: { range } })
    t.equal(res.statusCode, 206, `${range}: 206`)
    t.equal(header(res, 'content-range'), contentRange, `${range}: Content-Range`)
    t.equal(header(res, 'content-length'), String(body.length), `${range}: Content-Length`)
    t.equal(res.body, body, `${range}: body`)
    t.equal(header(res, 'docker-content-digest'), digest, `${range}: digest header`)
  }
})

t.test('ranges on a larger blob', async t => {
  const { app } = await buildTestApp(t)
  const bytes = Buffer.alloc(2048)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) % 251
  const digest = await pushBlob(app, 'ranges', bytes)
  const cases: Array<[string, number, number]> = [
    ['bytes=500-1499', 500, 1499],
    ['bytes=500-', 500, 2047],
    ['bytes=-500', 1548, 2047],
    ['bytes=2000-5000', 2000, 2047]
  ]
  for (const [range, start, end] of cases) {
    const res = await app.inject({ method: 'GET', url: `/v2/ranges/blobs/${digest}`, headers: { range } })
    t.equal(res.statusCode, 206, range)
    t.equal(header(res, 'content-range'), `bytes ${start}-${end}/2048`, range)
    t.same(res.rawPayload, bytes.subarray(start, end + 1), `${range}: bytes`)
  }
})

t.test('unsatisfiable ranges answer 416 with Content-Range: bytes */size', async t => {
  const { app } = await buildTestApp(t)
  const digest = await pushBlob(app, 'ranges', FIVE)
  for (const range of ['bytes=10-20', 'bytes=3-1', 'bytes=5-', 'bytes=-0', 'bytes=x-y']) {
    const res = await app.inject({ method: 'GET', url: `/v2/ranges/blobs/${digest}`, headers: { range } })
    t.equal(res.statusCode, 416, `${range}: 416`)
    t.equal(header(res, 'content-range'), 'bytes */5', `${range}: Content-Range`)
    expectError(t, res, 416, 'RANGE_INVALID', range)
    t.notMatch(res.body, /01234/, `${range}: blob bytes are not sent`)
  }
})

t.test('a multi-range request is answered with the whole blob (200)', async t => {
  const { app } = await buildTestApp(t)
  const digest = await pushBlob(app, 'ranges', FIVE)
  const res = await app.inject({ method: 'GET', url: `/v2/ranges/blobs/${digest}`, headers: { range: 'bytes=0-1,3-4' } })
  t.equal(res.statusCode, 200)
  t.equal(res.body, '01234')
  t.equal(header(res, 'content-length'), '5')
  t.equal(header(res, 'content-range'), undefined)
})

t.test('a Range in a unit other than bytes is ignored (200 with the whole blob)', async t => {
  const { app } = await buildTestApp(t)
  const digest = await pushBlob(app, 'ranges', FIVE)
  const res = await app.inject({ method: 'GET', url: `/v2/ranges/blobs/${digest}`, headers: { range: 'items=0-1' } })
  t.equal(res.statusCode, 200)
  t.equal(res.body, '01234')
  t.equal(header(res, 'content-range'), undefined)
})

t.test('unknown blobs answer 404 BLOB_UNKNOWN', async t => {
  const { app } = await buildTestApp(t)
  const known = await pushBlob(app, 'known', 'known content')
  const unknown = sha256('never pushed')
  const get = await app.inject({ method: 'GET', url: `/v2/known/blobs/${unknown}` })
  const entry = expectError(t, get, 404, 'BLOB_UNKNOWN')
  t.same(entry.detail, { digest: unknown })
  const head = await app.inject({ method: 'HEAD', url: `/v2/known/blobs/${unknown}` })
  t.equal(head.statusCode, 404)
  t.equal(head.body, '')
  // A blob that exists in the store but is not linked into this repository is unknown here.
  const other = await app.inject({ method: 'GET', url: `/v2/other/blobs/${known}` })
  expectError(t, other, 404, 'BLOB_UNKNOWN')
  const del = await app.inject({ method: 'DELETE', url: `/v2/known/blobs/${unknown}` })
  expectError(t, del, 404, 'BLOB_UNKNOWN')
})

t.test('malformed and unsupported digests in blob URLs answer 400 DIGEST_INVALID', async t => {
  const { app } = await buildTestApp(t)
  const bad = ['sha256:abc', `md5:${'a'.repeat(32)}`, `sha256:${'g'.repeat(64)}`, `sha512:${'a'.repeat(64)}`, 'latest']
  for (const digest of bad) {
    for (const method of ['GET', 'HEAD', 'DELETE'] as const) {
      const res = await app.inject({ method, url: `/v2/repo/blobs/${digest}` })
      t.equal(res.statusCode, 400, `${method} ${digest}: 400`)
      if (method !== 'HEAD') expectError(t, res, 400, 'DIGEST_INVALID', `${method} ${digest}`)
    }
  }
})

t.test('DELETE unlinks the blob from one repository; the single stored copy stays for others', async t => {
  const { app, config } = await buildTestApp(t)
  const bytes = Buffer.from('shared layer content')
  const digest = await pushBlob(app, 'one', bytes)
  t.equal(await pushBlob(app, 'two/nested', bytes), digest)
  t.same(await storeKeys(app, 'blobs/'), [paths.blob(digest)], 'one key under blobs/ for two repositories')
  t.equal((await diskFiles(config, 'blobs')).length, 1, 'one file on disk under objects/blobs')
  t.same(await storeKeys(app, `repositories/one/_layers/`), [paths.layerLink('one', digest)], 'repository one links it')
  t.same(await storeKeys(app, `repositories/two/nested/_layers/`), [paths.layerLink('two/nested', digest)], 'and so does two/nested')

  const del = await app.inject({ method: 'DELETE', url: `/v2/one/blobs/${digest}` })
  t.equal(del.statusCode, 202)
  t.equal(del.body, '')
  const gone = await app.inject({ method: 'GET', url: `/v2/one/blobs/${digest}` })
  expectError(t, gone, 404, 'BLOB_UNKNOWN')
  const headGone = await app.inject({ method: 'HEAD', url: `/v2/one/blobs/${digest}` })
  t.equal(headGone.statusCode, 404)
  const again = await app.inject({ method: 'DELETE', url: `/v2/one/blobs/${digest}` })
  expectError(t, again, 404, 'BLOB_UNKNOWN')

  const still = await app.inject({ method: 'GET', url: `/v2/two/nested/blobs/${digest}` })
  t.equal(still.statusCode, 200, 'the other repository still reads it')
  t.same(still.rawPayload, bytes)
  t.same(await storedBlob(app, digest), bytes, 'the stored bytes are untouched')
  t.same(await storeKeys(app, `repositories/one/_layers/`), [], 'only the link of repository one is gone')
  t.equal((await diskFiles(config, 'blobs')).length, 1)
})

t.test('sha512 blobs: push, HEAD, GET and range', async t => {
  const { app, config } = await buildTestApp(t)
  const bytes = Buffer.from('a blob addressed by sha512')
  const digest = sha512(bytes)
  const res = await app.inject({
    method: 'POST',
    url: `/v2/sha512/blobs/uploads/?digest=${digest}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: bytes
  })
  t.equal(res.statusCode, 201)
  t.equal(header(res, 'location'), `/v2/sha512/blobs/${digest}`)
  t.equal(header(res, 'docker-content-digest'), digest)
  t.same(await storeKeys(app, 'blobs/'), [`blobs/sha512/${digest.slice(7, 9)}/${digest.slice(7)}`])
  t.equal((await diskFiles(config, 'blobs/sha512')).length, 1, 'one file on disk under objects/blobs/sha512')
  t.same(await storedBlob(app, digest), bytes)

  const head = await app.inject({ method: 'HEAD', url: `/v2/sha512/blobs/${digest}` })
  t.equal(head.statusCode, 200)
  t.equal(header(head, 'content-length'), String(bytes.length))
  t.equal(header(head, 'docker-content-digest'), digest)
  const get = await app.inject({ method: 'GET', url: `/v2/sha512/blobs/${digest}` })
  t.equal(get.statusCode, 200)
  t.same(get.rawPayload, bytes)
  t.equal(sha512(get.rawPayload), digest)
  const range = await app.inject({ method: 'GET', url: `/v2/sha512/blobs/${digest}`, headers: { range: 'bytes=2-5' } })
  t.equal(range.statusCode, 206)
  t.equal(range.body, bytes.subarray(2, 6).toString())

  const wrong = sha512('different')
  const bad = await app.inject({
    method: 'POST',
    url: `/v2/sha512/blobs/uploads/?digest=${wrong}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: bytes
  })
  expectError(t, bad, 400, 'DIGEST_INVALID')
  t.equal(await storedBlob(app, wrong), undefined)
})
