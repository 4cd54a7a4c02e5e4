// §2.3 Content Discovery workflow (upstream Ginkgo "Content Discovery" context) with the stricter §2.5 tag checks
// and the §2.6 referrer assertions.
import {
  expect, expectEqual, expectHeaderEquals, expectJsonObject, expectStatus, fail
} from './expect.js'
import type { Suite } from './harness.js'
import { nextLink, type Res } from './http.js'
import {
  configBlob, deleteBlobTolerant, deleteManifestTolerant, descriptor, digestOf, EMPTY_DESCRIPTOR, EMPTY_JSON,
  EMPTY_JSON_DIGEST, imageManifest, indexManifest, listTags, manifestDescriptor, MT, paths, pushBlob, pushManifest,
  putManifest, randomBlob, unknownDigest, ZERO_DIGEST, type Ctx, type Descriptor, type Manifest
} from './oci.js'
import type { Client } from './http.js'

const BAGEL = 'application/vnd.nhl.peanut.butter.bagel'
const CHEESE = 'application/vnd.berth.cream.cheese'
const STAND = 'application/vnd.berth.food.stand'
const ANNOTATION = 'org.opencontainers.conformance.test'
export const TAGS = ['test0', 'test1', 'test2', 'test3', 'TEST0', 'TEST1', 'TEST2', 'TEST3']

/** Validates a referrers response (200, exact Content-Type, image index body) and returns its descriptors. */
export function expectReferrersIndex (res: Res): Descriptor[] {
  expectStatus(res, 200)
  expectHeaderEquals(res, 'content-type', MT.index)
  const body = expectJsonObject(res)
  expectEqual(body.schemaVersion, 2, 'referrers index schemaVersion', res)
  expectEqual(body.mediaType, MT.index, 'referrers index mediaType', res)
  expect(Array.isArray(body.manifests), 'referrers index "manifests" must be an array', res)
  return body.manifests as Descriptor[]
}

/** Referrer manifest with a single identifying annotation. */
function referrer (name: string, subject: Descriptor, o: { config?: Descriptor, artifactType?: string, layers: Descriptor[] }): Manifest {
  return imageManifest({
    config: o.config ?? EMPTY_DESCRIPTOR,
    layers: o.layers,
    subject,
    ...(o.artifactType !== undefined ? { artifactType: o.artifactType } : {}),
    annotations: { [ANNOTATION]: name }
  })
}

async function pushReferrer (client: Client, repo: string, m: Manifest, subject: string): Promise<void> {
  const res = await putManifest(client, repo, m.digest, m)
  expectStatus(res, 201)
  expectHeaderEquals(res, 'oci-subject', subject)
}

function isSorted (tags: string[], key: (t: string) => string): boolean {
  return tags.every((t, i) => i === 0 || key(tags[i - 1] as string) <= key(t))
}

