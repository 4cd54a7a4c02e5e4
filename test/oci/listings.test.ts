// Listings: tags (end-8), the catalog, and referrers (end-12).
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import {
  MT, ZERO_DIGEST, descriptor, expectError, header, nextLink, pushBlob, pushImage, pushImageBlobs,
  pushManifest, sha256, type Res
} from './helpers.js'

async function getJson (app: FastifyInstance, url: string): Promise<{ res: Res, body: any }> {
  const res = await app.inject({ method: 'GET', url })
  return { res, body: res.statusCode === 200 ? JSON.parse(res.body) : undefined }
}

/** Tags all pointing at one manifest (pushing the image once, then retagging by PUT). */
async function pushTags (app: FastifyInstance, name: string, tags: string[]): Promise<void> {
  const image = await pushImageBlobs(app, name, 'shared')
  for (const tag of tags) await pushManifest(app, name, tag, image.manifest, MT.ociManifest)
}

/** Follows Link headers from `url`, returning every page's items and every page URL requested. */
async function allPages (t: Test, app: FastifyInstance, url: string, key: 'tags' | 'repositories' | 'manifests', maxPages = 100): Promise<{ items: unknown[], urls: string[] }> {
  const items: unknown[] = []
  const urls: string[] = []
  let next: string | undefined = url
  while (next !== undefined) {
    if (urls.length >= maxPages) throw new Error('too many pages')
    urls.push(next)
    const res: Res = await app.inject({ method: 'GET', url: next })
    t.equal(res.statusCode, 200, `page ${next}`)
    items.push(...(JSON.parse(res.body)[key] as unknown[]))
    next = nextLink(res)
  }
  return { items, urls }
}

const ASCII = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

// ---------------------------------------------------------------------------------------------------------
// tags/list

t.test('tags/list returns every tag in ASCII order (uppercase first)', async t => {
  const { app } = await buildTestApp(t)
  const tags = ['test0', 'test1', 'test2', 'test3', 'TEST0', 'TEST1', 'TEST2', 'TEST3', 'latest', '_under', 'a.b', 'a-b', 'a_b', '9']
  await pushTags(app, 'tl/repo', tags)
  const { res, body } = await getJson(app, '/v2/tl/repo/tags/list')
  t.equal(res.statusCode, 200)
  t.match(header(res, 'content-type'), /^application\/json/)
  t.equal(header(res, 'link'), undefined, 'a complete page has no Link')
  t.same(body, { name: 'tl/repo', tags: [...tags].sort(ASCII) })
  t.same(body.tags.slice(0, 5), ['9', 'TEST0', 'TEST1', 'TEST2', 'TEST3'])
})

t.test('tags/list: n limits the page and sets Link; following Link returns every tag exactly once', async t => {
  const { app } = await buildTestApp(t)
  const tags = ['test0', 'test1', 'test2', 'test3', 'TEST0', 'TEST1', 'TEST2', 'TEST3', 'v1']
  await pushTags(app, 'paged', tags)
  const sorted = [...tags].sort(ASCII)

  const { res, body } = await getJson(app, '/v2/paged/tags/list?n=2')
  t.equal(res.statusCode, 200)
  t.same(body.tags, sorted.slice(0, 2))
  t.equal(header(res, 'link'), `</v2/paged/tags/list?n=2&last=${sorted[1]}>; rel="next"`)

  const { items, urls } = await allPages(t, app, '/v2/paged/tags/list?n=2', 'tags')
  t.same(items, sorted, 'every tag once, in order')
  t.equal(urls.length, 5, 'ceil(9 / 2) pages')

  const exact = await getJson(app, `/v2/paged/tags/list?n=${tags.length}`)
  t.same(exact.body.tags, sorted)
  t.equal(header(exact.res, 'link'), undefined, 'no Link when nothing follows')
})

