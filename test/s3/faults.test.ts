// Faults on MinIO: a store that is down or stops answering makes requests fail fast with the OCI
// UNAVAILABLE 503 envelope, /readyz reports not ready, a push cut by the outage leaves no corrupt state, and
// Berth recovers by itself when MinIO returns: the same push then succeeds.
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import {
  completeUpload, listMultipartUploads, listObjectNames, patchChunk, pushMonolithic, startMinio, startUpload, uniqueBucket
} from '../helpers/minio.js'
import { freePort, SERVER_NODE_ARGS } from '../helpers/server-process.js'

const MiB = 1024 * 1024
const digestOf = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

const minio = await startMinio(t)

/** Berth in this process, listening on a loopback port, with a 2 s S3 timeout. */
async function startBerth (t: Test, bucket: string): Promise<{ url: string, purge: (now: number) => Promise<number> }> {
  const config = loadConfig({ ...minio.env(bucket, { BERTH_S3_TIMEOUT_SECONDS: '2' }), LOG_LEVEL: 'silent' })
  const app = await buildApp(await createBerth(config))
  t.teardown(async () => { await app.close() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, purge: async now => await app.berth.registry.uploads.purgeExpired(now) }
}

async function expectUnavailable (t: Test, res: Response, label: string): Promise<void> {
  t.equal(res.status, 503, `${label}: 503`)
  t.match(res.headers.get('content-type'), /application\/json/, `${label}: JSON`)
  const body = await res.json() as { errors: Array<{ code: string, message: string }> }
  t.equal(body.errors[0]?.code, 'UNAVAILABLE', `${label}: the OCI UNAVAILABLE envelope`)
}

async function timed<T> (fn: () => Promise<T>): Promise<{ value: T, ms: number }> {
  const started = Date.now()
  const value = await fn()
  return { value, ms: Date.now() - started }
}

async function waitReady (url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`${url}/readyz`)).status === 200) return
    await sleep(100)
  }
  throw new Error('Berth did not become ready again')
}

t.test('MinIO down: 503 envelopes at once, /readyz not ready, /healthz alive; recovery by itself', async t => {
  const berth = await startBerth(t, uniqueBucket('down'))
  t.equal((await fetch(`${berth.url}/readyz`)).status, 200)
  await minio.kill()
  try {
    const ready = await timed(async () => await fetch(`${berth.url}/readyz`))
    t.equal(ready.value.status, 503, '/readyz reports not ready')
    t.match(await ready.value.json(), { status: 'unavailable', storage: 's3' })
    t.ok(ready.ms < 1000, `/readyz answered in ${ready.ms} ms`)
    t.equal((await fetch(`${berth.url}/healthz`)).status, 200, '/healthz stays alive')
    const tags = await timed(async () => await fetch(`${berth.url}/v2/some/repo/tags/list`))
    await expectUnavailable(t, tags.value, 'tags list')
    t.ok(tags.ms < 1000, `failed fast (${tags.ms} ms)`)
    await expectUnavailable(t, await fetch(`${berth.url}/v2/some/repo/blobs/uploads/`, { method: 'POST' }), 'upload start')
    const head = await fetch(`${berth.url}/v2/some/repo/blobs/${digestOf(Buffer.from('x'))}`, { method: 'HEAD' })
    t.equal(head.status, 503, 'HEAD: 503')
  } finally {
    await minio.restart()
  }
  await waitReady(berth.url)
  const res = await fetch(`${berth.url}/v2/some/repo/tags/list`)
  t.equal(res.status, 404, 'answers from the store again (the repository does not exist)')
})

t.test('killing MinIO during a chunked push: a clean 503, the session intact, then the push completes', async t => {
  const berth = await startBerth(t, uniqueBucket('chunked'))
  const chunks = [randomBytes(6 * MiB), randomBytes(20), randomBytes(2 * MiB + 3)]
  const blob = Buffer.concat(chunks)
  const location = await startUpload(berth.url, 'fault/chunked')
  t.equal((await patchChunk(berth.url, location, chunks[0] as Buffer, 0)).status, 202)
  t.equal((await patchChunk(berth.url, location, chunks[1] as Buffer, 6 * MiB)).status, 202)
  await minio.kill()
  try {
    const res = await timed(async () => await patchChunk(berth.url, location, chunks[2] as Buffer, 6 * MiB + 20))
    await expectUnavailable(t, res.value, 'PATCH while MinIO is down')
    t.ok(res.ms < 2000, `failed fast (${res.ms} ms)`)
  } finally {
    await minio.restart()
  }
  await waitReady(berth.url)
  const status = await fetch(new URL(location, berth.url))
  t.equal(status.status, 204)
  t.equal(status.headers.get('range'), `0-${6 * MiB + 19}`, 'the session still holds exactly the acknowledged chunks')
  t.equal((await fetch(`${berth.url}/v2/fault/chunked/blobs/${digestOf(blob)}`, { method: 'HEAD' })).status, 404, 'nothing half-done is visible')
  t.equal((await patchChunk(berth.url, location, chunks[2] as Buffer, 6 * MiB + 20)).status, 202, 'the same chunk, again')
  t.equal((await completeUpload(berth.url, location, digestOf(blob))).status, 201)
  const pulled = Buffer.from(await (await fetch(`${berth.url}/v2/fault/chunked/blobs/${digestOf(blob)}`)).arrayBuffer())
  t.equal(digestOf(pulled), digestOf(blob), 'the blob is intact')
})

