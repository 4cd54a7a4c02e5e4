// Two Berth processes on different ports, sharing one MinIO bucket, behave as one registry: whatever one
// writes the other serves at once, an upload session moves between them, and deletes are seen by both.
import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import { completeUpload, listMultipartUploads, listObjectNames, patchChunk, pushMonolithic, startMinio, startUpload, uniqueBucket } from '../helpers/minio.js'
import { startServer } from '../helpers/server-process.js'

const MiB = 1024 * 1024
const digestOf = (data: Buffer | string, alg: 'sha256' | 'sha512' = 'sha256'): string => `${alg}:${createHash(alg).update(data).digest('hex')}`

const minio = await startMinio(t)
const bucket = uniqueBucket('replicas')
const A = await startServer(t, minio.env(bucket))
const B = await startServer(t, minio.env(bucket))

async function putManifest (base: string, name: string, reference: string, doc: unknown): Promise<Response> {
  return await fetch(`${base}/v2/${name}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: JSON.stringify(doc)
  })
}

t.test('push through A, pull through B', async t => {
  const layer = randomBytes(3 * MiB)
  const config = Buffer.from('{}')
  t.equal((await pushMonolithic(A.url, 'team/app', digestOf(layer), layer)).status, 201)
  t.equal((await pushMonolithic(A.url, 'team/app', digestOf(config), config)).status, 201)
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(config), size: 2 },
    layers: [{ mediaType: 'application/octet-stream', digest: digestOf(layer), size: layer.length }]
  }
  const put = await putManifest(A.url, 'team/app', 'v1', manifest)
  t.equal(put.status, 201)
  const manifestDigest = put.headers.get('docker-content-digest')

  const got = await fetch(`${B.url}/v2/team/app/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })
  t.equal(got.status, 200)
  t.equal(got.headers.get('docker-content-digest'), manifestDigest)
  t.same(JSON.parse(await got.text()), manifest)
  const blob = await fetch(`${B.url}/v2/team/app/blobs/${digestOf(layer)}`)
  t.equal(blob.status, 200)
  t.equal(blob.headers.get('content-length'), String(layer.length))
  t.ok(Buffer.from(await blob.arrayBuffer()).equals(layer), 'B serves the bytes A stored')
  const ranged = await fetch(`${B.url}/v2/team/app/blobs/${digestOf(layer)}`, { headers: { Range: 'bytes=100-199' } })
  t.equal(ranged.status, 206)
  t.ok(Buffer.from(await ranged.arrayBuffer()).equals(layer.subarray(100, 200)))
  t.same(await (await fetch(`${B.url}/v2/team/app/tags/list`)).json(), { name: 'team/app', tags: ['v1'] })
  t.same(await (await fetch(`${B.url}/v2/_catalog`)).json(), { repositories: ['team/app'] })

  // A tag moved through B is what A serves next: tags are never cached.
  const config2 = Buffer.from('{"v":2}')
  t.equal((await pushMonolithic(B.url, 'team/app', digestOf(config2), config2)).status, 201)
  const moved = await putManifest(B.url, 'team/app', 'v1', { ...manifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config2), size: config2.length } })
  t.equal(moved.status, 201)
  const fromA = await fetch(`${A.url}/v2/team/app/manifests/v1`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })
  t.equal(fromA.headers.get('docker-content-digest'), moved.headers.get('docker-content-digest'))
})

t.test('a chunked upload begun on A is continued and finished on B', async t => {
  // Uneven chunks: tiny ones (as the conformance suites send), one above the 5 MiB part size, more tiny ones.
  const chunks = [randomBytes(20), randomBytes(20), randomBytes(7 * MiB + 5), randomBytes(20), randomBytes(3 * MiB)]
  const blob = Buffer.concat(chunks)
  const location = await startUpload(A.url, 'team/chunked')
  let offset = 0
  for (const [i, chunk] of chunks.slice(0, -1).entries()) {
    const server = i % 2 === 0 ? A : B // alternate replicas chunk by chunk
    const res = await patchChunk(server.url, location, chunk, offset)
    t.equal(res.status, 202, `chunk ${i} through ${server === A ? 'A' : 'B'}`)
    offset += chunk.length
    t.equal(res.headers.get('range'), `0-${offset - 1}`)
  }
  const status = await fetch(new URL(location, B.url))
  t.equal(status.status, 204)
  t.equal(status.headers.get('range'), `0-${offset - 1}`, 'B sees the progress A recorded')
  const done = await completeUpload(B.url, location, digestOf(blob), chunks.at(-1))
  t.equal(done.status, 201, 'B completes the session')
  const pulled = await fetch(`${A.url}/v2/team/chunked/blobs/${digestOf(blob)}`)
  t.ok(Buffer.from(await pulled.arrayBuffer()).equals(blob), 'A serves the assembled blob')
  t.equal((await fetch(new URL(location, A.url))).status, 404, 'the session is gone on both')
})