t.test('tags/list: last excludes itself; n=0 is empty; last past the end is empty', async t => {
  const { app } = await buildTestApp(t)
  const tags = ['test0', 'test1', 'test2', 'test3', 'TEST0', 'TEST1', 'TEST2', 'TEST3']
  await pushTags(app, 'last', tags)
  const sorted = [...tags].sort(ASCII)

  const after = await getJson(app, '/v2/last/tags/list?last=TEST3')
  t.same(after.body.tags, ['test0', 'test1', 'test2', 'test3'])
  t.notOk(after.body.tags.includes('TEST3'), 'last itself is excluded')

  const paged = await getJson(app, '/v2/last/tags/list?n=2&last=test0')
  t.same(paged.body.tags, ['test1', 'test2'])
  t.equal(header(paged.res, 'link'), '</v2/last/tags/list?n=2&last=test2>; rel="next"')

  const between = await getJson(app, '/v2/last/tags/list?last=TEST10') // not a tag: the page starts after it
  t.same(between.body.tags, sorted.filter(tag => tag > 'TEST10'))

  const zero = await getJson(app, '/v2/last/tags/list?n=0')
  t.equal(zero.res.statusCode, 200)
  t.same(zero.body, { name: 'last', tags: [] })
  t.equal(header(zero.res, 'link'), undefined)

  const end = await getJson(app, '/v2/last/tags/list?last=zzz')
  t.same(end.body, { name: 'last', tags: [] })
})

t.test('tags/list: bad n answers 400 in the envelope', async t => {
  const { app } = await buildTestApp(t)
  await pushTags(app, 'badn', ['v1'])
  for (const n of ['-1', 'abc', '1.5', '1e3x']) {
    const res = await app.inject({ method: 'GET', url: `/v2/badn/tags/list?n=${n}` })
    expectError(t, res, 400, 'INVALID_REQUEST', `n=${n}`)
  }
  const twice = await app.inject({ method: 'GET', url: '/v2/badn/tags/list?n=1&n=2' })
  expectError(t, twice, 400, 'INVALID_REQUEST', 'n given twice')
})

t.test('tags/list: unknown repository answers 404 NAME_UNKNOWN', async t => {
  const { app } = await buildTestApp(t)
  await pushTags(app, 'exists', ['v1'])
  const res = await app.inject({ method: 'GET', url: '/v2/does/not/exist/tags/list' })
  const entry = expectError(t, res, 404, 'NAME_UNKNOWN')
  t.same(entry.detail, { name: 'does/not/exist' })
  // A parent or child of an existing repository is a different repository.
  expectError(t, await app.inject({ method: 'GET', url: '/v2/exists/child/tags/list' }), 404, 'NAME_UNKNOWN')
})

t.test('tags/list of a repository with blobs but no tags is empty', async t => {
  const { app } = await buildTestApp(t)
  await pushBlob(app, 'blobsonly', 'a blob')
  const { res, body } = await getJson(app, '/v2/blobsonly/tags/list')
  t.equal(res.statusCode, 200)
  t.same(body, { name: 'blobsonly', tags: [] })
})

t.test('tags of nested repositories do not leak into their parents', async t => {
  const { app } = await buildTestApp(t)
  await pushTags(app, 'parent', ['p1'])
  await pushTags(app, 'parent/child', ['c1', 'c2'])
  t.same((await getJson(app, '/v2/parent/tags/list')).body, { name: 'parent', tags: ['p1'] })
  t.same((await getJson(app, '/v2/parent/child/tags/list')).body, { name: 'parent/child', tags: ['c1', 'c2'] })
})

// ---------------------------------------------------------------------------------------------------------
// _catalog

t.test('_catalog lists repositories, nested names included, in name order', async t => {
  const { app } = await buildTestApp(t)
  const empty = await getJson(app, '/v2/_catalog')
  t.equal(empty.res.statusCode, 200)
  t.same(empty.body, { repositories: [] })

  const names = ['zeta', 'a/b/c', 'a', 'a-b', 'a.b', 'a0', 'a/b', 'library/ubuntu', 'b']
  for (const name of names) await pushBlob(app, name, `blob of ${name}`)
  await pushImage(app, 'manifestonly/repo', 'v1')
  const all = [...names, 'manifestonly/repo'].sort(ASCII)
  const { res, body } = await getJson(app, '/v2/_catalog')
  t.equal(res.statusCode, 200)
  t.match(header(res, 'content-type'), /^application\/json/)
  t.same(body, { repositories: all })
  t.equal(header(res, 'link'), undefined)
})

