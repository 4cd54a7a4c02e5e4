// The shared storage-driver suite against a real MinIO server (each test in its own bucket), then what is
// particular to the S3 driver: rebuffered multipart staging, server-side commit, cleanup, timeouts.
import { Readable } from 'node:stream'
import t from 'tap'
import { StorageUnavailableError } from '../../src/storage/driver.js'
import { S3Driver } from '../../src/storage/drivers/s3/index.js'
import { freePort } from '../helpers/server-process.js'
import { listMultipartUploads, listObjectNames, startMinio, uniqueBucket } from '../helpers/minio.js'
import { runDriverSuite } from './driver-suite.js'

const MiB = 1024 * 1024
const minio = await startMinio(t)

async function makeDriver (options: { timeoutMs?: number, bucket?: string } = {}): Promise<S3Driver> {
  const driver = new S3Driver({
    endpoint: minio.endpoint,
    accessKey: minio.accessKey,
    secretKey: minio.secretKey,
    bucket: options.bucket ?? uniqueBucket('drv'),
    region: 'us-east-1',
    timeoutMs: options.timeoutMs ?? 10_000
  })
  await driver.init()
  t.teardown(async () => { await driver.close() })
  return driver
}

function bucketOf (d: S3Driver): string {
  return (d as unknown as { bucket: string }).bucket
}

