// Upload sessions: start (end-4a), mount (end-11), PATCH (end-5), PUT (end-6), status (end-13), cancel.
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import { paths } from '../../src/storage/paths.js'
import { buildTestApp } from '../helpers/app.js'
import {
  expectError, header, pushBlob, sha256, sha512, storeKeys, storedBlob, type Res
} from './helpers.js'

const UUID = /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/
/** The 42-byte blob of the conformance suite's chunked test: chunk 1 is bytes 0–21, chunk 2 bytes 22–41. */
const BLOB42 = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP')
const CHUNK1 = BLOB42.subarray(0, 22)
const CHUNK2 = BLOB42.subarray(22)

interface Session {
  res: Res
  location: string
  id: string
}

async function startUpload (t: Test, app: FastifyInstance, name: string): Promise<Session> {
  const res = await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/`, headers: { 'content-length': '0' } })
  t.equal(res.statusCode, 202, 'POST starts a session with exactly 202')
  const location = header(res, 'location') ?? ''
  const id = location.split('/').at(-1) ?? ''
  return { res, location, id }
}

async function patch (app: FastifyInstance, location: string, body: Buffer, contentRange?: string): Promise<Res> {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' }
  if (contentRange !== undefined) headers['content-range'] = contentRange
  return await app.inject({ method: 'PATCH', url: location, headers, payload: body })
}

async function put (app: FastifyInstance, location: string, digest: string | undefined, body?: Buffer, contentRange?: string): Promise<Res> {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' }
  if (contentRange !== undefined) headers['content-range'] = contentRange
  if (body === undefined) headers['content-length'] = '0'
  const url = digest === undefined ? location : `${location}?digest=${digest}`
  return await app.inject({ method: 'PUT', url, headers, ...(body === undefined ? {} : { payload: body }) })
}

t.test('POST starts a session: 202, Location, Range 0-0, OCI-Chunk-Min-Length, Docker-Upload-UUID', async t => {
  const { app } = await buildTestApp(t)
  const { res, location, id } = await startUpload(t, app, 'up/repo')
  t.match(location, /^\/v2\/up\/repo\/blobs\/uploads\/[^/]+$/)
  t.match(id, UUID, 'the session id is a UUID')
  t.equal(header(res, 'range'), '0-0')
  t.equal(header(res, 'docker-upload-uuid'), id)
  t.match(header(res, 'oci-chunk-min-length') ?? '', /^[1-9]\d*$/, 'OCI-Chunk-Min-Length is a positive integer')
  t.equal(header(res, 'docker-distribution-api-version'), 'registry/2.0')
  t.equal(res.body, '')
  t.same(await storeKeys(app, paths.uploadPrefix(id)), [paths.uploadState(id)], 'the session state is stored')

  const slashless = await app.inject({ method: 'POST', url: '/v2/up/repo/blobs/uploads' })
  t.equal(slashless.statusCode, 202, 'the trailing slash is optional')
  t.not(header(slashless, 'location'), location, 'every POST opens a new session')
})

t.test('streamed PATCH then PUT ?digest= completes the upload (201)', async t => {
  const { app } = await buildTestApp(t)
  const { location, id } = await startUpload(t, app, 'stream')
  const body = Buffer.from('streamed blob body without Content-Range')
  const p = await patch(app, location, body)
  t.equal(p.statusCode, 202)
  t.equal(header(p, 'range'), `0-${body.length - 1}`)
  t.equal(header(p, 'location'), location)
  t.equal(header(p, 'docker-upload-uuid'), id)

  const digest = sha256(body)
  const done = await put(app, location, digest)
  t.equal(done.statusCode, 201)
  t.equal(header(done, 'location'), `/v2/stream/blobs/${digest}`)
  t.equal(header(done, 'docker-content-digest'), digest)
  t.same(await storedBlob(app, digest), body, 'stored bytes')
  t.same(await storeKeys(app, 'uploads/'), [], 'the session is gone')
  const get = await app.inject({ method: 'GET', url: `/v2/stream/blobs/${digest}` })
  t.equal(get.statusCode, 200)
  t.same(get.rawPayload, body)
  const status = await app.inject({ method: 'GET', url: location })
  expectError(t, status, 404, 'BLOB_UPLOAD_UNKNOWN')
})

t.test('chunked upload: in-order chunks, out-of-order chunk rejected without changing state', async t => {
  const { app } = await buildTestApp(t)
  const { location } = await startUpload(t, app, 'chunked')

  const early = await patch(app, location, CHUNK2, '22-41')
  t.equal(early.statusCode, 416, 'a chunk past the current offset answers 416')
  expectError(t, early, 416, 'RANGE_INVALID')

  const first = await patch(app, location, CHUNK1, '0-21')
  t.equal(first.statusCode, 202)
  t.equal(header(first, 'range'), '0-21')
  t.equal(header(first, 'location'), location)

  const retry = await patch(app, location, CHUNK1, '0-21')
  t.equal(retry.statusCode, 416, 'retrying the first chunk answers 416')
  t.equal(header(retry, 'range'), '0-21', 'the 416 reports the current range')
  const gap = await patch(app, location, CHUNK2.subarray(2), '24-41')
  t.equal(gap.statusCode, 416, 'a gap answers 416')

  const status = await app.inject({ method: 'GET', url: location })
  t.equal(status.statusCode, 204, 'status after the rejected chunks')
  t.equal(header(status, 'range'), '0-21', 'state unchanged')
  t.equal(header(status, 'location'), location)

  const second = await patch(app, header(status, 'location') ?? '', CHUNK2, '22-41')
  t.equal(second.statusCode, 202)
  t.equal(header(second, 'range'), '0-41')

  const digest = sha256(BLOB42)
  const done = await put(app, location, digest)
  t.equal(done.statusCode, 201)
  t.equal(header(done, 'location'), `/v2/chunked/blobs/${digest}`)
  t.equal(header(done, 'docker-content-digest'), digest)
  t.same(await storedBlob(app, digest), BLOB42)
})

t.test('Content-Range forms: bytes prefix and /total suffix are accepted', async t => {
  const { app } = await buildTestApp(t)
  const { location } = await startUpload(t, app, 'forms')
  const first = await patch(app, location, CHUNK1, 'bytes 0-21/42')
  t.equal(first.statusCode, 202)
  t.equal(header(first, 'range'), '0-21')
  const second = await patch(app, location, CHUNK2, 'bytes=22-41/*')
  t.equal(second.statusCode, 202)
  t.equal(header(second, 'range'), '0-41')
  const done = await put(app, location, sha256(BLOB42))
  t.equal(done.statusCode, 201)
  t.same(await storedBlob(app, sha256(BLOB42)), BLOB42)
})

t.test('malformed Content-Range answers 416 and leaves the session as it was', async t => {
  const { app } = await buildTestApp(t)
  const { location } = await startUpload(t, app, 'forms')
  for (const range of ['garbage', '5-1', '-3', '0-']) {
    const res = await patch(app, location, CHUNK1, range)
    t.equal(res.statusCode, 416, `${range}: 416`)
    expectError(t, res, 416, 'RANGE_INVALID', range)
  }
  const status = await app.inject({ method: 'GET', url: location })
  t.equal(status.statusCode, 204)
  t.equal(header(status, 'range'), '0-0')
})

t.test('PUT carrying the final chunk in its body', async t => {
  const { app } = await buildTestApp(t)
  const { location } = await startUpload(t, app, 'final')
  const first = await patch(app, location, CHUNK1, '0-21')
  t.equal(first.statusCode, 202)
  const digest = sha256(BLOB42)
  const done = await put(app, location, digest, CHUNK2, '22-41')
  t.equal(done.statusCode, 201)
  t.equal(header(done, 'location'), `/v2/final/blobs/${digest}`)
  t.equal(header(done, 'docker-content-digest'), digest)
  t.same(await storedBlob(app, digest), BLOB42)

  // Without Content-Range, and as the only data of the session (POST then PUT with the whole blob).
  const other = Buffer.from('whole blob in the PUT body')
  const s2 = await startUpload(t, app, 'final')
  const done2 = await put(app, s2.location, sha256(other), other)
  t.equal(done2.statusCode, 201)
  t.same(await storedBlob(app, sha256(other)), other)
  const get = await app.inject({ method: 'GET', url: `/v2/final/blobs/${sha256(other)}` })
  t.same(get.rawPayload, other)
})

t.test('PUT with a digest that does not match answers 400 DIGEST_INVALID and stores nothing', async t => {
  const { app } = await buildTestApp(t)
  const { location } = await startUpload(t, app, 'wrong')
  t.equal((await patch(app, location, BLOB42)).statusCode, 202)
  const claimed = sha256('not the uploaded bytes')
  const res = await put(app, location, claimed)
  const entry = expectError(t, res, 400, 'DIGEST_INVALID')
  t.match(entry.detail, { expected: claimed, actual: sha256(BLOB42) })
  t.equal(await storedBlob(app, claimed), undefined, 'nothing under the claimed digest')
  t.equal(await storedBlob(app, sha256(BLOB42)), undefined, 'nothing under the actual digest')
  t.same(await storeKeys(app, 'blobs/'), [], 'blobs/ is empty')
  t.same(await storeKeys(app, 'repositories/wrong/_layers/'), [], 'no layer link')
  for (const digest of [claimed, sha256(BLOB42)]) {
    const get = await app.inject({ method: 'GET', url: `/v2/wrong/blobs/${digest}` })
    expectError(t, get, 404, 'BLOB_UNKNOWN')
  }
})

t.test('PUT without a digest, or with a malformed one, answers 400 and keeps the session', async t => {
  const { app } = await buildTestApp(t)
  const { location } = await startUpload(t, app, 'nodigest')
  t.equal((await patch(app, location, CHUNK1, '0-21')).statusCode, 202)
  const missing = await put(app, location, undefined)
  expectError(t, missing, 400, 'DIGEST_INVALID')
  for (const digest of ['sha256:abc', `md5:${'0'.repeat(32)}`]) {
    const bad = await put(app, location, digest)
    expectError(t, bad, 400, 'DIGEST_INVALID', digest)
  }
  t.same(await storeKeys(app, 'blobs/'), [])
  const status = await app.inject({ method: 'GET', url: location })
  t.equal(status.statusCode, 204, 'the session is still there')
  t.equal(header(status, 'range'), '0-21')
})

t.test('GET upload status: 204 with Location, Range and Docker-Upload-UUID', async t => {
  const { app } = await buildTestApp(t)
  const { location, id } = await startUpload(t, app, 'status')
  const empty = await app.inject({ method: 'GET', url: location })
  t.equal(empty.statusCode, 204)
  t.equal(header(empty, 'location'), location)
  t.equal(header(empty, 'range'), '0-0')
  t.equal(header(empty, 'docker-upload-uuid'), id)
  t.equal(empty.body, '')
  t.equal((await patch(app, location, Buffer.from('12345'))).statusCode, 202)
  const after = await app.inject({ method: 'GET', url: location })
  t.equal(after.statusCode, 204)
  t.equal(header(after, 'range'), '0-4')
  t.equal(header(after, 'location'), location)
})

t.test('DELETE cancels the session: 204, then 404 BLOB_UPLOAD_UNKNOWN, and its data is removed', async t => {
  const { app } = await buildTestApp(t)
  const { location, id } = await startUpload(t, app, 'cancel')
  t.equal((await patch(app, location, CHUNK1, '0-21')).statusCode, 202)
  t.ok((await storeKeys(app, paths.uploadPrefix(id))).includes(paths.uploadData(id)), 'data staged before cancel')
  const del = await app.inject({ method: 'DELETE', url: location })
  t.equal(del.statusCode, 204)
  t.equal(del.body, '')
  t.same(await storeKeys(app, 'uploads/'), [], 'state and data removed')
  const status = await app.inject({ method: 'GET', url: location })
  const entry = expectError(t, status, 404, 'BLOB_UPLOAD_UNKNOWN')
  t.same(entry.detail, { uuid: id })
  expectError(t, await patch(app, location, CHUNK2, '22-41'), 404, 'BLOB_UPLOAD_UNKNOWN', 'PATCH after cancel')
  expectError(t, await put(app, location, sha256(CHUNK1)), 404, 'BLOB_UPLOAD_UNKNOWN', 'PUT after cancel')
  expectError(t, await app.inject({ method: 'DELETE', url: location }), 404, 'BLOB_UPLOAD_UNKNOWN', 'DELETE again')
})

t.test('an upload id is scoped to its repository; garbage ids are unknown', async t => {
  const { app } = await buildTestApp(t)
  const { id, location } = await startUpload(t, app, 'owner')
  const foreign = `/v2/intruder/blobs/uploads/${id}`
  expectError(t, await app.inject({ method: 'GET', url: foreign }), 404, 'BLOB_UPLOAD_UNKNOWN', 'GET from another repo')
  expectError(t, await patch(app, foreign, CHUNK1), 404, 'BLOB_UPLOAD_UNKNOWN', 'PATCH from another repo')
  expectError(t, await put(app, foreign, sha256(CHUNK1), CHUNK1), 404, 'BLOB_UPLOAD_UNKNOWN', 'PUT from another repo')
  expectError(t, await app.inject({ method: 'DELETE', url: foreign }), 404, 'BLOB_UPLOAD_UNKNOWN', 'DELETE from another repo')
  const status = await app.inject({ method: 'GET', url: location })
  t.equal(status.statusCode, 204, 'the owner still has it')
  t.equal(header(status, 'range'), '0-0', 'nothing was appended by the other repository')

  for (const garbage of ['not-a-uuid', '00000000-0000-0000-0000-000000000000', 'ZZZ', '..', 'state']) {
    const url = `/v2/owner/blobs/uploads/${garbage}`
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 404, `${garbage}: 404`)
    t.notMatch(res.body, /<html/i)
    if (garbage !== '..') expectError(t, res, 404, 'BLOB_UPLOAD_UNKNOWN', garbage)
    const p = await patch(app, `/v2/owner/blobs/uploads/${garbage}`, CHUNK1)
    t.equal(p.statusCode, 404, `PATCH ${garbage}: 404`)
  }
})

t.test('Content-Range claiming more bytes than the body: 400 SIZE_INVALID, offset unchanged', async t => {
  const { app } = await buildTestApp(t)
  const { location } = await startUpload(t, app, 'short')
  t.equal((await patch(app, location, CHUNK1, '0-21')).statusCode, 202)
  const res = await patch(app, location, CHUNK2.subarray(0, 10), '22-41')
  expectError(t, res, 400, 'SIZE_INVALID')
  const status = await app.inject({ method: 'GET', url: location })
  t.equal(status.statusCode, 204)
  t.equal(header(status, 'range'), '0-21', 'offset did not advance')

  // Claiming fewer bytes than sent is equally rejected.
  const long = await patch(app, location, CHUNK2, '22-30')
  expectError(t, long, 400, 'SIZE_INVALID')
  t.equal(header(await app.inject({ method: 'GET', url: location }), 'range'), '0-21')

  // The session is still usable and the rejected bytes are not part of the blob.
  const second = await patch(app, location, CHUNK2, '22-41')
  t.equal(second.statusCode, 202)
  t.equal(header(second, 'range'), '0-41')
  const digest = sha256(BLOB42)
  const done = await put(app, location, digest)
  t.equal(done.statusCode, 201)
  t.same(await storedBlob(app, digest), BLOB42)
})

t.test('mount from another repository: 201 with the target blob Location', async t => {
  const { app } = await buildTestApp(t)
  const bytes = Buffer.from('blob to be mounted')
  const digest = await pushBlob(app, 'source/repo', bytes)
  const res = await app.inject({ method: 'POST', url: `/v2/target/repo/blobs/uploads/?mount=${digest}&from=source/repo` })
  t.equal(res.statusCode, 201)
  t.equal(header(res, 'location'), `/v2/target/repo/blobs/${digest}`)
  t.equal(header(res, 'docker-content-digest'), digest)
  const get = await app.inject({ method: 'GET', url: `/v2/target/repo/blobs/${digest}` })
  t.equal(get.statusCode, 200)
  t.same(get.rawPayload, bytes)
  t.same(await storeKeys(app, 'blobs/'), [paths.blob(digest)], 'still a single stored copy')
  t.same(await storeKeys(app, 'uploads/'), [], 'no session was opened')
})

t.test('mount without from of a blob already in the store: 201', async t => {
  const { app } = await buildTestApp(t)
  const bytes = Buffer.from('blob for automatic mount')
  const digest = await pushBlob(app, 'elsewhere', bytes)
  const res = await app.inject({ method: 'POST', url: `/v2/auto/blobs/uploads/?mount=${digest}` })
  t.equal(res.statusCode, 201)
  t.equal(header(res, 'location'), `/v2/auto/blobs/${digest}`)
  t.equal(header(res, 'docker-content-digest'), digest)
  const get = await app.inject({ method: 'GET', url: `/v2/auto/blobs/${digest}` })
  t.equal(get.statusCode, 200)
  t.same(get.rawPayload, bytes)
})

t.test('mount of an unknown blob falls back to a new session (202)', async t => {
  const { app } = await buildTestApp(t)
  const unknown = sha256('never pushed anywhere')
  for (const query of [`mount=${unknown}`, `mount=${unknown}&from=nowhere`]) {
    const res = await app.inject({ method: 'POST', url: `/v2/target/blobs/uploads/?${query}` })
    t.equal(res.statusCode, 202, `${query}: 202`)
    const location = header(res, 'location') ?? ''
    t.match(location, /^\/v2\/target\/blobs\/uploads\/[a-f0-9-]{36}$/, `${query}: a session Location`)
    t.equal(header(res, 'range'), '0-0')
    const status = await app.inject({ method: 'GET', url: location })
    t.equal(status.statusCode, 204, `${query}: the session exists`)
  }
  const get = await app.inject({ method: 'GET', url: `/v2/target/blobs/${unknown}` })
  expectError(t, get, 404, 'BLOB_UNKNOWN')
  t.same(await storeKeys(app, 'blobs/'), [])
})

t.test('mount from a repository that does not link the blob: 202 session, nothing linked', async t => {
  const { app } = await buildTestApp(t)
  const digest = await pushBlob(app, 'holder', 'only the holder links this')
  await pushBlob(app, 'decoy', 'the decoy has something else')
  const res = await app.inject({ method: 'POST', url: `/v2/target/blobs/uploads/?mount=${digest}&from=decoy` })
  t.equal(res.statusCode, 202)
  t.match(header(res, 'location') ?? '', /^\/v2\/target\/blobs\/uploads\//)
  const get = await app.inject({ method: 'GET', url: `/v2/target/blobs/${digest}` })
  expectError(t, get, 404, 'BLOB_UNKNOWN')
})

t.test('mount with a malformed digest or from name answers 400', async t => {
  const { app } = await buildTestApp(t)
  const digest = await pushBlob(app, 'src', 'x')
  expectError(t, await app.inject({ method: 'POST', url: '/v2/t/blobs/uploads/?mount=sha256:abc&from=src' }), 400, 'DIGEST_INVALID')
  expectError(t, await app.inject({ method: 'POST', url: `/v2/t/blobs/uploads/?mount=${digest}&from=BAD` }), 400, 'NAME_INVALID')
})

t.test('chunked sha512 upload', async t => {
  const { app } = await buildTestApp(t)
  const { location } = await startUpload(t, app, 'big')
  t.equal((await patch(app, location, CHUNK1, '0-21')).statusCode, 202)
  t.equal((await patch(app, location, CHUNK2, '22-41')).statusCode, 202)
  const digest = sha512(BLOB42)
  const done = await put(app, location, digest)
  t.equal(done.statusCode, 201)
  t.equal(header(done, 'location'), `/v2/big/blobs/${digest}`)
  t.same(await storedBlob(app, digest), BLOB42)
  const get = await app.inject({ method: 'GET', url: `/v2/big/blobs/${digest}` })
  t.same(get.rawPayload, BLOB42)
})

t.test('an upload survives a restart: the second process rebuilds the hasher from stored bytes', async t => {
  const dir = t.testdir()
  const first = await buildApp(await createBerth(loadConfig({ BERTH_DATA_DIR: dir, LOG_LEVEL: 'silent' })))
  let closedFirst = false
  t.teardown(async () => { if (!closedFirst) await first.close() })
  const { location, id } = await startUpload(t, first, 'survivor')
  const p1 = await patch(first, location, CHUNK1, '0-21')
  t.equal(p1.statusCode, 202)
  t.equal(header(p1, 'range'), '0-21')
  await first.close()
  closedFirst = true

  const second = await buildApp(await createBerth(loadConfig({ BERTH_DATA_DIR: dir, LOG_LEVEL: 'silent' })))
  t.teardown(async () => { await second.close() })
  const status = await second.inject({ method: 'GET', url: location })
  t.equal(status.statusCode, 204, 'the session is known to the new process')
  t.equal(header(status, 'range'), '0-21')
  t.equal(header(status, 'docker-upload-uuid'), id)

  const p2 = await patch(second, location, CHUNK2, '22-41')
  t.equal(p2.statusCode, 202)
  t.equal(header(p2, 'range'), '0-41')
  const digest = sha256(BLOB42)
  const done = await put(second, location, digest)
  t.equal(done.statusCode, 201)
  t.equal(header(done, 'docker-content-digest'), digest)
  t.equal(header(done, 'location'), `/v2/survivor/blobs/${digest}`)
  t.same(await storedBlob(second, digest), BLOB42, 'stored bytes are the two chunks')
  const get = await second.inject({ method: 'GET', url: `/v2/survivor/blobs/${digest}` })
  t.equal(get.statusCode, 200)
  t.same(get.rawPayload, BLOB42)
  t.equal(sha256(get.rawPayload), digest)
})

t.test('after a restart, a final chunk sent in the PUT body is verified against the rebuilt hasher', async t => {
  const dir = t.testdir()
  const first = await buildApp(await createBerth(loadConfig({ BERTH_DATA_DIR: dir, LOG_LEVEL: 'silent' })))
  let closedFirst = false
  t.teardown(async () => { if (!closedFirst) await first.close() })
  const good = await startUpload(t, first, 'survivor')
  const bad = await startUpload(t, first, 'survivor')
  t.equal((await patch(first, good.location, CHUNK1, '0-21')).statusCode, 202)
  t.equal((await patch(first, bad.location, CHUNK1, '0-21')).statusCode, 202)
  await first.close()
  closedFirst = true

  const second = await buildApp(await createBerth(loadConfig({ BERTH_DATA_DIR: dir, LOG_LEVEL: 'silent' })))
  t.teardown(async () => { await second.close() })
  const wrong = await put(second, bad.location, sha256(CHUNK1), CHUNK2, '22-41')
  const entry = expectError(t, wrong, 400, 'DIGEST_INVALID')
  t.match(entry.detail, { expected: sha256(CHUNK1), actual: sha256(BLOB42) })
  t.same(await storeKeys(second, 'blobs/'), [], 'nothing published for the wrong digest')

  const digest = sha256(BLOB42)
  const done = await put(second, good.location, digest, CHUNK2, '22-41')
  t.equal(done.statusCode, 201)
  t.equal(header(done, 'location'), `/v2/survivor/blobs/${digest}`)
  t.equal(header(done, 'docker-content-digest'), digest)
  t.same(await storedBlob(second, digest), BLOB42)
  t.same(await storeKeys(second, 'blobs/'), [paths.blob(digest)])
})

t.test('a multi-MiB upload in streamed chunks, continued after a restart', async t => {
  const dir = t.testdir()
  const data = randomBytes(5 * 1024 * 1024 + 123)
  const cuts = [0, 1024 * 1024 + 7, 3 * 1024 * 1024, data.length]
  const streamOf = (buf: Buffer): Readable => {
    const parts: Buffer[] = []
    for (let i = 0; i < buf.length; i += 64 * 1024 + 3) parts.push(buf.subarray(i, i + 64 * 1024 + 3))
    return Readable.from(parts)
  }
  const config = () => loadConfig({ BERTH_DATA_DIR: dir, LOG_LEVEL: 'silent' })
  const first = await buildApp(await createBerth(config()))
  const { location } = await startUpload(t, first, 'large/blob')
  for (let i = 0; i < 2; i++) {
    const start = cuts[i] as number
    const end = (cuts[i + 1] as number) - 1
    const res = await patch(first, location, data.subarray(start, end + 1), `${start}-${end}`)
    t.equal(res.statusCode, 202, `chunk ${i}`)
    t.equal(header(res, 'range'), `0-${end}`)
  }
  await first.close()

  const second = await buildApp(await createBerth(config()))
  t.teardown(async () => { await second.close() })
  const start = cuts[2] as number
  const last = await second.inject({
    method: 'PATCH',
    url: location,
    headers: { 'content-type': 'application/octet-stream' }, // streamed, no Content-Length
    payload: streamOf(data.subarray(start))
  })
  t.equal(last.statusCode, 202)
  t.equal(header(last, 'range'), `0-${data.length - 1}`)
  const digest = sha256(data)
  const done = await put(second, location, digest)
  t.equal(done.statusCode, 201)
  t.equal(header(done, 'docker-content-digest'), digest)
  const stored = await storedBlob(second, digest)
  t.ok(stored?.equals(data), 'stored bytes equal the uploaded data')
  const range = await second.inject({ method: 'GET', url: `/v2/large/blob/blobs/${digest}`, headers: { range: 'bytes=1048570-1048590' } })
  t.equal(range.statusCode, 206)
  t.same(range.rawPayload, data.subarray(1048570, 1048591), 'a range across the first chunk boundary')

  const mono = await second.inject({
    method: 'POST',
    url: `/v2/large/blob/blobs/uploads/?digest=${sha512(data)}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: streamOf(data)
  })
  t.equal(mono.statusCode, 201, 'a streamed monolithic sha512 push of the same data')
  t.ok((await storedBlob(second, sha512(data)))?.equals(data))
})