t.test('_catalog paging with n, last and Link covers each repository exactly once', async t => {
  const { app } = await buildTestApp(t)
  const names = ['a', 'a/b', 'a/b/c', 'a-b', 'a0', 'b', 'b/a', 'c/d/e/f', 'x.y']
  for (const name of names) await pushBlob(app, name, `blob of ${name}`)
  const sorted = [...names].sort(ASCII)

  const first = await getJson(app, '/v2/_catalog?n=3')
  t.same(first.body.repositories, sorted.slice(0, 3))
  const link = nextLink(first.res)
  t.ok(link !== undefined, 'Link present on a truncated page')
  t.match(link ?? '', /^\/v2\/_catalog\?/)
  const params = new URL(link ?? '', 'http://x').searchParams
  t.equal(params.get('n'), '3')
  t.equal(params.get('last'), sorted[2])

  for (const n of [1, 2, 4, 100]) {
    const { items, urls } = await allPages(t, app, `/v2/_catalog?n=${n}`, 'repositories')
    t.same(items, sorted, `n=${n}: each repository exactly once, in order`)
    t.equal(urls.length, Math.max(1, Math.ceil(names.length / n)), `n=${n}: page count`)
  }

  const after = await getJson(app, '/v2/_catalog?last=a/b')
  t.same(after.body.repositories, sorted.filter(n => n > 'a/b'), 'last excludes itself')
  const zero = await getJson(app, '/v2/_catalog?n=0')
  t.same(zero.body, { repositories: [] })
  t.equal(header(zero.res, 'link'), undefined)
  for (const n of ['-1', 'abc']) {
    expectError(t, await app.inject({ method: 'GET', url: `/v2/_catalog?n=${n}` }), 400, 'INVALID_REQUEST', `n=${n}`)
  }
})

// ---------------------------------------------------------------------------------------------------------
// referrers

const EMPTY_INDEX = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] }

t.test('referrers of an unknown subject: 200 with an empty index and the exact Content-Type', async t => {
  const { app } = await buildTestApp(t)
  await pushImage(app, 'ref', 'v1')
  for (const [name, subject] of [['ref', sha256('unknown subject')], ['ref', ZERO_DIGEST], ['never/pushed', ZERO_DIGEST]] as const) {
    const res = await app.inject({ method: 'GET', url: `/v2/${name}/referrers/${subject}` })
    t.equal(res.statusCode, 200, `${name} ${subject}`)
    t.equal(header(res, 'content-type'), MT.ociIndex, 'Content-Type is exactly the index media type')
    t.same(JSON.parse(res.body), EMPTY_INDEX)
    t.equal(header(res, 'oci-filters-applied'), undefined)
  }
})

t.test('referrers: malformed subject digests answer 400 DIGEST_INVALID', async t => {
  const { app } = await buildTestApp(t)
  for (const subject of ['sha256:abc', 'latest', `md5:${'0'.repeat(32)}`]) {
    const res = await app.inject({ method: 'GET', url: `/v2/ref/referrers/${subject}` })
    expectError(t, res, 400, 'DIGEST_INVALID', subject)
  }
})

/** A subject image and three referrers: typed by artifactType, typed by config.mediaType, and an index. */
async function pushReferrers (app: FastifyInstance, name: string) {
  const subjectImage = await pushImage(app, name, 'subject')
  const subject = { mediaType: MT.ociManifest, digest: subjectImage.digest, size: subjectImage.bytes.length }

  // 1. artifactType set explicitly, empty config.
  const emptyConfig = Buffer.from('{}')
  await pushBlob(app, name, emptyConfig)
  const sigLayer = Buffer.from('signature payload')
  await pushBlob(app, name, sigLayer)
  const sigDoc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: 'application/vnd.example.signature',
    config: descriptor(MT.ociEmpty, emptyConfig),
    layers: [descriptor('application/octet-stream', sigLayer)],
    subject,
    annotations: { 'org.opencontainers.conformance.test': 'sig', 'org.example.extra': 'yes' }
  }
  const sig = await pushManifest(app, name, 'sig', sigDoc, MT.ociManifest)

  // 2. No artifactType: the config media type is the artifact type.
  const sbomConfig = Buffer.from('{"sbom":true}')
  await pushBlob(app, name, sbomConfig)
  const sbomDoc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: descriptor('application/vnd.example.sbom.config', sbomConfig),
    layers: [],
    subject,
    annotations: { 'org.opencontainers.conformance.test': 'sbom' }
  }
  const sbom = await pushManifest(app, name, sha256(JSON.stringify(sbomDoc)), sbomDoc, MT.ociManifest)

  // 3. An index with artifactType whose child is the signature.
  const indexDoc = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    artifactType: 'application/vnd.example.bundle',
    manifests: [{ mediaType: MT.ociManifest, digest: sig.digest, size: sig.bytes.length }],
    subject,
    annotations: { 'org.opencontainers.conformance.test': 'bundle' }
  }
  const bundle = await pushManifest(app, name, 'bundle', indexDoc, MT.ociIndex)

  const expected = [
    { mediaType: MT.ociManifest, digest: sig.digest, size: sig.bytes.length, artifactType: 'application/vnd.example.signature', annotations: sigDoc.annotations },
    { mediaType: MT.ociManifest, digest: sbom.digest, size: sbom.bytes.length, artifactType: 'application/vnd.example.sbom.config', annotations: sbomDoc.annotations },
    { mediaType: MT.ociIndex, digest: bundle.digest, size: bundle.bytes.length, artifactType: 'application/vnd.example.bundle', annotations: indexDoc.annotations }
  ]
  return { subjectImage, sig, sbom, bundle, expected }
}

