// A MinIO that stops answering (SIGSTOP) at some point of each kind of request: the client gets the OCI
// UNAVAILABLE 503 (or, for a blob GET whose headers are already out, a cut stream) within a few times the
// configured S3 timeout, nothing half-written becomes visible, and once MinIO answers again (SIGCONT) the
// same request succeeds without restarting Berth. The bound is generous (4x the 2 s timeout), measured
// from the moment MinIO is stopped.
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import {
  bytes, completeUpload, listMultipartUploads, patchChunk, pushMonolithic, startMinio, startUpload, uniqueBucket
} from '../helpers/minio.js'

const MiB = 1024 * 1024
const TIMEOUT_MS = 2000
const BOUND_MS = 4 * TIMEOUT_MS
const digestOf = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

const minio = await startMinio(t)
const bucket = uniqueBucket('pauses')
const berth = await startBerth(t)

async function startBerth (t: Test): Promise<string> {
  const config = loadConfig({ ...minio.env(bucket, { BERTH_S3_TIMEOUT_SECONDS: String(TIMEOUT_MS / 1000) }), LOG_LEVEL: 'silent' })
  const app = await buildApp(await createBerth(config))
  t.teardown(async () => { await app.close() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

interface Answer { status: number, body: string, ms: number }

/**
 * Stops MinIO, runs `during` (which must see Berth's answer), then always resumes MinIO and waits until
 * Berth reports ready again: recovery is Berth's own, nothing restarts it.
 */
async function whilePaused<T> (during: (pausedAt: number) => Promise<T>): Promise<T> {
  await minio.pause()
  try {
    return await during(Date.now())
  } finally {
    minio.resume()
    await waitReady()
  }
}

async function waitReady (): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await fetch(`${berth}/readyz`)).status === 200) return
    await sleep(100)
  }
  throw new Error('Berth did not become ready again after MinIO resumed')
}

async function answerOf (res: Response, since: number): Promise<Answer> {
  return { status: res.status, body: await res.text(), ms: Date.now() - since }
}

function expectUnavailable (t: Test, answer: Answer, label: string): void {
  t.equal(answer.status, 503, `${label}: 503`)
  let code: string | undefined
  try {
    code = (JSON.parse(answer.body) as { errors: Array<{ code: string }> }).errors[0]?.code
  } catch {}
  t.equal(code, 'UNAVAILABLE', `${label}: the OCI UNAVAILABLE envelope`)
  t.ok(answer.ms < BOUND_MS, `${label}: answered ${answer.ms} ms after MinIO stopped (bound ${BOUND_MS} ms)`)
}

/**
 * Sends `data` as the body of one request, by hand, calling `at(sent)` before each MiB so that MinIO can be
 * stopped at a chosen byte. Resolves with Berth's answer (it may come before the whole body is sent).
 */
async function streamed (method: string, path: string, data: Buffer, at: (sent: number) => Promise<void>,
  headers: Record<string, string> = {}): Promise<{ status: number, body: string }> {
  const { port } = new URL(berth)
  return await new Promise((resolve, reject) => {
    let answered = false
    const req = http.request({
      host: '127.0.0.1', port, method, path,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length, ...headers }
    }, res => {
      answered = true
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
      res.on('error', reject)
    })
    req.on('error', err => { if (!answered) reject(err) }) // once answered, the rest of the body may be refused
    void (async () => {
      for (let sent = 0; sent < data.length && !req.destroyed && !answered; sent += MiB) {
        await at(sent)
        if (!req.write(data.subarray(sent, sent + MiB))) {
          await new Promise(resolve => { req.once('drain', resolve); req.once('close', resolve) })
        }
      }
      req.end()
    })().catch(reject)
  })
}

/** Retries while the upload session is still claimed by the request that MinIO's outage cut (416). */
async function whileClaimed (fn: () => Promise<Response>): Promise<Response> {
  for (const deadline = Date.now() + 40_000; ;) {
    const res = await fn()
    if (res.status !== 416 || Date.now() > deadline) return res
    await res.arrayBuffer()
    await sleep(500)
  }
}

async function pull (name: string, digest: string): Promise<Buffer> {
  return Buffer.from(await (await fetch(`${berth}/v2/${name}/blobs/${digest}`)).arrayBuffer())
}

