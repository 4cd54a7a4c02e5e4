// Uploads through the /v2 API on MinIO: uneven and tiny chunks are rebuffered into multipart parts, the blob
// appears under its digest composed on the server, and cancelled, failed and expired uploads abort their
// multipart uploads and leave no object behind.
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import { listMultipartUploads, listObjectNames, startMinio, uniqueBucket } from '../helpers/minio.js'

const MiB = 1024 * 1024
const digestOf = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`
const minio = await startMinio(t)

async function berth (t: Test): Promise<{ app: FastifyInstance, bucket: string }> {
  const bucket = uniqueBucket('up')
  const app = await buildApp(await createBerth(loadConfig({ ...minio.env(bucket), LOG_LEVEL: 'silent' })))
  t.teardown(async () => { await app.close() })
  return { app, bucket }
}

async function start (app: FastifyInstance, name: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/` })
  if (res.statusCode !== 202) throw new Error(`POST: ${res.statusCode} ${res.body}`)
  return res.headers.location as string
}

async function patch (app: FastifyInstance, location: string, chunk: Buffer, start: number): Promise<number> {
  const res = await app.inject({
    method: 'PATCH',
    url: location,
    headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + chunk.length - 1}` },
    payload: chunk
  })
  return res.statusCode
}

/** The bucket holds no staging, no upload data and no open multipart upload. */
async function assertClean (t: Test, bucket: string, label: string): Promise<void> {
  t.same(await listMultipartUploads(minio.client, bucket), [], `${label}: no multipart upload left`)
  const names = await listObjectNames(minio.client, bucket)
  t.same(names.filter(n => n.startsWith('~') || n.startsWith('uploads/')), [], `${label}: no staging or upload objects left`)
}

t.test('the chunk minimum is advertised as 5 MiB', async t => {
  const { app } = await berth(t)
  const res = await app.inject({ method: 'POST', url: '/v2/adv/blobs/uploads/' })
  t.equal(res.headers['oci-chunk-min-length'], String(5 * MiB))
})

t.test('20-byte chunks, as the conformance suites send them', async t => {
  const { app, bucket } = await berth(t)
  const blob = randomBytes(20 * 60)
  const location = await start(app, 'tiny/chunks')
  for (let offset = 0; offset < blob.length; offset += 20) {
    t.equal(await patch(app, location, blob.subarray(offset, offset + 20), offset), 202)
  }
  const put = await app.inject({ method: 'PUT', url: `${location}${location.includes('?') ? '&' : '?'}digest=${digestOf(blob)}` })
  t.equal(put.statusCode, 201, put.body)
  const got = await app.inject({ method: 'GET', url: `/v2/tiny/chunks/blobs/${digestOf(blob)}` })
  t.ok(got.rawPayload.equals(blob))
  await assertClean(t, bucket, 'after commit')
})

t.test('uneven large chunks are rebuffered into multipart parts and composed on the server', async t => {
  const { app, bucket } = await berth(t)
  const chunks = [randomBytes(3 * MiB + 1), randomBytes(9 * MiB + 7), randomBytes(1), randomBytes(5 * MiB), randomBytes(20)]
  const blob = Buffer.concat(chunks)
  const location = await start(app, 'uneven/chunks')
  let offset = 0
  for (const chunk of chunks) {
    t.equal(await patch(app, location, chunk, offset), 202)
    offset += chunk.length
  }
  // While the session is open its data is staged: every segment but the last is at least 5 MiB.
  const staged = (await listObjectNames(minio.client, bucket)).filter(n => n.startsWith('~staging/') && n.includes('/seg-'))
  t.ok(staged.length >= 2, `staged in ${staged.length} segments`)
  const sep = location.includes('?') ? '&' : '?'
  const put = await app.inject({ method: 'PUT', url: `${location}${sep}digest=${digestOf(blob)}` })
  t.equal(put.statusCode, 201, put.body)
  const head = await app.inject({ method: 'HEAD', url: `/v2/uneven/chunks/blobs/${digestOf(blob)}` })
  t.equal(head.headers['content-length'], String(blob.length))
  const got = await app.inject({ method: 'GET', url: `/v2/uneven/chunks/blobs/${digestOf(blob)}`, headers: { range: `bytes=${9 * MiB}-${13 * MiB}` } })
  t.equal(got.statusCode, 206)
  t.ok(got.rawPayload.equals(blob.subarray(9 * MiB, 13 * MiB + 1)))
  await assertClean(t, bucket, 'after commit')
})

t.test('a monolithic push streams into parts (never buffered whole) and lands under its digest', async t => {
  const { app, bucket } = await berth(t)
  const blob = randomBytes(40 * MiB + 3)
  // Stream the body in small pieces, as a socket delivers it.
  const body = Readable.from((function * () { for (let i = 0; i < blob.length; i += 64 * 1024) yield blob.subarray(i, i + 64 * 1024) })())
  const res = await app.inject({ method: 'POST', url: `/v2/mono/blob/blobs/uploads/?digest=${digestOf(blob)}`, headers: { 'content-type': 'application/octet-stream' }, payload: body })
  t.equal(res.statusCode, 201, res.body)
  const got = await app.inject({ method: 'GET', url: `/v2/mono/blob/blobs/${digestOf(blob)}` })
  t.equal(digestOf(got.rawPayload), digestOf(blob))
  await assertClean(t, bucket, 'after commit')
})

t.test('cancelling an upload while a chunk is streaming aborts its multipart upload', async t => {
  const { app, bucket } = await berth(t)
  const location = await start(app, 'cancel/me')
  const body = new Readable({ read () {} })
  body.push(randomBytes(20 * MiB)) // two parts go up, then the request waits for more
  const patching = app.inject({ method: 'PATCH', url: location, headers: { 'content-type': 'application/octet-stream' }, payload: body })
  for (let i = 0; i < 100 && (await listMultipartUploads(minio.client, bucket)).length === 0; i++) await sleep(50)
  t.equal((await listMultipartUploads(minio.client, bucket)).length, 1, 'the chunk streams into a multipart upload')
  const cancel = await app.inject({ method: 'DELETE', url: location })
  t.equal(cancel.statusCode, 204)
  t.same(await listMultipartUploads(minio.client, bucket), [], 'the cancel aborted it at once')
  body.push(randomBytes(MiB))
  body.push(null)
  const res = await patching
  t.ok(res.statusCode >= 400, `the interrupted PATCH fails (${res.statusCode} ${res.body})`)
  t.equal((await app.inject({ method: 'GET', url: location })).statusCode, 404, 'the session is gone')
  await assertClean(t, bucket, 'after cancel')
})

t.test('a failed upload (wrong digest) leaves nothing', async t => {
  const { app, bucket } = await berth(t)
  const location = await start(app, 'fail/digest')
  const blob = randomBytes(7 * MiB)
  t.equal(await patch(app, location, blob, 0), 202)
  const sep = location.includes('?') ? '&' : '?'
  const put = await app.inject({ method: 'PUT', url: `${location}${sep}digest=${digestOf(Buffer.from('other'))}` })
  t.equal(put.statusCode, 400)
  t.equal(JSON.parse(put.body).errors[0].code, 'DIGEST_INVALID')
  await assertClean(t, bucket, 'after a digest mismatch')
})

t.test('expired uploads are purged with their staging and multipart uploads', async t => {
  const { app, bucket } = await berth(t)
  const location = await start(app, 'expire/me')
  t.equal(await patch(app, location, randomBytes(6 * MiB), 0), 202)
  // An interrupted monolithic push: its staging stays behind, with a multipart upload still open.
  const body = new Readable({ read () {} })
  body.push(randomBytes(17 * MiB))
  const pushing = app.inject({ method: 'POST', url: `/v2/expire/me/blobs/uploads/?digest=${digestOf(Buffer.from('x'))}`, headers: { 'content-type': 'application/octet-stream' }, payload: body })
  for (let i = 0; i < 100 && (await listMultipartUploads(minio.client, bucket)).length === 0; i++) await sleep(50)
  t.equal((await listMultipartUploads(minio.client, bucket)).length, 1)
  const purged = await app.berth.registry.uploads.purgeExpired(Date.now() + 60 * 24 * 3600_000)
  t.equal(purged, 2, 'the session and the interrupted push')
  body.push(randomBytes(MiB))
  body.push(null)
  t.ok((await pushing).statusCode >= 400, 'the interrupted push fails once its staging is gone')
  t.equal((await app.inject({ method: 'GET', url: location })).statusCode, 404)
  await assertClean(t, bucket, 'after the purge')
})