const byDigest = (a: { digest: string }, b: { digest: string }): number => ASCII(a.digest, b.digest)

t.test('referrers list every manifest with that subject, with copied descriptors', async t => {
  const { app } = await buildTestApp(t)
  const { subjectImage, sig, sbom, bundle, expected } = await pushReferrers(app, 'refs')
  t.equal(header(sig.res, 'oci-subject'), subjectImage.digest)
  t.equal(header(sbom.res, 'oci-subject'), subjectImage.digest)
  t.equal(header(bundle.res, 'oci-subject'), subjectImage.digest)

  const res = await app.inject({ method: 'GET', url: `/v2/refs/referrers/${subjectImage.digest}` })
  t.equal(res.statusCode, 200)
  t.equal(header(res, 'content-type'), MT.ociIndex)
  const body = JSON.parse(res.body)
  t.equal(body.schemaVersion, 2)
  t.equal(body.mediaType, MT.ociIndex)
  t.same([...body.manifests].sort(byDigest), [...expected].sort(byDigest), 'descriptors with digest, size, mediaType, artifactType and annotations')
  t.equal(new Set(body.manifests.map((d: { digest: string }) => d.digest)).size, 3, 'distinct digests')

  const elsewhere = await app.inject({ method: 'GET', url: `/v2/other/referrers/${subjectImage.digest}` })
  t.same(JSON.parse(elsewhere.body), EMPTY_INDEX, 'referrers are per repository')
  const ofReferrer = await app.inject({ method: 'GET', url: `/v2/refs/referrers/${sig.digest}` })
  t.same(JSON.parse(ofReferrer.body), EMPTY_INDEX, 'the signature itself has no referrers')
})

t.test('referrers ?artifactType= filters and sets OCI-Filters-Applied', async t => {
  const { app } = await buildTestApp(t)
  const { subjectImage, expected } = await pushReferrers(app, 'filter')
  for (const artifactType of ['application/vnd.example.signature', 'application/vnd.example.sbom.config', 'application/vnd.example.bundle']) {
    const res = await app.inject({ method: 'GET', url: `/v2/filter/referrers/${subjectImage.digest}?artifactType=${encodeURIComponent(artifactType)}` })
    t.equal(res.statusCode, 200, artifactType)
    t.equal(header(res, 'content-type'), MT.ociIndex)
    t.equal(header(res, 'oci-filters-applied'), 'artifactType')
    t.same(JSON.parse(res.body).manifests, expected.filter(d => d.artifactType === artifactType), `${artifactType}: only matching`)
  }
  const none = await app.inject({ method: 'GET', url: `/v2/filter/referrers/${subjectImage.digest}?artifactType=application/vnd.example.none` })
  t.equal(header(none, 'oci-filters-applied'), 'artifactType')
  t.same(JSON.parse(none.body), EMPTY_INDEX)
})

t.test('referrers of a subject that was never pushed', async t => {
  const { app } = await buildTestApp(t)
  const absent = sha256('missing subject')
  const image = await pushImageBlobs(app, 'orphan', 'o', {
    artifactType: 'application/vnd.example.orphan',
    subject: { mediaType: MT.ociManifest, digest: absent, size: 123 }
  })
  const pushed = await pushManifest(app, 'orphan', 'o', image.manifest, MT.ociManifest)
  t.equal(header(pushed.res, 'oci-subject'), absent)
  const res = await app.inject({ method: 'GET', url: `/v2/orphan/referrers/${absent}` })
  t.equal(res.statusCode, 200)
  t.same(JSON.parse(res.body).manifests, [
    { mediaType: MT.ociManifest, digest: pushed.digest, size: pushed.bytes.length, artifactType: 'application/vnd.example.orphan' }
  ])
})

