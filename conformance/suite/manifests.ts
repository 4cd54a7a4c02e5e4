// §2.6 manifest assertions of the redesigned upstream suite: one check per data set, HEAD/GET headers, bad digests,
// large manifests and the ?tag= parameter.
import {
  expect, expectBody, expectDigestHeaderIfPresent, expectEqual, expectErrorBody, expectHeadOf, expectHeaderEquals,
  expectLocation, expectStatus
} from './expect.js'
import type { Suite } from './harness.js'
import type { Client } from './http.js'
import {
  configBlob, deleteBlobTolerant, deleteManifestTolerant, descriptor, digestOf, EMPTY_DESCRIPTOR, EMPTY_JSON,
  getManifest, headManifest, imageManifest, indexManifest, manifestDescriptor, MT, pushBlob,
  putManifest, randomBlob, unknownDigest, type Ctx, type Descriptor, type Manifest
} from './oci.js'

/**
 * PUT a manifest, require 201 + Location, GET the Location back byte-for-byte with Content-Type = its media type.
 * With `subject`, the PUT must answer `OCI-Subject: <subject>`.
 */
async function putAndVerify (client: Client, repo: string, ref: string, m: Manifest, subject?: string): Promise<void> {
  const res = await putManifest(client, repo, ref, m)
  expectStatus(res, 201)
  expectDigestHeaderIfPresent(res, m.digest)
  if (subject !== undefined) expectHeaderEquals(res, 'oci-subject', subject)
  const location = expectLocation(res)
  const got = await client.get(location, { headers: { accept: m.mediaType } })
  expectStatus(got, 200)
  expectBody(got, m.bytes, 'manifest served at Location')
  expectHeaderEquals(got, 'content-type', m.mediaType)
  expectDigestHeaderIfPresent(got, m.digest)
}