export function discoveryGroup (suite: Suite, ctx: Ctx): void {
  const { client, repo } = ctx
  suite.group('Content Discovery', (g) => {
    const config = configBlob()
    const layer = randomBlob(1200)
    const tagged = imageManifest({ config: descriptor(MT.config, config), layers: [descriptor(MT.layer, layer)] })

    g.test('Populate registry with test blob', async () => { await pushBlob(client, repo, config) })
    g.test('Populate registry with test layer', async () => { await pushBlob(client, repo, layer) })
    g.test(`Populate registry with test tags (${TAGS.join(', ')})`, async () => {
      for (const tag of TAGS) await pushManifest(client, repo, tag, tagged)
    })

    // --- referrers data ---------------------------------------------------------------------------------------------
    const subjectConfig = configBlob()
    const subject = imageManifest({ config: descriptor(MT.config, subjectConfig), layers: [descriptor(MT.layer, layer)] })
    const subjectDesc = manifestDescriptor(subject)
    const refBlobs = { A: randomBlob(64), B: randomBlob(65), C: randomBlob(66) }
    const refLayer = (b: Buffer) => descriptor('application/vnd.berth.test.layer', b)
    const aConfig = referrer('A-config', subjectDesc, { config: { ...EMPTY_DESCRIPTOR, mediaType: BAGEL }, layers: [refLayer(refBlobs.A)] })
    const aLayer = referrer('A-layer', subjectDesc, { artifactType: BAGEL, layers: [refLayer(refBlobs.A)] })
    const aIndex = indexManifest({
      manifests: [manifestDescriptor(aConfig)],
      subject: subjectDesc,
      artifactType: STAND,
      annotations: { [ANNOTATION]: 'A-index' }
    })
    const bConfig = referrer('B-config', subjectDesc, { config: { ...EMPTY_DESCRIPTOR, mediaType: CHEESE }, layers: [refLayer(refBlobs.B)] })
    const bLayer = referrer('B-layer', subjectDesc, { artifactType: CHEESE, layers: [refLayer(refBlobs.B)] })
    const missingSubject = { ...subjectDesc, digest: unknownDigest(), size: 321 }
    const cArtifact = referrer('C', missingSubject, { artifactType: BAGEL, layers: [refLayer(refBlobs.C)] })
    const referrers = [aConfig, aLayer, aIndex, bConfig, bLayer]

    g.test('References setup: push the empty JSON blob and referrer layers', async () => {
      const d = await pushBlob(client, repo, EMPTY_JSON)
      expectEqual(d, EMPTY_JSON_DIGEST, 'digest of {}')
      for (const b of Object.values(refBlobs)) await pushBlob(client, repo, b)
      await pushBlob(client, repo, subjectConfig)
    })
    g.test('References setup: manifests pushed before their subject exists are accepted with OCI-Subject', async () => {
      for (const m of [aConfig, aLayer, aIndex]) await pushReferrer(client, repo, m, subject.digest)
    })
    g.test('References setup: subject manifest', async () => {
      await pushManifest(client, repo, subject.digest, subject)
    })
    g.test('References setup: manifests pushed after their subject exists are accepted with OCI-Subject', async () => {
      for (const m of [bConfig, bLayer]) await pushReferrer(client, repo, m, subject.digest)
    })
    g.test('References setup: manifest whose subject is never pushed is accepted with OCI-Subject', async () => {
      await pushReferrer(client, repo, cArtifact, missingSubject.digest)
    })

    // --- listing tags -----------------------------------------------------------------------------------------------
    let all: string[] = []
    g.test('GET request to list tags should yield 200 response and be in sorted order', async () => {
      const { tags, res } = await listTags(client, repo)
      all = tags
      const ascii = isSorted(tags, (t) => t)
      const folded = isSorted(tags, (t) => t.toLowerCase())
      expect(ascii || folded, `tags are neither in ASCII nor in case-insensitive lexical order: ${tags.join(', ')}`, res)
    })
    g.test('tag list contains every pushed tag', async () => {
      const { tags, res } = await listTags(client, repo)
      const missing = TAGS.filter((t) => !tags.includes(t))
      expect(missing.length === 0, `tags missing from the list: ${missing.join(', ')}`, res)
      expectEqual(new Set(tags).size, tags.length, 'number of distinct tags (no duplicates)', res)
    })
    g.test('GET number of tags should be limitable by n query parameter', async () => {
      expect(all.length >= 2, 'needs the full tag list from the previous checks')
      const n = Math.floor(all.length / 2)
      const { tags, res } = await listTags(client, repo, { n })
      expectEqual(tags.length, n, `number of tags returned for n=${n}`, res)
      expectEqual(tags.join(','), all.slice(0, n).join(','), 'first page equals the start of the full list', res)
    })
    g.test('truncated tag list has Link: <...>; rel="next" and following it returns every tag exactly once', async () => {
      expect(all.length >= 2, 'needs the full tag list from the previous checks')
      const n = Math.max(1, Math.floor(all.length / 3))
      let { tags: seen, res } = await listTags(client, repo, { n })
      let next = nextLink(res)
      expect(next !== null, 'first page is truncated but has no Link rel="next" header', res)
      for (let pages = 0; next !== null && pages < 1000; pages++) {
        res = await client.get(next)
        expectStatus(res, 200)
        const page = (res.json() as { tags?: string[] } | undefined)?.tags ?? []
        expect(page.length <= n, `page has ${page.length} tags, more than n=${n}`, res)
        seen = seen.concat(page)
        next = nextLink(res)
      }
      expectEqual(seen.join(','), all.join(','), 'concatenated pages', res)
    })
    g.test('GET start of tag is set by last query parameter (page after last excludes last)', async () => {
      expect(all.length >= 2, 'needs the full tag list from the previous checks')
      const n = Math.floor(all.length / 2)
      const first = await listTags(client, repo, { n })
      const last = first.tags.at(-1)
      expect(last !== undefined, 'first page is empty', first.res)
      const { tags, res } = await listTags(client, repo, { n, last })
      expect(tags.length <= n, `page after last has ${tags.length} tags, more than n=${n}`, res)
      expect(!tags.includes(last), `page after last=${last} contains ${last}`, res)
    })
    g.test('last=<middle tag> omits every earlier tag and returns every later one', async () => {
      expect(all.length >= 2, 'needs the full tag list from the previous checks')
      const mid = Math.floor(all.length / 2)
      const last = all[mid] as string
      const { tags, res } = await listTags(client, repo, { last })
      expectEqual(tags.join(','), all.slice(mid + 1).join(','), `tags after last=${last}`, res)
    })

    // --- listing referrers ------------------------------------------------------------------------------------------
    g.test('GET request to nonexistent blob should result in empty 200 response', async () => {
      const list = expectReferrersIndex(await client.get(paths.referrers(repo, unknownDigest())))
      expectEqual(list.length, 0, 'number of referrers of an unknown digest')
    })
    g.test('referrers of the all-zeros digest are an empty 200 index', async () => {
      const list = expectReferrersIndex(await client.get(paths.referrers(repo, ZERO_DIGEST)))
      expectEqual(list.length, 0, 'number of referrers of sha256:000…')
    })
    g.test('GET request to existing blob should yield 200 (5 referrers with their annotations)', async () => {
      const res = await client.get(paths.referrers(repo, subject.digest))
      const list = expectReferrersIndex(res)
      expectEqual(list.length, referrers.length, 'number of referrers', res)
      expectEqual(new Set(list.map((d) => d.digest)).size, list.length, 'number of distinct referrer digests', res)
      for (const d of list) {
        const annotations = (d.annotations ?? {}) as Record<string, string>
        expectEqual(Object.keys(annotations).length, 1, `number of annotations on referrer ${d.digest}`, res)
        const m = referrers.find((r) => r.digest === d.digest)
        if (m === undefined) fail(`unexpected referrer ${d.digest}`, res)
        expectEqual(annotations[ANNOTATION], (m.body.annotations as Record<string, string>)[ANNOTATION], `annotation on ${d.digest}`, res)
      }
    })
    g.test('referrer descriptors carry mediaType, size and artifactType (falling back to config.mediaType)', async () => {
      const res = await client.get(paths.referrers(repo, subject.digest))
      const list = expectReferrersIndex(res)
      const expected: Array<[Manifest, string]> = [[aConfig, BAGEL], [aLayer, BAGEL], [aIndex, STAND], [bConfig, CHEESE], [bLayer, CHEESE]]
      for (const [m, artifactType] of expected) {
        const d = list.find((x) => x.digest === m.digest)
        if (d === undefined) fail(`referrer ${m.digest} missing`, res)
        expectEqual(d.mediaType, m.mediaType, `mediaType of ${m.digest}`, res)
        expectEqual(d.size, m.bytes.length, `size of ${m.digest}`, res)
        expectEqual(d.artifactType, artifactType, `artifactType of ${m.digest}`, res)
      }
    })
    g.test('GET request to existing blob with filter should yield 200 (OCI-Filters-Applied: artifactType)', async () => {
      const res = await client.get(paths.referrers(repo, subject.digest), { query: { artifactType: BAGEL } })
      const list = expectReferrersIndex(res)
      expectHeaderEquals(res, 'oci-filters-applied', 'artifactType')
      expectEqual(list.map((d) => d.digest).sort().join(','), [aConfig.digest, aLayer.digest].sort().join(','), 'filtered referrers', res)
    })
    g.test('GET request to missing manifest should yield 200 (referrers of a subject never pushed)', async () => {
      const res = await client.get(paths.referrers(repo, missingSubject.digest))
      const list = expectReferrersIndex(res)
      expectEqual(list.length, 1, 'number of referrers', res)
      expectEqual(list[0]?.digest, cArtifact.digest, 'referrer digest', res)
    })

    // --- teardown ---------------------------------------------------------------------------------------------------
    g.test('Delete created manifest & associated tags', async () => {
      await deleteManifestTolerant(client, repo, tagged.digest)
    })
    g.test('References teardown', async () => {
      for (const m of [aIndex, aConfig, aLayer, bConfig, bLayer, cArtifact, subject]) await deleteManifestTolerant(client, repo, m.digest)
    })
    g.test('Delete config and layer blobs created in tests', async () => {
      for (const b of [config, layer, subjectConfig, ...Object.values(refBlobs)]) await deleteBlobTolerant(client, repo, digestOf(b))
    })
  })
}