async function collect (stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Deterministic bytes, so that reads can be compared without keeping copies around. */
function pattern (start: number, length: number): Buffer {
  const b = Buffer.alloc(length)
  for (let i = 0; i < length; i++) b[i] = ((start + i) * 2654435761 >>> 24) & 0xff
  return b
}

/** `total` bytes of the pattern from `start`, in chunks of the given (cycling) sizes. */
function chunked (start: number, total: number, sizes: number[]): Readable {
  let sent = 0
  let i = 0
  return Readable.from((function * () {
    while (sent < total) {
      const n = Math.min(sizes[i++ % sizes.length] as number, total - sent)
      yield pattern(start + sent, n)
      sent += n
    }
  })())
}

t.test('shared driver suite on MinIO', async t => {
  runDriverSuite(t, async () => await makeDriver())
})

t.test('append rebuffers uneven chunks into parts and reads back across segments', async t => {
  const d = await makeDriver()
  // 20-byte chunks, as the conformance suites send, then uneven network-sized ones.
  let size = 0
  for (let i = 0; i < 30; i++) size = await d.append('u/x/data', size, chunked(size, 20, [20]))
  t.equal(size, 600)
  size = await d.append('u/x/data', size, chunked(size, 13 * MiB + 7, [65536, 1000, 3 * MiB + 1, 17]))
  size = await d.append('u/x/data', size, chunked(size, 3, [1]))
  size = await d.append('u/x/data', size, chunked(size, 6 * MiB, [MiB]))
  t.equal(size, 600 + 13 * MiB + 7 + 3 + 6 * MiB)
  t.equal((await d.stat('u/x/data'))?.size, size)
  t.ok((await collect(await d.read('u/x/data'))).equals(pattern(0, size)), 'whole staged data')
  const range = { start: 13 * MiB - 5, end: 14 * MiB + 600 }
  t.ok((await collect(await d.read('u/x/data', range))).equals(pattern(range.start, range.end - range.start + 1)), 'a range across segments')
  t.same(await listMultipartUploads(minio.client, bucketOf(d)), [], 'every multipart upload was completed')
  t.same((await d.list('u/', { limit: 10 })).keys, ['u/x/data'], 'staging segments are not listed')

  // Rewriting from an earlier offset: inside a large segment (kept as a view) and inside a small one (carried).
  const cut = 600 + 9 * MiB
  t.equal(await d.append('u/x/data', cut, chunked(cut, 100, [100])), cut + 100)
  t.ok((await d.readAll('u/x/data')).equals(pattern(0, cut + 100)))
  t.equal(await d.append('u/x/data', 300, chunked(300, 10, [10])), 310)
  t.ok((await d.readAll('u/x/data')).equals(pattern(0, 310)))

  // Commit: the data appears under the target, composed on the server.
  await d.move('u/x/data', 'blobs/x')
  t.ok((await d.readAll('blobs/x')).equals(pattern(0, 310)))
  t.equal(await d.stat('u/x/data'), undefined)
  const names = await listObjectNames(minio.client, bucketOf(d))
  t.same(names.filter(n => n.startsWith('~')), [], 'no staging objects left after the move')
})

t.test('move composes many segments (multipart copy) and large single objects', async t => {
  const d = await makeDriver()
  let size = 0
  for (const n of [6 * MiB, 5 * MiB + 1, 70 * MiB, 2 * MiB]) size = await d.append('u/y/data', size, chunked(size, n, [256 * 1024]))
  await d.move('u/y/data', 'blobs/y')
  t.equal((await d.stat('blobs/y'))?.size, size)
  t.ok((await d.readAll('blobs/y')).equals(pattern(0, size)))
  // A plain object above the single-copy size moves by multipart copy too.
  await d.move('blobs/y', 'blobs/z')
  t.ok((await collect(await d.read('blobs/z', { start: size - 10, end: size - 1 }))).equals(pattern(size - 10, 10)))
  t.equal(await d.stat('blobs/y'), undefined)
  t.same(await listMultipartUploads(minio.client, bucketOf(d)), [])
})

t.test('deletePrefix aborts a multipart upload still in progress and leaves nothing behind', async t => {
  const d = await makeDriver()
  const body = new Readable({ read () {} })
  body.push(pattern(0, 20 * MiB)) // two parts go up; the append then waits for more
  const appending = d.append('uploads/abc/data', 0, body)
  appending.catch(() => {}) // asserted below
  for (let i = 0; i < 100 && (await listMultipartUploads(minio.client, bucketOf(d))).length === 0; i++) {
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  t.equal((await listMultipartUploads(minio.client, bucketOf(d))).length, 1, 'the append has a multipart upload open')
  await d.deletePrefix('uploads/abc/')
  body.push(pattern(0, 9 * MiB))
  body.push(null)
  await t.rejects(appending, { name: 'NotFoundError' }, 'the append fails once its upload is aborted')
  t.same(await listMultipartUploads(minio.client, bucketOf(d)), [], 'no multipart upload is left')
  t.same(await listObjectNames(minio.client, bucketOf(d)), [], 'no object is left')
})

t.test('a failed append leaves the previous data and aborts its parts', async t => {
  const d = await makeDriver()
  t.equal(await d.append('u/f/data', 0, chunked(0, 100, [100])), 100)
  const failing = new Readable({
    read () {
      this.push(pattern(100, 12 * MiB))
      this.destroy(new Error('client went away'))
    }
  })
  await t.rejects(d.append('u/f/data', 100, failing), /client went away/)
  t.equal((await d.stat('u/f/data'))?.size, 100)
  t.ok((await d.readAll('u/f/data')).equals(pattern(0, 100)))
  t.same(await listMultipartUploads(minio.client, bucketOf(d)), [])
})

t.test('list pages past 1000 keys with one S3 page per 1000', async t => {
  const d = await makeDriver()
  const keys = Array.from({ length: 1203 }, (_, i) => `l/k${String(i).padStart(5, '0')}`)
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(keys.slice(i, i + 50).map(async k => { await d.write(k, Buffer.from('x')) }))
  }
  const all = await d.list('l/', { limit: 5000 })
  t.equal(all.keys.length, 1203)
  t.same(all.keys, keys)
  t.equal(all.truncated, false)
  const page = await d.list('l/', { limit: 1100, startAfter: 'l/k00050' })
  t.equal(page.keys.length, 1100)
  t.equal(page.keys[0], 'l/k00051')
  t.equal(page.truncated, true)
})

t.test('keys that could collide with the driver internals are refused', async t => {
  const d = await makeDriver()
  await t.rejects(d.write('~staging/x', Buffer.from('x')))
  await t.rejects(d.write('a/b!', Buffer.from('x')))
  await t.rejects(d.list('~staging/', { limit: 1 }))
})

t.test('presigned URLs serve the object directly', async t => {
  const d = await makeDriver()
  await d.write('blobs/p', Buffer.from('presigned bytes'))
  const url = await d.presignedUrl('blobs/p', { expiresSeconds: 60 })
  const res = await fetch(url)
  t.equal(res.status, 200)
  t.equal(await res.text(), 'presigned bytes')
})

t.test('an unreachable endpoint fails at init with a clear message, and requests fail fast', async t => {
  const port = await freePort()
  const d = new S3Driver({ endpoint: `http://127.0.0.1:${port}`, accessKey: 'x', secretKey: 'y', bucket: 'nowhere', region: 'us-east-1', timeoutMs: 2000 })
  t.teardown(async () => { await d.close() })
  await t.rejects(d.init(), { name: 'StorageUnavailableError', message: /cannot use bucket "nowhere" at http:\/\/127\.0\.0\.1:\d+ .*ECONNREFUSED/ })
  const started = Date.now()
  await t.rejects(d.stat('a/b'), StorageUnavailableError)
  t.ok(Date.now() - started < 1000, 'refused connections fail at once')
})

t.test('wrong credentials fail at init and name the settings', async t => {
  const d = new S3Driver({ endpoint: minio.endpoint, accessKey: minio.accessKey, secretKey: 'wrong-secret-key', bucket: uniqueBucket('cred'), region: 'us-east-1', timeoutMs: 2000 })
  t.teardown(async () => { await d.close() })
  await t.rejects(d.init(), { name: 'StorageUnavailableError', message: /BERTH_S3_ACCESS_KEY, BERTH_S3_SECRET_KEY/ })
})

t.test('a MinIO that stops answering trips the timeout instead of hanging', async t => {
  const d = await makeDriver({ timeoutMs: 1000 })
  await d.write('h/k', Buffer.from('x'))
  await minio.pause()
  try {
    const started = Date.now()
    await t.rejects(d.readAll('h/k'), StorageUnavailableError)
    await t.rejects(d.write('h/k2', Buffer.from('y')), StorageUnavailableError)
    await t.rejects(d.ping(), StorageUnavailableError)
    t.ok(Date.now() - started < 6000, `three requests failed within their bounds (${Date.now() - started} ms)`)
  } finally {
    minio.resume()
  }
  t.equal((await d.readAll('h/k')).toString(), 'x', 'works again once MinIO answers')
})
