// §2.6 blob assertions of the redesigned upstream suite: every upload variant per digest algorithm, and Range GETs.
import {
  expect, expectBody, expectDigestHeaderIfPresent, expectEqual, expectErrorBody, expectHeadOf, expectHeaderEquals,
  expectLocation, expectStatus, locationPath
} from './expect.js'
import type { Suite } from './harness.js'
import type { Client, Res } from './http.js'
import {
  deleteBlobTolerant, digestOf, paths, pushBlob, randomBlob, startUpload, unknownDigest, withQuery, type Alg, type Ctx
} from './oci.js'

const OCTET = 'application/octet-stream'
const DEFAULT_CHUNK = 1024

/** A successful blob PUT/POST: 201, Location serving the same bytes, matching Docker-Content-Digest if sent. */
async function expectBlobCreated (client: Client, res: Res, data: Buffer, digest: string): Promise<void> {
  expectStatus(res, 201)
  expectDigestHeaderIfPresent(res, digest)
  const blob = await client.get(expectLocation(res))
  expectStatus(blob, 200)
  expectBody(blob, data)
  expectDigestHeaderIfPresent(blob, digest)
}

/** PATCH one chunk at `offset`; expects 202 and `Range: 0-<end>`; returns the next Location. */
async function patchChunk (client: Client, location: string, data: Buffer, offset: number): Promise<string> {
  const res = await client.patch(location, {
    body: data,
    headers: { 'content-type': OCTET, 'content-range': `${offset}-${offset + data.length - 1}` }
  })
  expectStatus(res, 202)
  expectHeaderEquals(res, 'range', `0-${offset + data.length - 1}`)
  return expectLocation(res)
}

/** POST a session and work out the chunk size (≥ 1024 bytes or the registry's OCI-Chunk-Min-Length). */
async function startChunked (client: Client, repo: string): Promise<{ location: string, chunk: number }> {
  const { location, res } = await startUpload(client, repo)
  const min = Number(res.header('oci-chunk-min-length') ?? '0')
  return { location, chunk: Number.isFinite(min) && min > DEFAULT_CHUNK ? min : DEFAULT_CHUNK }
}

function split (data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size))
  return out
}