t.test('monolithic push: stopped before the body, mid-body and before the last byte', async t => {
  const blob = randomBytes(24 * MiB)
  const digest = digestOf(blob)
  const path = `/v2/pause/mono/blobs/uploads/?digest=${digest}`
  for (const [label, stopAt] of [['at the first byte', 0], ['mid-body', 12 * MiB], ['before the last MiB', 23 * MiB]] as const) {
    let pausedAt = 0
    try {
      const answer = await streamed('POST', path, blob, async sent => {
        if (sent === stopAt) {
          await sleep(100)
          await minio.pause()
          pausedAt = Date.now()
        }
      })
      expectUnavailable(t, { ...answer, ms: Date.now() - pausedAt }, `monolithic push, ${label}`)
    } finally {
      minio.resume()
      await waitReady()
    }
    t.equal((await fetch(`${berth}/v2/pause/mono/blobs/${digest}`, { method: 'HEAD' })).status, 404, `${label}: no blob became visible`)
  }
  t.equal((await pushMonolithic(berth, 'pause/mono', digest, blob)).status, 201, 'the same push succeeds once MinIO answers')
  t.equal(digestOf(await pull('pause/mono', digest)), digest, 'and the blob is intact')
})

t.test('chunked PATCH: stopped before the request; the session keeps the acknowledged chunk', async t => {
  const first = randomBytes(6 * MiB)
  const second = randomBytes(20 * MiB)
  const blob = Buffer.concat([first, second])
  const location = await startUpload(berth, 'pause/chunked')
  t.equal((await patchChunk(berth, location, first, 0)).status, 202)
  const range = { 'Content-Range': `${first.length}-${blob.length - 1}` }
  const path = new URL(location, berth).pathname + new URL(location, berth).search
  const before = await whilePaused(async pausedAt => ({ ...await streamed('PATCH', path, second, async () => {}, range), ms: Date.now() - pausedAt }))
  expectUnavailable(t, before, 'PATCH sent to a stopped MinIO')
  const status = await whileClaimed(async () => await fetch(new URL(location, berth)))
  t.equal(status.status, 204)
  t.equal(status.headers.get('range'), `0-${first.length - 1}`, 'the session holds exactly the acknowledged chunk')
  const again = await whileClaimed(async () => await patchChunk(berth, location, second, first.length))
  t.equal(again.status, 202, 'the same chunk succeeds once MinIO answers')
  t.equal((await completeUpload(berth, location, digestOf(blob))).status, 201)
  t.equal(digestOf(await pull('pause/chunked', digestOf(blob))), digestOf(blob))
})

t.test('chunked PATCH: stopped mid-body; the session keeps the acknowledged chunk', async t => {
  const first = randomBytes(6 * MiB)
  const second = randomBytes(20 * MiB)
  const location = await startUpload(berth, 'pause/chunked-mid')
  t.equal((await patchChunk(berth, location, first, 0)).status, 202)
  const range = { 'Content-Range': `${first.length}-${first.length + second.length - 1}` }
  const path = new URL(location, berth).pathname + new URL(location, berth).search
  let pausedAt = 0
  let answer: { status: number, body: string }
  try {
    answer = await streamed('PATCH', path, second, async sent => {
      if (sent === 10 * MiB) {
        await minio.pause()
        pausedAt = Date.now()
      }
    }, range)
  } finally {
    minio.resume()
    await waitReady()
  }
  expectUnavailable(t, { ...answer, ms: Date.now() - pausedAt }, 'PATCH with MinIO stopped mid-body')
  const status = await whileClaimed(async () => await fetch(new URL(location, berth)))
  t.equal(status.headers.get('range'), `0-${first.length - 1}`, 'the session holds exactly the acknowledged chunk')
  const again = await whileClaimed(async () => await patchChunk(berth, location, second, first.length))
  t.equal(again.status, 202, 'the same chunk succeeds once MinIO answers')
  const blob = Buffer.concat([first, second])
  t.equal((await completeUpload(berth, location, digestOf(blob))).status, 201)
  t.equal(digestOf(await pull('pause/chunked-mid', digestOf(blob))), digestOf(blob))
})

t.test('commit PUT ?digest= of a 96 MiB chunked upload, MinIO stopped 150 ms in (server-side compose)', async t => {
  const chunks = [randomBytes(32 * MiB), randomBytes(32 * MiB), randomBytes(32 * MiB)]
  const blob = Buffer.concat(chunks)
  const digest = digestOf(blob)
  // Parts that earlier cuts could not abort while MinIO was stopped are the staging sweep's; this test counts its own.
  const earlier = new Set(await listMultipartUploads(minio.client, bucket))
  const location = await startUpload(berth, 'pause/commit')
  let offset = 0
  for (const chunk of chunks) {
    t.equal((await patchChunk(berth, location, chunk, offset)).status, 202)
    offset += chunk.length
  }
  const committing = completeUpload(berth, location, digest)
  await sleep(150)
  const answer = await whilePaused(async pausedAt => await answerOf(await committing, pausedAt))
  expectUnavailable(t, answer, 'commit while MinIO is stopped')
  t.equal((await fetch(`${berth}/v2/pause/commit/blobs/${digest}`, { method: 'HEAD' })).status, 404, 'no blob became visible')

  // The failed commit could not even tell whether its session was left (the store was down): it must still
  // give up its claim, so that the retry succeeds once MinIO answers rather than meeting 416 for as long as
  // the process lives (a claim that keeps renewing never expires).
  const again = await whileClaimed(async () => await completeUpload(berth, location, digest))
  t.equal(again.status, 201, 'the same commit succeeds once MinIO answers')
  t.equal(digestOf(await pull('pause/commit', digest)), digest, 'and the blob is intact')
  t.same((await listMultipartUploads(minio.client, bucket)).filter(u => !earlier.has(u)), [], 'the cut compose left no multipart upload behind')
})

