// §2.4 Content Management workflow (upstream Ginkgo "Content Management" context). Berth supports deletion, so the
// strict outcomes are required: tag DELETE 202 removes only the tag, manifest DELETE 202 removes the manifest and
// its tags, blob DELETE 202 then 404.
import { expect, expectBody, expectEqual, expectErrorBody, expectStatus } from './expect.js'
import { need, type Suite } from './harness.js'
import {
  configBlob, descriptor, digestOf, getManifest, headManifest, imageManifest, listTags, MT, paths, pushBlob,
  pushManifest, randomBlob, type Ctx
} from './oci.js'

export function managementGroup (suite: Suite, ctx: Ctx): void {
  const { client, repo } = ctx
  suite.group('Content Management', (g) => {
    const config = configBlob()
    const layer = randomBlob(999)
    const manifest = imageManifest({ config: descriptor(MT.config, config), layers: [descriptor(MT.layer, layer)] })
    const [deletedTag, keptTag] = ['tagtest0', 'tagtest1'] as const
    let before: number | undefined

    g.test('Populate registry with test config blob', async () => { await pushBlob(client, repo, config) })
    g.test('Populate registry with test layer', async () => { await pushBlob(client, repo, layer) })
    g.test(`Populate registry with test tags (${deletedTag}, ${keptTag})`, async () => {
      await pushManifest(client, repo, deletedTag, manifest)
      await pushManifest(client, repo, keptTag, manifest)
    })
    g.test('Check how many tags there are before anything gets deleted', async () => {
      const { tags, res } = await listTags(client, repo)
      expect(tags.includes(deletedTag) && tags.includes(keptTag), `tag list lacks ${deletedTag}/${keptTag}`, res)
      before = tags.length
    })

    g.test('DELETE request to manifest tag should return 202', async () => {
      expectStatus(await client.delete(paths.manifest(repo, deletedTag)), 202)
    })
    g.test('deleting a tag removes only the tag (manifest and its other tags remain)', async () => {
      const gone = await getManifest(client, repo, deletedTag)
      expectStatus(gone, 404)
      expectErrorBody(gone, ['MANIFEST_UNKNOWN'])
      const byDigest = await getManifest(client, repo, manifest.digest)
      expectStatus(byDigest, 200)
      expectBody(byDigest, manifest.bytes)
      expectStatus(await getManifest(client, repo, keptTag), 200)
      const { tags, res } = await listTags(client, repo)
      expect(!tags.includes(deletedTag), `tag list still contains ${deletedTag}`, res)
      expect(tags.includes(keptTag), `tag list lost ${keptTag}`, res)
    })
    g.test('DELETE request to manifest (digest) should yield 202 response', async () => {
      expectStatus(await client.delete(paths.manifest(repo, manifest.digest)), 202)
    })
    g.test('GET request to deleted manifest URL should yield 404 response', async () => {
      const res = await getManifest(client, repo, manifest.digest)
      expectStatus(res, 404)
      expectErrorBody(res, ['MANIFEST_UNKNOWN'])
      expectStatus(await headManifest(client, repo, manifest.digest), 404)
    })
    g.test('deleting a manifest by digest removes its tags', async () => {
      expectStatus(await getManifest(client, repo, keptTag), 404)
    })
    g.test('GET request to tags list should reflect manifest deletion', async () => {
      const expected = need(before, 'tag count before deletion') - 2
      const res = await client.get(paths.tags(repo))
      if (expected === 0 && res.status === 404) return
      const { tags } = await listTags(client, repo)
      expectEqual(tags.length, expected, 'number of tags after deleting one tag and then the manifest', res)
      expect(!tags.includes(keptTag), `tag list still contains ${keptTag}`, res)
    })
    g.test('DELETE request to blob URL should yield 202 response', async () => {
      for (const b of [config, layer]) expectStatus(await client.delete(paths.blob(repo, digestOf(b))), 202)
    })
    g.test('GET request to deleted blob URL should yield 404 response', async () => {
      for (const b of [config, layer]) {
        const res = await client.get(paths.blob(repo, digestOf(b)))
        expectStatus(res, 404)
        expectErrorBody(res, ['BLOB_UNKNOWN'])
        expectStatus(await client.head(paths.blob(repo, digestOf(b))), 404)
      }
    })
  })
}