export function manifestGroup (suite: Suite, ctx: Ctx): void {
  const { client, repo, run } = ctx
  suite.group('Manifests', (g) => {
    const pushed: Manifest[] = []
    const config = configBlob()
    const layers = [randomBlob(700), randomBlob(701)] as const
    const tarLayer = randomBlob(702)
    const foreignLayer = randomBlob(703)
    const artifactBlob = randomBlob(704)
    const blobs = [config, ...layers, tarLayer, foreignLayer, artifactBlob]
    const configDesc = descriptor(MT.config, config)
    const layerDescs = layers.map((l) => descriptor(MT.layer, l))
    const image = (extra: Partial<Parameters<typeof imageManifest>[0]> = {}): Manifest =>
      imageManifest({ config: configDesc, layers: layerDescs, annotations: { 'org.example.berth.nonce': run + Math.random() }, ...extra })
    const verify = async (ref: string | undefined, m: Manifest, subject?: string): Promise<void> => {
      pushed.push(m)
      await putAndVerify(client, repo, ref ?? m.digest, m, subject)
    }

    g.test('push the blobs the manifests reference', async () => {
      for (const b of blobs) await pushBlob(client, repo, b)
      await pushBlob(client, repo, EMPTY_JSON)
    })

    // --- image, HEAD/GET headers ------------------------------------------------------------------------------------
    const img = image()
    g.test('image: PUT by tag returns 201, Location serves identical bytes with Content-Type = media type', async () => {
      await verify('image', img)
    })
    g.test('HEAD manifest returns 200, empty body, Content-Length and Content-Type = media type', async () => {
      for (const ref of ['image', img.digest]) {
        const res = await headManifest(client, repo, ref)
        expectHeadOf(res, img.bytes.length, img.digest)
        expectHeaderEquals(res, 'content-type', img.mediaType)
      }
    })
    g.test('GET manifest by tag and by digest returns identical bytes, Content-Type and Docker-Content-Digest', async () => {
      for (const ref of ['image', img.digest]) {
        const res = await getManifest(client, repo, ref)
        expectStatus(res, 200)
        expectBody(res, img.bytes)
        expectHeaderEquals(res, 'content-type', img.mediaType)
        expectHeaderEquals(res, 'docker-content-digest', img.digest)
      }
    })
    g.test('image with an uncompressed layer', async () => {
      await verify(undefined, image({ layers: [descriptor(MT.layerTar, tarLayer)] }))
    })

    // --- indexes ----------------------------------------------------------------------------------------------------
    const img2 = image()
    const index = indexManifest({
      manifests: [
        manifestDescriptor(img, { platform: { architecture: 'amd64', os: 'linux' } }),
        manifestDescriptor(img2, { platform: { architecture: 'arm64', os: 'linux' } })
      ]
    })
    g.test('index referencing two images', async () => {
      await verify(undefined, img2)
      await verify('index', index)
    })
    g.test('nested index (an index of an index)', async () => {
      await verify(undefined, indexManifest({ manifests: [manifestDescriptor(index), manifestDescriptor(img)] }))
    })
    g.test('empty index (no manifests)', async () => {
      await verify(undefined, indexManifest({ manifests: [], annotations: { 'org.example.berth.nonce': run + Math.random() } }))
    })

    // --- artifacts and subjects -------------------------------------------------------------------------------------
    const artifactType = 'application/vnd.berth.test.artifact'
    const artifactLayer = descriptor('application/vnd.berth.test.payload', artifactBlob)
    const artifact = imageManifest({
      artifactType,
      config: { ...configDesc, mediaType: 'application/vnd.berth.test.config+json' },
      layers: [artifactLayer]
    })
    g.test('artifact with custom config mediaType and artifactType', async () => {
      await verify(undefined, artifact)
    })
    g.test('artifact without layers (empty config, empty descriptor as the only layer)', async () => {
      await verify(undefined, imageManifest({ artifactType, config: EMPTY_DESCRIPTOR, layers: [EMPTY_DESCRIPTOR], annotations: { nonce: run + Math.random() } }))
    })
    g.test('artifact index (index with artifactType)', async () => {
      await verify(undefined, indexManifest({ artifactType, manifests: [manifestDescriptor(artifact)] }))
    })
    g.test('artifacts with subject return OCI-Subject', async () => {
      for (const at of [artifactType, 'application/vnd.berth.test.signature']) {
        await verify(undefined, imageManifest({ artifactType: at, config: EMPTY_DESCRIPTOR, layers: [artifactLayer], subject: manifestDescriptor(img) }), img.digest)
      }
    })
    g.test('index with subject returns OCI-Subject', async () => {
      await verify(undefined, indexManifest({ artifactType, manifests: [manifestDescriptor(artifact)], subject: manifestDescriptor(img) }), img.digest)
    })
    g.test('missing subject: accepted with OCI-Subject', async () => {
      const subject: Descriptor = { mediaType: MT.manifest, digest: unknownDigest(), size: 1234 }
      await verify(undefined, imageManifest({ artifactType, config: EMPTY_DESCRIPTOR, layers: [artifactLayer], subject }), subject.digest)
    })

    // --- unusual but valid content ----------------------------------------------------------------------------------
    g.test('descriptor data field', async () => {
      await verify(undefined, image({ config: { ...configDesc, data: config.toString('base64') } }))
    })
    g.test('custom/unknown fields (top level and in descriptors)', async () => {
      await verify(undefined, image({
        layers: layerDescs.map((d) => ({ ...d, 'org.example.unknown': { nested: [1, 2, 3] } })),
        extra: { 'org.example.custom': 'value', newUnspecifiedField: null }
      }))
    })
    g.test('no layers and no top-level mediaType', async () => {
      await verify(undefined, image({ layers: [], omitMediaType: true }))
    })
    g.test('non-distributable layer', async () => {
      await verify(undefined, image({
        layers: [descriptor(MT.layerNonDistributable, foreignLayer, { urls: ['https://example.invalid/layer.tar.gz'] })]
      }))
    })
    g.test('large manifest (390 annotations x 10 000 bytes, ~4 MiB) is accepted', async () => {
      const annotations: Record<string, string> = {}
      for (let i = 0; i < 390; i++) annotations[`org.example.large.${i}`] = randomBlob(5000).toString('hex')
      const large = image({ annotations })
      expect(large.bytes.length > 3_900_000, `large manifest is only ${large.bytes.length} bytes`)
      await verify(undefined, large)
    })
    g.test('?tag= with several tags returns 201 and OCI-Tag naming them', async () => {
      const m = image()
      pushed.push(m)
      const tags = [`multi-a-${run}`, `multi-b-${run}`]
      const res = await putManifest(client, repo, m.digest, m, { tag: tags })
      expectStatus(res, 201)
      const header = res.header('oci-tag')
      expect(header !== null, 'missing OCI-Tag header', res)
      const named = header.split(',').map((t) => t.trim())
      expect(tags.every((t) => named.includes(t)), `OCI-Tag should name ${tags.join(', ')}, got ${header}`, res)
      for (const t of tags) {
        const got = await getManifest(client, repo, t)
        expectStatus(got, 200)
        expectBody(got, m.bytes)
      }
    })

    // --- invalid digests --------------------------------------------------------------------------------------------
    g.test('PUT by digest with a body that does not match returns 400', async () => {
      const m = image()
      const res = await putManifest(client, repo, unknownDigest(), m)
      expectStatus(res, 400)
      expectErrorBody(res, ['DIGEST_INVALID', 'MANIFEST_INVALID'])
      expectStatus(await headManifest(client, repo, m.digest), 404)
    })
    g.test('PUT /manifests/sha256:baddigeststring returns 400', async () => {
      const res = await putManifest(client, repo, 'sha256:baddigeststring', image())
      expectStatus(res, 400)
      expectErrorBody(res, ['DIGEST_INVALID', 'MANIFEST_INVALID'])
    })
    g.test('GET /manifests/sha256:baddigeststring returns 404 or 400', async () => {
      const res = await getManifest(client, repo, 'sha256:baddigeststring')
      expectStatus(res, 404, 400)
      expectErrorBody(res)
    })

    // --- teardown ---------------------------------------------------------------------------------------------------
    g.test('delete manifests and blobs pushed by this group', async () => {
      for (const m of [...pushed].reverse()) await deleteManifestTolerant(client, repo, m.digest)
      for (const b of blobs) await deleteBlobTolerant(client, repo, digestOf(b))
    })
  })
}