t.test('concurrent PATCHes to one session never let a blob be stored under a digest its bytes do not have', async t => {
  const { app } = await buildTestApp(t)
  for (let round = 0; round < 3; round++) {
    const { location } = await startUpload(t, app, 'race')
    const a = Buffer.alloc(300_000, 0x41 + round)
    const b = Buffer.alloc(300_000, 0x61 + round)
    const [ra, rb] = await Promise.all([patch(app, location, a), patch(app, location, b)])
    const statuses = [ra.statusCode, rb.statusCode].sort()
    t.ok(statuses.includes(202), `round ${round}: at least one PATCH succeeded (${statuses.join(', ')})`)
    const winner = ra.statusCode === 202 ? a : b
    const digest = sha256(winner)
    const done = await put(app, location, digest)
    if (done.statusCode === 201) {
      const get = await app.inject({ method: 'GET', url: `/v2/race/blobs/${digest}` })
      t.equal(sha256(get.rawPayload), digest, `round ${round}: the bytes served under ${digest.slice(0, 19)}… hash to it`)
      t.ok((await storedBlob(app, digest))?.equals(winner), `round ${round}: stored bytes are the accepted chunk`)
    } else {
      expectError(t, done, 400, 'DIGEST_INVALID', `round ${round}`)
      t.equal(await storedBlob(app, digest), undefined)
    }
  }
})

