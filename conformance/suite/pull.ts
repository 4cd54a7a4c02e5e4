// §2.1 Pull workflow (upstream Ginkgo "Pull" context), check names as upstream spells them.
import { expectBody, expectDigestHeaderIfPresent, expectErrorBody, expectStatus } from './expect.js'
import type { Suite } from './harness.js'
import {
  configBlob, deleteBlobTolerant, deleteManifestTolerant, descriptor, getManifest, headManifest, imageManifest, MT,
  paths, pushBlob, pushManifest, randomBlob, unknownDigest, type Ctx, type Manifest
} from './oci.js'

const INVALID_TAG = '.INVALID_MANIFEST_NAME'

/** Image with the descriptor quirks the upstream data uses: a `data` field and an unknown extra field. */
function pullImage (config: Buffer, layer: Buffer): Manifest {
  return imageManifest({
    config: descriptor(MT.config, config, { data: config.toString('base64') }),
    layers: [descriptor(MT.layer, layer, { newUnspecifiedField: 'null' })]
  })
}

export function pullGroup (suite: Suite, ctx: Ctx): void {
  const { client, repo } = ctx
  suite.group('Pull', (g) => {
    const configs = [configBlob(), configBlob()] as const
    const layer = randomBlob(1536)
    const manifests = [pullImage(configs[0], layer), pullImage(configs[1], layer)] as const
    const tag = 'tagtest0'

    // setup
    g.test('Populate registry with test blob (config[0])', async () => { await pushBlob(client, repo, configs[0]) })
    g.test('Populate registry with test blob (config[1])', async () => { await pushBlob(client, repo, configs[1]) })
    g.test('Populate registry with test layer', async () => { await pushBlob(client, repo, layer) })
    g.test('Populate registry with test manifest (manifest[0] by tag)', async () => {
      await pushManifest(client, repo, tag, manifests[0])
    })
    g.test('Populate registry with test manifest (manifest[1] by digest)', async () => {
      await pushManifest(client, repo, manifests[1].digest, manifests[1])
    })

    // pull blobs
    g.test('HEAD request to nonexistent blob should result in 404 response', async () => {
      expectStatus(await client.head(paths.blob(repo, unknownDigest())), 404)
    })
    g.test('HEAD request to existing blob should yield 200', async () => {
      const digest = descriptor(MT.config, configs[0]).digest
      const res = await client.head(paths.blob(repo, digest))
      expectStatus(res, 200)
      expectDigestHeaderIfPresent(res, digest)
    })
    g.test('GET nonexistent blob should result in 404 response', async () => {
      expectStatus(await client.get(paths.blob(repo, unknownDigest())), 404)
    })
    g.test('GET request to existing blob URL should yield 200', async () => {
      const res = await client.get(paths.blob(repo, descriptor(MT.config, configs[0]).digest))
      expectStatus(res, 200)
      expectBody(res, configs[0])
    })

    // pull manifests
    g.test(`HEAD request to nonexistent manifest should return 404 (${INVALID_TAG})`, async () => {
      expectStatus(await headManifest(client, repo, INVALID_TAG), 404)
    })
    for (const i of [0, 1] as const) {
      g.test(`HEAD request to manifest[${i}] path (digest) should yield 200 response`, async () => {
        const res = await headManifest(client, repo, manifests[i].digest)
        expectStatus(res, 200)
        expectDigestHeaderIfPresent(res, manifests[i].digest)
      })
    }
    g.test('HEAD request to manifest path (tag) should yield 200 response', async () => {
      const res = await headManifest(client, repo, tag)
      expectStatus(res, 200)
      expectDigestHeaderIfPresent(res, manifests[0].digest)
    })
    g.test(`GET nonexistent manifest should return 404 (${INVALID_TAG})`, async () => {
      expectStatus(await getManifest(client, repo, INVALID_TAG), 404)
    })
    for (const i of [0, 1] as const) {
      g.test(`GET request to manifest[${i}] path (digest) should yield 200 response`, async () => {
        const res = await getManifest(client, repo, manifests[i].digest)
        expectStatus(res, 200)
        expectBody(res, manifests[i].bytes)
      })
    }
    g.test('GET request to manifest path (tag) should yield 200 response', async () => {
      const res = await getManifest(client, repo, tag)
      expectStatus(res, 200)
      expectBody(res, manifests[0].bytes)
      expectDigestHeaderIfPresent(res, manifests[0].digest)
    })

    // error codes
    g.test('400 response body should contain OCI-conforming JSON message (GET manifests/sha256:totallywrong)', async () => {
      const res = await getManifest(client, repo, 'sha256:totallywrong')
      expectStatus(res, 400, 404)
      if (res.status === 400) expectErrorBody(res, ['DIGEST_INVALID'])
    })

    // teardown (manifests before blobs)
    for (const i of [0, 1] as const) {
      g.test(`Delete manifest[${i}] created in setup`, async () => {
        await deleteManifestTolerant(client, repo, manifests[i].digest)
      })
    }
    for (const i of [0, 1] as const) {
      g.test(`Delete config[${i}] blob created in setup`, async () => {
        await deleteBlobTolerant(client, repo, descriptor(MT.config, configs[i]).digest)
      })
    }
    g.test('Delete layer blob created in setup', async () => {
      await deleteBlobTolerant(client, repo, descriptor(MT.layer, layer).digest)
    })
  })
}
