// Presigned blob redirects on MinIO: behind a flag, GET without Range answers 307 to a presigned URL (on the
// public endpoint when one is set); Range requests and HEAD are still served by Berth.
import { createHash, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import { pushMonolithic, startMinio, uniqueBucket } from '../helpers/minio.js'

const digestOf = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`
const minio = await startMinio(t)

async function berth (t: Test, extra: Record<string, string>): Promise<{ app: FastifyInstance, url: string }> {
  const app = await buildApp(await createBerth(loadConfig({ ...minio.env(uniqueBucket('presign'), extra), LOG_LEVEL: 'silent' })))
  t.teardown(async () => { await app.close() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

const blob = randomBytes(256 * 1024)
const digest = digestOf(blob)

t.test('with redirects on: 307 to a presigned MinIO URL that serves the blob', async t => {
  const { url } = await berth(t, { BERTH_S3_PRESIGNED_REDIRECTS: 'true', BERTH_S3_PRESIGN_EXPIRY_SECONDS: '300' })
  t.equal((await pushMonolithic(url, 'pre/signed', digest, blob)).status, 201)
  const res = await fetch(`${url}/v2/pre/signed/blobs/${digest}`, { redirect: 'manual' })
  t.equal(res.status, 307)
  t.equal(res.headers.get('docker-content-digest'), digest)
  const location = new URL(res.headers.get('location') ?? '')
  t.equal(location.origin, minio.endpoint, 'the URL names the MinIO endpoint')
  t.equal(location.searchParams.get('X-Amz-Expires'), '300')
  const followed = await fetch(`${url}/v2/pre/signed/blobs/${digest}`)
  t.equal(followed.status, 200)
  t.ok(Buffer.from(await followed.arrayBuffer()).equals(blob), 'following the redirect yields the blob')

  const ranged = await fetch(`${url}/v2/pre/signed/blobs/${digest}`, { redirect: 'manual', headers: { Range: 'bytes=10-19' } })
  t.equal(ranged.status, 206, 'Range requests are never redirected')
  t.ok(Buffer.from(await ranged.arrayBuffer()).equals(blob.subarray(10, 20)))
  const head = await fetch(`${url}/v2/pre/signed/blobs/${digest}`, { method: 'HEAD', redirect: 'manual' })
  t.equal(head.status, 200, 'HEAD is answered here')
  t.equal(head.headers.get('content-length'), String(blob.length))
  const unknown = await fetch(`${url}/v2/pre/signed/blobs/${digestOf(Buffer.from('nope'))}`, { redirect: 'manual' })
  t.equal(unknown.status, 404, 'unknown blobs are 404, not a redirect')
  const otherRepo = await fetch(`${url}/v2/other/repo/blobs/${digest}`, { redirect: 'manual' })
  t.equal(otherRepo.status, 404, 'a repository that does not link the blob gets no URL')
})

t.test('the public endpoint override is what the URL names', async t => {
  const publicEndpoint = minio.endpoint.replace('127.0.0.1', 'localhost')
  const { url } = await berth(t, { BERTH_S3_PRESIGNED_REDIRECTS: 'true', BERTH_S3_PUBLIC_ENDPOINT: publicEndpoint })
  t.equal((await pushMonolithic(url, 'pre/public', digest, blob)).status, 201)
  const res = await fetch(`${url}/v2/pre/public/blobs/${digest}`, { redirect: 'manual' })
  t.equal(res.status, 307)
  const location = res.headers.get('location') ?? ''
  t.ok(location.startsWith(`${publicEndpoint}/`), `redirects to ${publicEndpoint}`)
  const direct = await fetch(location)
  t.equal(direct.status, 200, 'the URL is signed for the public host')
  t.ok(Buffer.from(await direct.arrayBuffer()).equals(blob))
})

t.test('with redirects off (the default), Berth streams the blob itself', async t => {
  const { url } = await berth(t, {})
  t.equal((await pushMonolithic(url, 'pre/off', digest, blob)).status, 201)
  const res = await fetch(`${url}/v2/pre/off/blobs/${digest}`, { redirect: 'manual' })
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-length'), String(blob.length))
  t.ok(Buffer.from(await res.arrayBuffer()).equals(blob))
})