t.test('a sha512 upload across replicas (the digest is computed from the staged data)', async t => {
  const blob = randomBytes(6 * MiB + 11)
  const location = await startUpload(B.url, 'team/sha512')
  t.equal((await patchChunk(B.url, location, blob.subarray(0, 6 * MiB), 0)).status, 202)
  const done = await completeUpload(A.url, location, digestOf(blob, 'sha512'), blob.subarray(6 * MiB))
  t.equal(done.status, 201)
  const pulled = await fetch(`${B.url}/v2/team/sha512/blobs/${digestOf(blob, 'sha512')}`)
  t.ok(Buffer.from(await pulled.arrayBuffer()).equals(blob))
})

t.test('delete on B, 404 on A', async t => {
  const blob = randomBytes(1000)
  t.equal((await pushMonolithic(A.url, 'team/del', digestOf(blob), blob)).status, 201)
  const config = Buffer.from('{}')
  t.equal((await pushMonolithic(A.url, 'team/del', digestOf(config), config)).status, 201)
  const put = await putManifest(A.url, 'team/del', 'gone', {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(config), size: 2 },
    layers: [{ mediaType: 'application/octet-stream', digest: digestOf(blob), size: blob.length }]
  })
  const manifestDigest = put.headers.get('docker-content-digest') ?? ''
  t.equal((await fetch(`${A.url}/v2/team/del/manifests/gone`)).status, 200)

  t.equal((await fetch(`${B.url}/v2/team/del/manifests/${manifestDigest}`, { method: 'DELETE' })).status, 202)
  const manifest = await fetch(`${A.url}/v2/team/del/manifests/${manifestDigest}`)
  t.equal(manifest.status, 404)
  t.equal(((await manifest.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'MANIFEST_UNKNOWN')
  t.equal((await fetch(`${A.url}/v2/team/del/manifests/gone`)).status, 404, 'the tag went with it')

  t.equal((await fetch(`${B.url}/v2/team/del/blobs/${digestOf(blob)}`, { method: 'DELETE' })).status, 202)
  const gone = await fetch(`${A.url}/v2/team/del/blobs/${digestOf(blob)}`)
  t.equal(gone.status, 404)
  t.equal(((await gone.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'BLOB_UNKNOWN')

  const location = await startUpload(A.url, 'team/del')
  t.equal((await fetch(new URL(location, B.url), { method: 'DELETE' })).status, 204, 'B cancels a session A started')
  t.equal((await fetch(new URL(location, A.url))).status, 404)
})

t.test('the same tag pushed through both replicas at once ends as one of them, seen alike', async t => {
  const config = Buffer.from('{}')
  t.equal((await pushMonolithic(A.url, 'team/race', digestOf(config), config)).status, 201)
  const docs = ['a', 'b'].map(label => ({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(config), size: 2 },
    layers: [],
    annotations: { label }
  }))
  const [ra, rb] = await Promise.all([putManifest(A.url, 'team/race', 'latest', docs[0]), putManifest(B.url, 'team/race', 'latest', docs[1])])
  t.equal(ra.status, 201)
  t.equal(rb.status, 201)
  const viaA = (await fetch(`${A.url}/v2/team/race/manifests/latest`)).headers.get('docker-content-digest')
  const viaB = (await fetch(`${B.url}/v2/team/race/manifests/latest`)).headers.get('docker-content-digest')
  t.equal(viaA, viaB)
  t.ok([ra.headers.get('docker-content-digest'), rb.headers.get('docker-content-digest')].includes(viaA))
})

t.test('nothing is left staged in the bucket', async t => {
  t.same(await listMultipartUploads(minio.client, bucket), [])
  const names = await listObjectNames(minio.client, bucket)
  t.same(names.filter(n => n.startsWith('~') || n.startsWith('uploads/')), [], 'no upload data or staging objects remain')
})