t.test('two replicas on one directory take turns on a session: a kept hasher catches up on the chunks the other wrote', async t => {
  const dir = t.testdir()
  const config = () => loadConfig({ BERTH_DATA_DIR: dir, LOG_LEVEL: 'silent' })
  const a = await buildApp(await createBerth(config()))
  const b = await buildApp(await createBerth(config()))
  t.teardown(async () => { await a.close(); await b.close() })
  // The stored ranges each replica reads back to hash: only what it has not seen, never the whole upload again.
  const reads: Record<string, string[]> = { a: [], b: [] }
  for (const [label, app] of [['a', a], ['b', b]] as const) {
    const driver = app.berth.registry.driver
    const read = driver.read.bind(driver)
    driver.read = async (key, range) => {
      if (key.startsWith('uploads/')) reads[label]?.push(`${range?.start}-${range?.end}`)
      return await read(key, range)
    }
  }
  const chunks = [randomBytes(300_000), randomBytes(5), randomBytes(200_000), randomBytes(7)]
  const data = Buffer.concat(chunks)
  const { location } = await startUpload(t, a, 'turns/blob')
  let offset = 0
  for (const [i, chunk] of chunks.entries()) {
    const replica = i % 2 === 0 ? a : b // a keeps its hasher after chunk 0, which chunk 1 (on b) makes stale
    const res = await patch(replica, location, chunk, `${offset}-${offset + chunk.length - 1}`)
    offset += chunk.length
    t.equal(res.statusCode, 202, `chunk ${i}`)
    t.equal(header(res, 'range'), `0-${offset - 1}`)
  }
  const digest = sha256(data)
  const done = await put(a, location, digest)
  t.equal(done.statusCode, 201, 'a completes with the bytes b wrote last')
  t.ok((await storedBlob(b, digest))?.equals(data), 'the stored blob is the whole upload')
  t.same(reads.b, ['0-299999', '300005-500004'], 'b hashes the stored bytes once, then only the chunk a wrote since')
  t.same(reads.a, ['300000-300004', '500005-500011'], 'a catches up on the chunk b wrote before each of its turns')
})