t.test('deleting a referrer manifest removes it from the list; deleting a tag does not', async t => {
  const { app } = await buildTestApp(t)
  const { subjectImage, sig, bundle, expected } = await pushReferrers(app, 'delref')
  // Deleting the tag of a referrer keeps the referrer (the manifest still exists).
  t.equal((await app.inject({ method: 'DELETE', url: '/v2/delref/manifests/bundle' })).statusCode, 202)
  const afterTag = await app.inject({ method: 'GET', url: `/v2/delref/referrers/${subjectImage.digest}` })
  t.equal(JSON.parse(afterTag.body).manifests.length, 3)

  const del = await app.inject({ method: 'DELETE', url: `/v2/delref/manifests/${bundle.digest}` })
  t.equal(del.statusCode, 202)
  const res = await app.inject({ method: 'GET', url: `/v2/delref/referrers/${subjectImage.digest}` })
  t.equal(res.statusCode, 200)
  t.same([...JSON.parse(res.body).manifests].sort(byDigest), expected.filter(d => d.digest !== bundle.digest).sort(byDigest))

  // Indexes do not pin their children: the signature can be deleted as well.
  t.equal((await app.inject({ method: 'DELETE', url: `/v2/delref/manifests/${sig.digest}` })).statusCode, 202)
  const res2 = await app.inject({ method: 'GET', url: `/v2/delref/referrers/${subjectImage.digest}` })
  t.same(JSON.parse(res2.body).manifests.map((d: { digest: string }) => d.digest), expected.filter(d => d.digest !== bundle.digest && d.digest !== sig.digest).map(d => d.digest))
  expectError(t, await app.inject({ method: 'GET', url: `/v2/delref/manifests/${sig.digest}` }), 404, 'MANIFEST_UNKNOWN')
})

t.test('referrers paging with n and Link returns each referrer once', async t => {
  const { app } = await buildTestApp(t)
  const { subjectImage, expected } = await pushReferrers(app, 'refpage')
  const first = await app.inject({ method: 'GET', url: `/v2/refpage/referrers/${subjectImage.digest}?n=2` })
  t.equal(first.statusCode, 200)
  t.equal(JSON.parse(first.body).manifests.length, 2)
  t.match(header(first, 'link') ?? '', new RegExp(`^</v2/refpage/referrers/${subjectImage.digest}\\?n=2&last=sha256`))
  const { items, urls } = await allPages(t, app, `/v2/refpage/referrers/${subjectImage.digest}?n=1`, 'manifests')
  t.equal(urls.length, 3)
  t.same([...(items as Array<{ digest: string }>)].sort(byDigest), [...expected].sort(byDigest))
})

t.test('referrers ?n=0 answers an empty page without a Link back to itself', async t => {
  const { app } = await buildTestApp(t)
  const { subjectImage } = await pushReferrers(app, 'refzero')
  const url = `/v2/refzero/referrers/${subjectImage.digest}?n=0`
  const res = await app.inject({ method: 'GET', url })
  t.equal(res.statusCode, 200)
  t.equal(header(res, 'content-type'), MT.ociIndex)
  t.same(JSON.parse(res.body), EMPTY_INDEX)
  t.equal(header(res, 'link'), undefined, 'no Link on an n=0 page (as tags/list and _catalog do)')
  t.not(nextLink(res), url, 'a Link must never point back at the same page')
})

t.test('repositories appear in the catalog only once something was pushed successfully', async t => {
  const { app } = await buildTestApp(t)
  const failedMono = await app.inject({
    method: 'POST',
    url: `/v2/failed/mono/blobs/uploads/?digest=${sha256('claimed')}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: 'actual'
  })
  t.equal(failedMono.statusCode, 400)
  t.equal((await app.inject({ method: 'POST', url: '/v2/session/only/blobs/uploads/' })).statusCode, 202)
  t.equal((await app.inject({ method: 'POST', url: `/v2/mount/miss/blobs/uploads/?mount=${sha256('nothing')}` })).statusCode, 202)
  const badManifest = await app.inject({ method: 'PUT', url: '/v2/bad/manifest/manifests/v1', headers: { 'content-type': MT.ociManifest }, payload: '{}' })
  t.equal(badManifest.statusCode, 400)
  t.same((await getJson(app, '/v2/_catalog')).body, { repositories: [] })
  for (const name of ['failed/mono', 'session/only', 'mount/miss', 'bad/manifest']) {
    expectError(t, await app.inject({ method: 'GET', url: `/v2/${name}/tags/list` }), 404, 'NAME_UNKNOWN', name)
  }
  await pushBlob(app, 'session/only', 'now it has a blob')
  t.same((await getJson(app, '/v2/_catalog')).body, { repositories: ['session/only'] })
})
