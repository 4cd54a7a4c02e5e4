// §2.2 Push workflow (upstream Ginkgo "Push" context), check names as upstream spells them.
import {
  expect, expectBody, expectEqual, expectHeaderEquals, expectLocation, expectStatus, locationPath
} from './expect.js'
import { need, skip, type Suite } from './harness.js'
import {
  configBlob, deleteBlobTolerant, deleteManifestTolerant, descriptor, digestOf, getManifest, imageManifest, MT, paths,
  pushBlob, pushManifest, randomBlob, startUpload, unknownDigest, withQuery, type Ctx
} from './oci.js'

const OCTET = 'application/octet-stream'

export function pushGroup (suite: Suite, ctx: Ctx): void {
  const { client, repo, repo2 } = ctx
  suite.group('Push', (g) => {
    // --- Blob Upload Streamed ---------------------------------------------------------------------------------------
    const streamed = randomBlob(777)
    let streamedLocation: string | undefined
    g.test('PATCH request with blob in body should yield 202 response', async () => {
      const { location } = await startUpload(client, repo)
      const res = await client.patch(location, { body: streamed, headers: { 'content-type': OCTET } })
      expectStatus(res, 202)
      streamedLocation = expectLocation(res)
    })
    g.test('PUT request to session URL with digest should yield 201 response', async () => {
      const location = need(streamedLocation, 'Location of the streamed PATCH')
      const res = await client.put(withQuery(location, { digest: digestOf(streamed) }), { headers: { 'content-length': '0' } })
      expectStatus(res, 201)
      const blob = await client.get(expectLocation(res))
      expectStatus(blob, 200)
      expectBody(blob, streamed)
    })

    // --- Blob Upload Monolithic -------------------------------------------------------------------------------------
    const postBlob = randomBlob(512)
    let postStatus: number | undefined
    let postLocation: string | undefined
    const config = configBlob()
    const layer = randomBlob(2048)
    g.test('GET nonexistent blob should result in 404 response', async () => {
      expectStatus(await client.get(paths.blob(repo, unknownDigest())), 404)
    })
    g.test('POST request with digest and blob should yield a 201 or 202', async () => {
      const res = await client.post(paths.uploads(repo), {
        query: { digest: digestOf(postBlob) },
        body: postBlob,
        headers: { 'content-type': OCTET }
      })
      expectStatus(res, 201, 202)
      postLocation = expectLocation(res)
      postStatus = res.status
    })
    g.test('GET request to blob URL from prior request should yield 200 or 404 based on response code', async () => {
      const status = need(postStatus, 'status of the monolithic POST')
      const res = await client.get(paths.blob(repo, digestOf(postBlob)))
      if (status === 201) {
        expectStatus(res, 200)
        expectBody(res, postBlob)
      } else {
        expectStatus(res, 404)
      }
      need(postLocation, 'Location of the monolithic POST')
    })
    let sessionLocation: string | undefined
    g.test('POST request should yield a session ID', async () => {
      sessionLocation = (await startUpload(client, repo)).location
    })
    g.test('PUT upload of a blob should yield a 201 Response', async () => {
      const location = need(sessionLocation, 'upload session from the previous POST')
      const res = await client.put(withQuery(location, { digest: digestOf(config) }), {
        body: config,
        headers: { 'content-type': OCTET }
      })
      expectStatus(res, 201)
      expectLocation(res)
    })
    g.test('GET request to existing blob should yield 200 response', async () => {
      const res = await client.get(paths.blob(repo, digestOf(config)))
      expectStatus(res, 200)
      expectBody(res, config)
    })
    g.test('PUT upload of a layer blob should yield a 201 Response', async () => {
      await pushBlob(client, repo, layer)
    })
    g.test('GET request to existing layer should yield 200 response', async () => {
      const res = await client.get(paths.blob(repo, digestOf(layer)))
      expectStatus(res, 200)
      expectBody(res, layer)
    })

    // --- Blob Upload Chunked ----------------------------------------------------------------------------------------
    // 42-byte blob in two chunks (0-21, 22-41) unless the registry asks for bigger chunks (OCI-Chunk-Min-Length).
    let chunked = randomBlob(42)
    let split = 22
    const range = (from: number, to: number) => `${from}-${to}`
    const chunk1 = () => chunked.subarray(0, split)
    const chunk2 = () => chunked.subarray(split)
    let firstLocation: string | undefined // the POST's Location: must stay valid for the whole session
    let nextLocation: string | undefined
    g.test('Out-of-order blob upload should return 416', async () => {
      const { location, res: post } = await startUpload(client, repo)
      const min = Number(post.header('oci-chunk-min-length') ?? '0')
      if (min > split) {
        split = min
        chunked = randomBlob(min + 20) // the last chunk may be shorter than the minimum
      }
      const res = await client.patch(location, {
        body: chunk2(),
        headers: { 'content-type': OCTET, 'content-range': range(split, chunked.length - 1) }
      })
      expectStatus(res, 416)
    })
    g.test('PATCH request with first chunk should return 202', async () => {
      firstLocation = (await startUpload(client, repo)).location
      const res = await client.patch(firstLocation, {
        body: chunk1(),
        headers: { 'content-type': OCTET, 'content-range': range(0, split - 1) }
      })
      expectStatus(res, 202)
      expectLocation(res)
      expectHeaderEquals(res, 'range', range(0, split - 1))
    })
    g.test('Retry previous blob chunk should return 416', async () => {
      const location = need(firstLocation, 'upload session of the first chunk')
      const res = await client.patch(location, {
        body: chunk1(),
        headers: { 'content-type': OCTET, 'content-range': range(0, split - 1) }
      })
      expectStatus(res, 416)
    })
    g.test('Get on stale blob upload should return 204 with a range and location', async () => {
      const location = need(firstLocation, 'upload session of the first chunk')
      const res = await client.get(location)
      expectStatus(res, 204)
      nextLocation = expectLocation(res)
      expectHeaderEquals(res, 'range', range(0, split - 1))
    })
    g.test('PATCH request with second chunk should return 202', async () => {
      const location = need(nextLocation, 'Location from the upload status GET')
      const res = await client.patch(location, {
        body: chunk2(),
        headers: { 'content-type': OCTET, 'content-range': range(split, chunked.length - 1) }
      })
      expectStatus(res, 202)
      nextLocation = expectLocation(res)
      expectHeaderEquals(res, 'range', range(0, chunked.length - 1))
    })
    g.test('PUT request with digest should return 201', async () => {
      const location = need(nextLocation, 'Location after the second chunk')
      const res = await client.put(withQuery(location, { digest: digestOf(chunked) }), { headers: { 'content-length': '0' } })
      expectStatus(res, 201)
      const blob = await client.get(expectLocation(res))
      expectStatus(blob, 200)
      expectBody(blob, chunked)
    })

    // --- Cross-Repository Blob Mount --------------------------------------------------------------------------------
    const mountable = randomBlob(300)
    const autoMountable = randomBlob(301)
    let mountStatus: number | undefined
    let mountLocation: string | undefined
    g.test('Populate registry with blobs to mount', async () => {
      await pushBlob(client, repo, mountable)
      await pushBlob(client, repo, autoMountable)
    })
    g.test('Cross-mounting of a blob without the from argument should yield session id', async () => {
      const res = await client.post(paths.uploads(repo2), { query: { mount: unknownDigest() } })
      expectStatus(res, 202)
      expectLocation(res)
    })
    g.test('POST request to mount another repository\'s blob should return 201 or 202', async () => {
      const res = await client.post(paths.uploads(repo2), { query: { mount: digestOf(mountable), from: repo } })
      expectStatus(res, 201, 202)
      mountLocation = expectLocation(res)
      mountStatus = res.status
    })
    g.test('GET request to test digest within cross-mount namespace should return 200', async () => {
      const status = need(mountStatus, 'status of the mount POST')
      if (status !== 201) skip('the mount POST answered 202; see the next check')
      const location = need(mountLocation, 'Location of the mount POST')
      const digest = digestOf(mountable)
      expectEqual(locationPath(location), paths.blob(repo2, digest), 'mount Location path')
      const res = await client.get(location)
      expectStatus(res, 200)
      expectBody(res, mountable)
    })
    g.test('Cross-mounting of nonexistent blob should yield session id', async () => {
      const status = need(mountStatus, 'status of the mount POST')
      if (status !== 202) skip('the mount POST answered 201; checked by the previous check')
      const location = need(mountLocation, 'Location of the mount POST')
      expect(locationPath(location).startsWith(paths.uploads(repo2)), `Location ${location} is not an upload session of ${repo2}`)
    })
    g.test('Cross-mounting without from, and automatic content discovery enabled should return a 201', async () => {
      const digest = digestOf(autoMountable)
      const res = await client.post(paths.uploads(repo2), { query: { mount: digest } })
      expectStatus(res, 201)
      expectEqual(locationPath(expectLocation(res)), paths.blob(repo2, digest), 'mount Location path', res)
    })

    // --- Manifest Upload --------------------------------------------------------------------------------------------
    const manifest = imageManifest({ config: descriptor(MT.config, config), layers: [descriptor(MT.layer, layer)] })
    const emptyLayer = imageManifest({ config: descriptor(MT.config, config), layers: [], omitMediaType: true })
    g.test('GET nonexistent manifest should return 404', async () => {
      expectStatus(await getManifest(client, repo, unknownDigest()), 404)
    })
    g.test('PUT should accept a manifest upload (tags test0..test3)', async () => {
      for (const tag of ['test0', 'test1', 'test2', 'test3']) await pushManifest(client, repo, tag, manifest)
    })
    g.test('Registry should accept a manifest upload with no layers', async () => {
      await pushManifest(client, repo, 'emptylayer', emptyLayer)
    })
    g.test('GET request to manifest URL (digest) should yield 200 response', async () => {
      const res = await getManifest(client, repo, manifest.digest)
      expectStatus(res, 200)
      expectBody(res, manifest.bytes)
    })

    // --- Teardown ---------------------------------------------------------------------------------------------------
    g.test('Delete manifest created in tests', async () => {
      await deleteManifestTolerant(client, repo, manifest.digest)
      await deleteManifestTolerant(client, repo, emptyLayer.digest)
    })
    g.test('Delete config blob created in tests', async () => {
      await deleteBlobTolerant(client, repo, digestOf(config))
    })
    g.test('Delete layer blob created in setup', async () => {
      await deleteBlobTolerant(client, repo, digestOf(layer))
    })
    g.test('Delete other blobs created in tests', async () => {
      for (const b of [streamed, postBlob, chunked, mountable, autoMountable]) await deleteBlobTolerant(client, repo, digestOf(b))
      for (const b of [mountable, autoMountable]) await deleteBlobTolerant(client, repo2, digestOf(b))
    })
  })
}