t.test('manifest PUT, tag list and catalog: the first request and the ones after it', async t => {
  const layer = randomBytes(1000)
  const config = Buffer.from('{}')
  t.equal((await pushMonolithic(berth, 'pause/app', digestOf(layer), layer)).status, 201)
  t.equal((await pushMonolithic(berth, 'pause/app', digestOf(config), config)).status, 201)
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(config), size: config.length },
    layers: [{ mediaType: 'application/octet-stream', digest: digestOf(layer), size: layer.length }]
  })
  const putManifest = async (): Promise<Response> => await fetch(`${berth}/v2/pause/app/manifests/v1`, {
    method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest
  })
  const requests: Array<[string, () => Promise<Response>]> = [
    ['manifest PUT', putManifest],
    ['tag list', async () => await fetch(`${berth}/v2/pause/app/tags/list`)],
    ['catalog', async () => await fetch(`${berth}/v2/_catalog`)]
  ]
  // Each kind once as the first request to meet the stopped MinIO, and once after another one has.
  for (const [label, request] of requests) {
    await whilePaused(async pausedAt => {
      expectUnavailable(t, await answerOf(await request(), pausedAt), `${label}, the first to meet the stopped MinIO`)
      for (const [other, next] of requests) {
        const started = Date.now()
        expectUnavailable(t, await answerOf(await next(), started), `${other}, after ${label}`)
      }
    })
  }
  t.equal((await fetch(`${berth}/v2/pause/app/manifests/v1`, { method: 'HEAD' })).status, 404, 'the tag never became visible')
  t.equal((await putManifest()).status, 201, 'the same manifest PUT succeeds once MinIO answers')
  t.same(await (await fetch(`${berth}/v2/pause/app/tags/list`)).json(), { name: 'pause/app', tags: ['v1'] })
  const { repositories } = await (await fetch(`${berth}/v2/_catalog`)).json() as { repositories: string[] }
  t.ok(repositories.includes('pause/app'), 'the catalog answers again')
})

t.test('blob GET: stopped mid-stream, the stream is cut; stopped before, a 503', async t => {
  const blob = randomBytes(64 * MiB)
  const digest = digestOf(blob)
  t.equal((await pushMonolithic(berth, 'pause/pull', digest, blob)).status, 201)

  const { port } = new URL(berth)
  let pausedAt = 0
  const outcome = await new Promise<{ status: number, received: number, cut: boolean, ms: number }>((resolve, reject) => {
    let received = 0
    const req = http.get({ host: '127.0.0.1', port, path: `/v2/pause/pull/blobs/${digest}` }, res => {
      const finish = (cut: boolean): void => { resolve({ status: res.statusCode ?? 0, received, cut, ms: Date.now() - pausedAt }) }
      res.on('data', (d: Buffer) => {
        received += d.length
        if (pausedAt !== 0 || received < MiB) return
        // Hold the reader back so that MinIO cannot send everything ahead, stop MinIO, then read on.
        res.pause()
        pausedAt = -1
        void minio.pause().then(() => {
          pausedAt = Date.now()
          res.resume()
        }, reject)
      })
      res.on('end', () => { finish(false) })
      res.on('aborted', () => { finish(true) })
      res.on('error', () => { finish(true) })
      res.on('close', () => { finish(!res.complete) })
    })
    req.on('error', reject)
  }).finally(async () => {
    minio.resume()
    await waitReady()
  })
  t.equal(outcome.status, 200, 'the headers were out before MinIO stopped')
  t.ok(outcome.cut, 'the stream was cut, not ended as if complete')
  t.ok(outcome.received < blob.length, `only ${outcome.received} of ${blob.length} bytes arrived`)
  t.ok(outcome.ms < BOUND_MS, `cut ${outcome.ms} ms after MinIO stopped (bound ${BOUND_MS} ms)`)

  const before = await whilePaused(async at => await answerOf(await fetch(`${berth}/v2/pause/pull/blobs/${digest}`), at))
  expectUnavailable(t, before, 'blob GET sent to a stopped MinIO')
  t.equal(digestOf(await pull('pause/pull', digest)), digest, 'the whole blob again once MinIO answers')
})