export function blobPushGroup (suite: Suite, ctx: Ctx, alg: Alg): void {
  const { client, repo, repo2 } = ctx
  suite.group(`Blob push (${alg})`, (g) => {
    const pushed: Array<[string, Buffer]> = [] // [repo, data] for cleanup
    const track = (r: string, data: Buffer) => { pushed.push([r, data]) }
    const put = (location: string, data: Buffer, body?: Buffer) => client.put(withQuery(location, { digest: digestOf(data, alg) }), {
      headers: body === undefined ? { 'content-length': '0' } : { 'content-type': OCTET },
      ...(body !== undefined ? { body } : {})
    })

    g.test('post-only: POST ?digest= with the blob returns 201 and Location serves it', async () => {
      const data = randomBlob(1000)
      track(repo, data)
      const res = await client.post(paths.uploads(repo), { query: { digest: digestOf(data, alg) }, body: data, headers: { 'content-type': OCTET } })
      await expectBlobCreated(client, res, data, digestOf(data, alg))
    })
    g.test('post+put: POST then PUT ?digest= with the blob returns 201', async () => {
      const data = randomBlob(1001)
      track(repo, data)
      const { location } = await startUpload(client, repo)
      await expectBlobCreated(client, await put(location, data, data), data, digestOf(data, alg))
    })
    g.test('chunked: several PATCH chunks then an empty PUT ?digest= returns 201', async () => {
      let { location, chunk } = await startChunked(client, repo)
      const data = randomBlob(chunk * 3 - 100)
      track(repo, data)
      let offset = 0
      for (const part of split(data, chunk)) {
        location = await patchChunk(client, location, part, offset)
        offset += part.length
      }
      await expectBlobCreated(client, await put(location, data), data, digestOf(data, alg))
    })
    g.test('chunked with the last chunk in the PUT body returns 201', async () => {
      let { location, chunk } = await startChunked(client, repo)
      const data = randomBlob(chunk * 2 - 7)
      track(repo, data)
      location = await patchChunk(client, location, data.subarray(0, chunk), 0)
      await expectBlobCreated(client, await put(location, data, data.subarray(chunk)), data, digestOf(data, alg))
    })
    g.test('stream: one PATCH with a streamed body (no Content-Length/Content-Range), then PUT returns 201', async () => {
      const data = randomBlob(5000)
      track(repo, data)
      const { location } = await startUpload(client, repo)
      const parts = split(data, 1000)
      const body = new ReadableStream<Uint8Array>({
        pull (controller) {
          const next = parts.shift()
          if (next === undefined) controller.close()
          else controller.enqueue(new Uint8Array(next))
        }
      })
      const res = await client.patch(location, { body, headers: { 'content-type': OCTET } })
      expectStatus(res, 202)
      const range = res.header('range')
      if (range !== null) expectEqual(range, `0-${data.length - 1}`, 'Range after the streamed PATCH', res)
      await expectBlobCreated(client, await put(expectLocation(res), data), data, digestOf(data, alg))
    })
    g.test('out-of-order chunk returns 416, GET upload URL returns 204 with Range 0-<last>, upload then completes', async () => {
      let { location, chunk } = await startChunked(client, repo)
      const data = randomBlob(chunk * 3)
      track(repo, data)
      location = await patchChunk(client, location, data.subarray(0, chunk), 0)
      const skipped = await client.patch(location, {
        body: data.subarray(2 * chunk),
        headers: { 'content-type': OCTET, 'content-range': `${2 * chunk}-${3 * chunk - 1}` }
      })
      expectStatus(skipped, 416)
      const status = await client.get(location)
      expectStatus(status, 204)
      expectHeaderEquals(status, 'range', `0-${chunk - 1}`)
      location = await patchChunk(client, expectLocation(status), data.subarray(chunk), chunk)
      await expectBlobCreated(client, await put(location, data), data, digestOf(data, alg))
    })

    const mountable = randomBlob(400)
    const anonymous = randomBlob(401)
    g.test('mount with from returns 201 and Location /v2/<repo2>/blobs/<digest>', async () => {
      const digest = await pushBlob(client, repo, mountable, alg)
      track(repo, mountable)
      track(repo2, mountable)
      const res = await client.post(paths.uploads(repo2), { query: { mount: digest, from: repo } })
      expectStatus(res, 201)
      expectEqual(locationPath(expectLocation(res)), paths.blob(repo2, digest), 'mount Location path', res)
      await expectBlobCreated(client, res, mountable, digest)
    })
    g.test('anonymous mount (no from) of an existing blob returns 201', async () => {
      const digest = await pushBlob(client, repo, anonymous, alg)
      track(repo, anonymous)
      track(repo2, anonymous)
      const res = await client.post(paths.uploads(repo2), { query: { mount: digest } })
      expectStatus(res, 201)
      expectEqual(locationPath(expectLocation(res)), paths.blob(repo2, digest), 'mount Location path', res)
      await expectBlobCreated(client, res, anonymous, digest)
    })
    g.test('mount of a missing blob returns 202 with an upload session', async () => {
      const res = await client.post(paths.uploads(repo2), { query: { mount: unknownDigest(alg), from: repo } })
      expectStatus(res, 202)
      const location = expectLocation(res)
      expect(locationPath(location).startsWith(paths.uploads(repo2)), `Location ${location} is not an upload session of ${repo2}`, res)
      expectStatus(await client.delete(location), 204)
    })
    g.test('cancel: DELETE upload URL returns 204 and the session is gone', async () => {
      let { location } = await startUpload(client, repo)
      location = await patchChunk(client, location, randomBlob(100), 0)
      expectStatus(await client.delete(location), 204)
      const res = await client.get(location)
      expectStatus(res, 404)
      expectErrorBody(res, ['BLOB_UPLOAD_UNKNOWN'])
    })
    g.test('bad digest on POST ?digest= returns 400 DIGEST_INVALID', async () => {
      const data = randomBlob(600)
      const wrong = digestOf(randomBlob(600), alg)
      const res = await client.post(paths.uploads(repo), { query: { digest: wrong }, body: data, headers: { 'content-type': OCTET } })
      expectStatus(res, 400)
      expectErrorBody(res, ['DIGEST_INVALID'])
      expectStatus(await client.head(paths.blob(repo, wrong)), 404)
    })
    g.test('bad digest on PUT ?digest= returns 400 DIGEST_INVALID', async () => {
      const data = randomBlob(601)
      const wrong = digestOf(randomBlob(601), alg)
      const { location } = await startUpload(client, repo)
      const res = await client.put(withQuery(location, { digest: wrong }), { body: data, headers: { 'content-type': OCTET } })
      expectStatus(res, 400)
      expectErrorBody(res, ['DIGEST_INVALID'])
      expectStatus(await client.head(paths.blob(repo, wrong)), 404)
    })
    g.test('HEAD blob returns 200, empty body and Content-Length', async () => {
      const data = randomBlob(3333)
      const digest = await pushBlob(client, repo, data, alg)
      track(repo, data)
      expectHeadOf(await client.head(paths.blob(repo, digest)), data.length, digest)
    })
    g.test('delete blobs pushed by this group', async () => {
      for (const [r, data] of pushed) await deleteBlobTolerant(client, r, digestOf(data, alg))
    })
  })
}

/** Range GETs on a 2048-byte blob. */
export function blobRangeGroup (suite: Suite, ctx: Ctx): void {
  const { client, repo } = ctx
  suite.group('Blob range requests', (g) => {
    const size = 2048
    const data = randomBlob(size)
    const digest = digestOf(data)
    g.test(`push a ${size}-byte blob`, async () => { await pushBlob(client, repo, data) })
    const satisfiable: Array<[string, number, number]> = [
      ['bytes=500-1499', 500, 1499], ['bytes=500-', 500, size - 1], ['bytes=-500', size - 500, size - 1], ['bytes=2000-5000', 2000, size - 1]
    ]
    for (const [range, first, last] of satisfiable) {
      g.test(`Range: ${range} returns 206 with bytes ${first}-${last}/${size}`, async () => {
        const res = await client.get(paths.blob(repo, digest), { headers: { range } })
        expect(res.status !== 200, 'range ignored: got the full blob (200)', res)
        expectStatus(res, 206)
        expectBody(res, data.subarray(first, last + 1), 'partial body')
        expectEqual(res.header('content-length'), String(last - first + 1), 'Content-Length', res)
        const cr = res.header('content-range')
        expect(cr === `bytes ${first}-${last}/${size}` || cr === `bytes ${first}-${last}/*`,
          `Content-Range should be "bytes ${first}-${last}/${size}", got ${JSON.stringify(cr)}`, res)
      })
    }
    for (const range of ['bytes=500-0', 'bytes=5000-10000']) {
      g.test(`Range: ${range} returns 416`, async () => {
        expectStatus(await client.get(paths.blob(repo, digest), { headers: { range } }), 416)
      })
    }
    g.test('delete the range blob', async () => { await deleteBlobTolerant(client, repo, digest) })
  })
}