t.test('killing MinIO in the middle of a streamed monolithic push: 503, no blob, and the same push then succeeds', async t => {
  const bucket = uniqueBucket('stream')
  const berth = await startBerth(t, bucket)
  const blob = randomBytes(48 * MiB)
  const digest = digestOf(blob)
  const { port } = new URL(berth.url)
  // Stream the body by hand so that MinIO dies while Berth is still receiving it.
  const response = new Promise<{ status: number, connection: string | undefined, body: string }>((resolve, reject) => {
    let answered = false
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/v2/fault/stream/blobs/uploads/?digest=${digest}`, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.length } }, res => {
      answered = true
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }) })
      res.on('error', reject)
    })
    // Once answered, the server closes the connection: the rest of the body cannot be sent (EPIPE).
    req.on('error', err => { if (!answered) reject(err) })
    void (async () => {
      for (let sent = 0; sent < blob.length && !req.destroyed; sent += MiB) {
        if (sent === 24 * MiB) {
          await sleep(300)
          await minio.kill()
        }
        if (!req.write(blob.subarray(sent, sent + MiB))) {
          await new Promise(resolve => { req.once('drain', resolve); req.once('close', resolve) })
        }
      }
      req.end()
    })().catch(() => {})
  })
  let answer: { status: number, connection: string | undefined, body: string }
  try {
    answer = await response
  } finally {
    await minio.restart()
  }
  t.equal(answer.status, 503, 'the client gets a response, not a reset connection')
  t.equal(answer.connection, 'close', 'and the connection closes, as the rest of the body will not be read')
  t.equal((JSON.parse(answer.body) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAVAILABLE')
  await waitReady(berth.url)
  t.equal((await fetch(`${berth.url}/v2/fault/stream/blobs/${digest}`, { method: 'HEAD' })).status, 404, 'no partial blob became visible')

  const again = await pushMonolithic(berth.url, 'fault/stream', digest, blob)
  t.equal(again.status, 201, 'the same push succeeds once MinIO is back')
  const pulled = Buffer.from(await (await fetch(`${berth.url}/v2/fault/stream/blobs/${digest}`)).arrayBuffer())
  t.equal(digestOf(pulled), digest)

  // What the outage left behind (an unfinished staging and its multipart upload) goes with the expiry purge.
  t.ok((await berth.purge(Date.now() + 30 * 24 * 3600_000)) >= 1, 'the interrupted upload is purged')
  t.same(await listMultipartUploads(minio.client, bucket), [], 'no orphaned multipart upload remains')
  const names = await listObjectNames(minio.client, bucket)
  t.same(names.filter(n => n.startsWith('~') || n.startsWith('uploads/')), [], 'no staging objects remain')
})

t.test('a MinIO that stops answering: requests fail within the timeout, then recover', async t => {
  const berth = await startBerth(t, uniqueBucket('paused'))
  const blob = randomBytes(1000)
  t.equal((await pushMonolithic(berth.url, 'fault/paused', digestOf(blob), blob)).status, 201)
  await minio.pause()
  try {
    const res = await timed(async () => await fetch(`${berth.url}/v2/fault/paused/blobs/${digestOf(blob)}`))
    await expectUnavailable(t, res.value, 'GET blob while MinIO hangs')
    t.ok(res.ms >= 1500 && res.ms < 5000, `bounded by the 2 s timeout (${res.ms} ms)`)
    const ready = await timed(async () => await fetch(`${berth.url}/readyz`))
    t.equal(ready.value.status, 503)
    t.ok(ready.ms < 5000, `/readyz answered in ${ready.ms} ms`)
  } finally {
    minio.resume()
  }
  await waitReady(berth.url)
  const pulled = Buffer.from(await (await fetch(`${berth.url}/v2/fault/paused/blobs/${digestOf(blob)}`)).arrayBuffer())
  t.ok(pulled.equals(blob), 'serves again once MinIO answers')
})

t.test('bad or unreachable settings stop the server at startup with a clear message', async t => {
  const run = async (env: Record<string, string>): Promise<{ code: number | null, stderr: string }> =>
    await new Promise(resolve => {
      const child = spawn(process.execPath, SERVER_NODE_ARGS, {
        env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', ...env },
        stdio: ['pipe', 'ignore', 'pipe']
      })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 20_000)
      child.on('exit', code => { clearTimeout(timer); resolve({ code, stderr }) })
    })
  const closed = await freePort()
  const unreachable = await run(minio.env('berth-nowhere', { BERTH_S3_ENDPOINT: `http://127.0.0.1:${closed}` }))
  t.not(unreachable.code, 0)
  t.match(unreachable.stderr, /BERTH_S3_ENDPOINT: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\) to use bucket "berth-nowhere"/)
  const badSecret = await run(minio.env(uniqueBucket('secret'), { BERTH_S3_SECRET_KEY: 'not-the-secret' }))
  t.not(badSecret.code, 0)
  t.match(badSecret.stderr, /BERTH_S3_ACCESS_KEY, BERTH_S3_SECRET_KEY/)
  const badUrl = await run(minio.env('berth-x', { BERTH_S3_ENDPOINT: 'minio:9000' }))
  t.equal(badUrl.code, 2)
  t.match(badUrl.stderr, /configuration error: BERTH_S3_ENDPOINT must be/)
  const missing = await run({ BERTH_STORAGE: 's3' })
  t.equal(missing.code, 2)
  t.match(missing.stderr, /BERTH_STORAGE=s3 needs BERTH_S3_ENDPOINT, BERTH_S3_ACCESS_KEY, BERTH_S3_SECRET_KEY, BERTH_S3_BUCKET/)
  // A missing bucket is not an error: it is created.
  const bucket = uniqueBucket('created')
  t.equal(await minio.client.bucketExists(bucket), false)
  const config = loadConfig({ ...minio.env(bucket), LOG_LEVEL: 'silent' })
  const app = await buildApp(await createBerth(config))
  await app.close()
  t.equal(await minio.client.bucketExists(bucket), true, 'the bucket was created at startup')
})
