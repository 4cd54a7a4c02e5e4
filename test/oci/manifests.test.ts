// Manifest endpoints: PUT (end-7), GET/HEAD (end-3) with Accept negotiation, DELETE (end-9).
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { paths } from '../../src/storage/paths.js'
import { buildTestApp } from '../helpers/app.js'
import {
  MT, descriptor, expectError, header, headerList, pushBlob, pushImage, pushImageBlobs, pushManifest,
  putManifest, sha256, storedBlob, type Res
} from './helpers.js'

async function get (app: FastifyInstance, name: string, reference: string, accept?: string, method: 'GET' | 'HEAD' = 'GET'): Promise<Res> {
  return await app.inject({ method, url: `/v2/${name}/manifests/${reference}`, headers: accept === undefined ? {} : { accept } })
}

async function tagsOf (app: FastifyInstance, name: string): Promise<string[]> {
  const res = await app.inject({ method: 'GET', url: `/v2/${name}/tags/list` })
  if (res.statusCode !== 200) throw new Error(`tags/list ${res.statusCode} ${res.body}`)
  return (JSON.parse(res.body) as { tags: string[] }).tags
}

t.test('PUT by tag: 201, Location by digest, Docker-Content-Digest of the exact bytes', async t => {
  const { app } = await buildTestApp(t)
  const image = await pushImageBlobs(app, 'img/repo', 'one')
  const bytes = Buffer.from(JSON.stringify(image.manifest, null, 2))
  const digest = sha256(bytes)
  const res = await app.inject({
    method: 'PUT', url: '/v2/img/repo/manifests/v1', headers: { 'content-type': MT.ociManifest }, payload: bytes
  })
  t.equal(res.statusCode, 201)
  t.equal(header(res, 'location'), `/v2/img/repo/manifests/${digest}`)
  t.equal(header(res, 'docker-content-digest'), digest)
  t.equal(res.body, '')
  t.equal(header(res, 'oci-subject'), undefined, 'no OCI-Subject without a subject')
  t.same(await storedBlob(app, digest), bytes, 'the manifest bytes are stored as sent, by digest')
  t.same(await app.berth.registry.driver.readAll(paths.blob(digest)), bytes)
})

t.test('GET by tag and by digest return identical bytes, exact Content-Type and Content-Length', async t => {
  const { app } = await buildTestApp(t)
  const { bytes, digest } = await pushImage(app, 'img', 'latest')
  for (const reference of ['latest', digest]) {
    const res = await get(app, 'img', reference)
    t.equal(res.statusCode, 200, reference)
    t.same(res.rawPayload, bytes, `${reference}: identical bytes`)
    t.equal(header(res, 'content-type'), MT.ociManifest, `${reference}: Content-Type is exactly the media type`)
    t.equal(header(res, 'content-length'), String(bytes.length), `${reference}: Content-Length`)
    t.equal(header(res, 'docker-content-digest'), digest, `${reference}: Docker-Content-Digest`)
    t.equal(header(res, 'etag'), `"${digest}"`, `${reference}: ETag`)
    t.equal(sha256(res.rawPayload), digest)
  }
  const res = await get(app, 'img', 'latest', MT.ociManifest)
  t.same(res.rawPayload, bytes, 'an Accept naming the media type gets the same bytes')
})

t.test('HEAD: headers of the GET and an empty body', async t => {
  const { app } = await buildTestApp(t)
  const { bytes, digest } = await pushImage(app, 'img', 'latest')
  for (const reference of ['latest', digest]) {
    const res = await get(app, 'img', reference, MT.ociManifest, 'HEAD')
    t.equal(res.statusCode, 200, reference)
    t.equal(res.body, '', `${reference}: no body`)
    t.equal(header(res, 'content-type'), MT.ociManifest)
    t.equal(header(res, 'content-length'), String(bytes.length))
    t.equal(header(res, 'docker-content-digest'), digest)
  }
  const missing = await get(app, 'img', 'nope', undefined, 'HEAD')
  t.equal(missing.statusCode, 404)
  t.equal(missing.body, '')
})

t.test('a manifest without top-level mediaType pushed with the OCI Content-Type', async t => {
  const { app } = await buildTestApp(t)
  const image = await pushImageBlobs(app, 'nomt', 'x')
  const doc = { schemaVersion: 2, config: image.config, layers: [] }
  const { res, digest, bytes } = await putManifest(app, 'nomt', 'emptylayer', doc, MT.ociManifest)
  t.equal(res.statusCode, 201)
  t.equal(header(res, 'docker-content-digest'), digest)
  const back = await get(app, 'nomt', 'emptylayer')
  t.equal(back.statusCode, 200)
  t.same(back.rawPayload, bytes)
  t.equal(header(back, 'content-type'), MT.ociManifest)
})

t.test('unknown fields and data fields are accepted and returned byte-identical', async t => {
  const { app, config } = await buildTestApp(t)
  const image = await pushImageBlobs(app, 'odd', 'x')
  const layerBytes = Buffer.from(`layer bytes for x`)
  // Deliberately non-canonical: odd whitespace, key order, escapes and unknown members.
  const text = `{ "schemaVersion" :2,\n\t"mediaType":"${MT.ociManifest}" ,"newUnspecifiedField":{"nested":[1,2.50,"\\u0041"]},` +
    `\r\n  "config":{"digest":"${image.config.digest}","size":${image.config.size},"mediaType":"${MT.ociConfig}","newUnspecifiedField":null},` +
    `"layers":[ {"mediaType":"${MT.ociLayer}","size":${layerBytes.length},"digest":"${sha256(layerBytes)}",` +
    `"data":"${layerBytes.toString('base64')}","x-extra":true} ] ,"annotations":{"k":"v"}   }\n\n`
  const bytes = Buffer.from(text)
  const { res, digest } = await putManifest(app, 'odd', 'v1', bytes, MT.ociManifest)
  t.equal(res.statusCode, 201)
  t.equal(digest, sha256(bytes))
  t.equal(header(res, 'docker-content-digest'), digest)
  const back = await get(app, 'odd', digest)
  t.equal(back.statusCode, 200)
  t.same(back.rawPayload, bytes, 'bytes are not re-serialized')
  t.same(await storedBlob(app, digest), bytes)
})

t.test('Docker schema 2 manifest and manifest list', async t => {
  const { app } = await buildTestApp(t)
  const configBytes = Buffer.from('{"architecture":"amd64","os":"linux"}')
  const layerBytes = Buffer.from('docker layer')
  await pushBlob(app, 'docker', configBytes)
  await pushBlob(app, 'docker', layerBytes)
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.dockerManifest,
    config: descriptor(MT.dockerConfig, configBytes),
    layers: [descriptor(MT.dockerLayer, layerBytes)]
  }
  const m = await pushManifest(app, 'docker', 'v2', manifest, MT.dockerManifest)
  t.equal(header(m.res, 'docker-content-digest'), m.digest)
  const back = await get(app, 'docker', 'v2', MT.dockerManifest)
  t.equal(back.statusCode, 200)
  t.equal(header(back, 'content-type'), MT.dockerManifest)
  t.same(back.rawPayload, m.bytes)

  const list = {
    schemaVersion: 2,
    mediaType: MT.dockerManifestList,
    manifests: [{ mediaType: MT.dockerManifest, digest: m.digest, size: m.bytes.length, platform: { os: 'linux', architecture: 'amd64' } }]
  }
  const l = await pushManifest(app, 'docker', 'list', list, MT.dockerManifestList)
  t.equal(header(l.res, 'location'), `/v2/docker/manifests/${l.digest}`)
  const listBack = await get(app, 'docker', 'list', MT.dockerManifestList)
  t.equal(listBack.statusCode, 200)
  t.equal(header(listBack, 'content-type'), MT.dockerManifestList)
  t.same(listBack.rawPayload, l.bytes)
  t.equal(header(listBack, 'docker-content-digest'), l.digest)

  // A schema-2-only client asking for the list gets the amd64 manifest.
  const negotiated = await get(app, 'docker', 'list', MT.dockerManifest)
  t.equal(negotiated.statusCode, 200)
  t.same(negotiated.rawPayload, m.bytes)
  t.equal(header(negotiated, 'docker-content-digest'), m.digest)
})

t.test('OCI index whose children exist; an index with a missing child is MANIFEST_BLOB_UNKNOWN', async t => {
  const { app } = await buildTestApp(t)
  const a = await pushImage(app, 'idx', 'a')
  const b = await pushImage(app, 'idx', 'b')
  const index = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [
      { mediaType: MT.ociManifest, digest: a.digest, size: a.bytes.length },
      { mediaType: MT.ociManifest, digest: b.digest, size: b.bytes.length }
    ]
  }
  const i = await pushManifest(app, 'idx', 'multi', index, MT.ociIndex)
  t.equal(header(i.res, 'docker-content-digest'), i.digest)
  const back = await get(app, 'idx', 'multi')
  t.equal(header(back, 'content-type'), MT.ociIndex)
  t.same(back.rawPayload, i.bytes)

  const missingChild = sha256('no such manifest')
  const bad = { ...index, manifests: [...index.manifests, { mediaType: MT.ociManifest, digest: missingChild, size: 10 }] }
  const res = await putManifest(app, 'idx', 'broken', bad, MT.ociIndex)
  const entry = expectError(t, res.res, 400, 'MANIFEST_BLOB_UNKNOWN')
  t.same(entry.detail, { digest: missingChild })
  t.equal(await storedBlob(app, res.digest), undefined, 'the rejected index is not stored')
  expectError(t, await get(app, 'idx', 'broken'), 404, 'MANIFEST_UNKNOWN')

  // A child known only to another repository is missing here.
  const other = await pushImage(app, 'elsewhere', 'c')
  const foreign = { ...index, manifests: [{ mediaType: MT.ociManifest, digest: other.digest, size: other.bytes.length }] }
  expectError(t, (await putManifest(app, 'idx', 'foreign', foreign, MT.ociIndex)).res, 400, 'MANIFEST_BLOB_UNKNOWN')
})

t.test('a manifest referencing a missing layer or config is MANIFEST_BLOB_UNKNOWN naming the digest', async t => {
  const { app, config } = await buildTestApp(t)
  const image = await pushImageBlobs(app, 'miss', 'x')
  const missingLayer = descriptor(MT.ociLayer, 'never uploaded layer')
  const doc = { ...image.manifest, layers: [...image.layers, missingLayer] }
  const res = await putManifest(app, 'miss', 'v1', doc, MT.ociManifest)
  const entry = expectError(t, res.res, 400, 'MANIFEST_BLOB_UNKNOWN')
  t.same(entry.detail, { digest: missingLayer.digest })
  t.match(entry.message, missingLayer.digest)
  t.equal(await storedBlob(app, res.digest), undefined)
  expectError(t, await get(app, 'miss', 'v1'), 404, 'MANIFEST_UNKNOWN')

  const missingConfig = descriptor(MT.ociConfig, '{"missing":true}')
  const res2 = await putManifest(app, 'miss', 'v2', { ...image.manifest, config: missingConfig }, MT.ociManifest)
  t.same(expectError(t, res2.res, 400, 'MANIFEST_BLOB_UNKNOWN').detail, { digest: missingConfig.digest })

  // A layer stored for another repository only is not in this one.
  const foreignBytes = Buffer.from('foreign layer')
  await pushBlob(app, 'other', foreignBytes)
  const res3 = await putManifest(app, 'miss', 'v3', { ...image.manifest, layers: [descriptor(MT.ociLayer, foreignBytes)] }, MT.ociManifest)
  expectError(t, res3.res, 400, 'MANIFEST_BLOB_UNKNOWN')
})

t.test('invalid manifests answer 400 MANIFEST_INVALID and store nothing', async t => {
  const { app, config } = await buildTestApp(t)
  const image = await pushImageBlobs(app, 'inv', 'x')
  const cases: Array<[string, string | Buffer, string | undefined]> = [
    ['not JSON', '{"schemaVersion": 2,', MT.ociManifest],
    ['empty body', '', MT.ociManifest],
    ['JSON array', '[]', MT.ociManifest],
    ['JSON null', 'null', MT.ociManifest],
    ['missing config', JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, layers: image.layers }), MT.ociManifest],
    ['missing layers', JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: image.config }), MT.ociManifest],
    ['schemaVersion 1', JSON.stringify({ ...image.manifest, schemaVersion: 1 }), MT.ociManifest],
    ['descriptor without size', JSON.stringify({ ...image.manifest, config: { ...image.config, size: undefined } }), MT.ociManifest],
    ['Content-Type and mediaType disagree', JSON.stringify(image.manifest), MT.ociIndex],
    ['unsupported Content-Type', JSON.stringify({ schemaVersion: 2, config: image.config, layers: [] }), 'text/plain'],
    ['index without manifests', JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex }), MT.ociIndex]
  ]
  for (const [label, body, contentType] of cases) {
    const res = await putManifest(app, 'inv', 'bad', body, contentType)
    expectError(t, res.res, 400, 'MANIFEST_INVALID', label)
    t.equal(await storedBlob(app, res.digest), undefined, `${label}: nothing stored`)
  }
  expectError(t, await get(app, 'inv', 'bad'), 404, 'MANIFEST_UNKNOWN')
})

t.test('PUT by digest: matching body 201; mismatching body or malformed digest 400', async t => {
  const { app } = await buildTestApp(t)
  const image = await pushImageBlobs(app, 'bydigest', 'x')
  const bytes = Buffer.from(JSON.stringify(image.manifest))
  const digest = sha256(bytes)
  const ok = await putManifest(app, 'bydigest', digest, bytes, MT.ociManifest)
  t.equal(ok.res.statusCode, 201)
  t.equal(header(ok.res, 'location'), `/v2/bydigest/manifests/${digest}`)
  t.equal(header(ok.res, 'docker-content-digest'), digest)
  t.same(await tagsOf(app, 'bydigest'), [], 'a PUT by digest creates no tag')

  const other = Buffer.from(JSON.stringify({ ...image.manifest, annotations: { changed: 'yes' } }))
  const wrongDigest = sha256(Buffer.from('something else entirely'))
  const mismatch = await putManifest(app, 'bydigest', wrongDigest, other, MT.ociManifest)
  const entry = expectError(t, mismatch.res, 400, 'DIGEST_INVALID')
  t.match(entry.detail, { expected: wrongDigest, actual: sha256(other) })
  t.equal(await storedBlob(app, sha256(other)), undefined, 'mismatching body not stored')
  expectError(t, await get(app, 'bydigest', wrongDigest), 404, 'MANIFEST_UNKNOWN')

  const baddigest = await putManifest(app, 'bydigest', 'sha256:baddigeststring', bytes, MT.ociManifest)
  t.equal(baddigest.res.statusCode, 400)
  expectError(t, baddigest.res, 400, 'DIGEST_INVALID')
  const getBad = await get(app, 'bydigest', 'sha256:baddigeststring')
  t.ok([400, 404].includes(getBad.statusCode), 'GET of a malformed digest is 400 or 404')
  expectError(t, getBad, getBad.statusCode, getBad.statusCode === 400 ? 'DIGEST_INVALID' : 'MANIFEST_UNKNOWN')
  const totallywrong = await get(app, 'bydigest', 'sha256:totallywrong')
  t.ok([400, 404].includes(totallywrong.statusCode))
  expectError(t, totallywrong, totallywrong.statusCode, totallywrong.statusCode === 400 ? 'DIGEST_INVALID' : 'MANIFEST_UNKNOWN')
})

t.test('unknown references: .INVALID_MANIFEST_NAME and unknown tags/digests are 404 MANIFEST_UNKNOWN', async t => {
  const { app } = await buildTestApp(t)
  await pushImage(app, 'known', 'v1')
  for (const reference of ['.INVALID_MANIFEST_NAME', 'nope', sha256('never pushed')]) {
    const res = await get(app, 'known', reference, MT.ociManifest)
    const entry = expectError(t, res, 404, 'MANIFEST_UNKNOWN', reference)
    t.same(entry.detail, { reference })
    const head = await get(app, 'known', reference, MT.ociManifest, 'HEAD')
    t.equal(head.statusCode, 404, `HEAD ${reference}`)
  }
  // The same tag in a repository that does not exist.
  expectError(t, await get(app, 'unknown/repo', 'v1'), 404, 'MANIFEST_UNKNOWN')
})

t.test('PUT with an invalid tag answers 400 TAG_INVALID', async t => {
  const { app } = await buildTestApp(t)
  const image = await pushImageBlobs(app, 'tags', 'x')
  for (const tag of ['.hidden', '-dash', 'a'.repeat(129)]) {
    const res = await putManifest(app, 'tags', tag, image.manifest, MT.ociManifest)
    expectError(t, res.res, 400, 'TAG_INVALID', tag)
  }
  t.same(await tagsOf(app, 'tags'), [])
})

t.test('a ~4 MB manifest is accepted; one byte over the limit is MANIFEST_INVALID', async t => {
  const { app, config } = await buildTestApp(t)
  const image = await pushImageBlobs(app, 'large', 'x')
  const annotations: Record<string, string> = {}
  for (let i = 0; i < 400; i++) annotations[`org.example.large.${String(i).padStart(3, '0')}`] = 'x'.repeat(10_000)
  const big = Buffer.from(JSON.stringify({ ...image.manifest, annotations }))
  t.ok(big.length > 4_000_000 && big.length <= config.maxManifestBytes, `large manifest is ${big.length} bytes`)
  const res = await putManifest(app, 'large', 'big', big, MT.ociManifest)
  t.equal(res.res.statusCode, 201)
  t.equal(header(res.res, 'docker-content-digest'), sha256(big))
  const back = await get(app, 'large', 'big')
  t.equal(back.statusCode, 200)
  t.equal(back.rawPayload.length, big.length)
  t.ok(back.rawPayload.equals(big), 'identical bytes')

  // Exactly the limit is fine; limit + 1 is not (padding with trailing whitespace keeps it valid JSON).
  const base = Buffer.from(JSON.stringify({ ...image.manifest, annotations: { pad: 'y' } }))
  const atLimit = Buffer.concat([base, Buffer.alloc(config.maxManifestBytes - base.length, 0x20)])
  t.equal(atLimit.length, config.maxManifestBytes)
  const okLimit = await putManifest(app, 'large', 'atlimit', atLimit, MT.ociManifest)
  t.equal(okLimit.res.statusCode, 201, 'a manifest of exactly maxManifestBytes is accepted')
  const over = Buffer.concat([atLimit, Buffer.from(' ')])
  t.equal(over.length, config.maxManifestBytes + 1)
  const tooBig = await putManifest(app, 'large', 'over', over, MT.ociManifest)
  const entry = expectError(t, tooBig.res, 400, 'MANIFEST_INVALID')
  t.match(entry.message, String(config.maxManifestBytes))
  t.equal(await storedBlob(app, sha256(over)), undefined)
  expectError(t, await get(app, 'large', 'over'), 404, 'MANIFEST_UNKNOWN')

  // Streamed without Content-Length, the limit is enforced while reading.
  const chunks: Buffer[] = []
  for (let i = 0; i < over.length; i += 65536) chunks.push(over.subarray(i, i + 65536))
  const streamed = await app.inject({
    method: 'PUT', url: '/v2/large/manifests/streamed', headers: { 'content-type': MT.ociManifest }, payload: Readable.from(chunks)
  })
  expectError(t, streamed, 400, 'MANIFEST_INVALID')
  expectError(t, await get(app, 'large', 'streamed'), 404, 'MANIFEST_UNKNOWN')
  const small = Buffer.from(JSON.stringify(image.manifest))
  const streamedOk = await app.inject({
    method: 'PUT', url: '/v2/large/manifests/streamed', headers: { 'content-type': MT.ociManifest }, payload: Readable.from([small.subarray(0, 7), small.subarray(7)])
  })
  t.equal(streamedOk.statusCode, 201)
  t.equal(header(streamedOk, 'docker-content-digest'), sha256(small))
})

t.test('?tag= on a PUT by digest sets every tag and answers OCI-Tag', async t => {
  const { app } = await buildTestApp(t)
  const image = await pushImageBlobs(app, 'multi', 'x')
  const bytes = Buffer.from(JSON.stringify(image.manifest))
  const digest = sha256(bytes)
  const res = await putManifest(app, 'multi', digest, bytes, MT.ociManifest, '?tag=a&tag=b')
  t.equal(res.res.statusCode, 201)
  t.equal(header(res.res, 'location'), `/v2/multi/manifests/${digest}`)
  t.equal(header(res.res, 'docker-content-digest'), digest)
  t.same(headerList(res.res, 'oci-tag').sort(), ['a', 'b'])
  for (const tag of ['a', 'b']) {
    const back = await get(app, 'multi', tag)
    t.equal(back.statusCode, 200, `${tag} resolves`)
    t.same(back.rawPayload, bytes)
    t.equal(header(back, 'docker-content-digest'), digest)
  }
  t.same(await tagsOf(app, 'multi'), ['a', 'b'])

  const single = await putManifest(app, 'multi', digest, bytes, MT.ociManifest, '?tag=c')
  t.equal(single.res.statusCode, 201)
  t.same(headerList(single.res, 'oci-tag'), ['c'])
  const invalid = await putManifest(app, 'multi', digest, bytes, MT.ociManifest, '?tag=.bad')
  expectError(t, invalid.res, 400, 'TAG_INVALID')
  t.same(await tagsOf(app, 'multi'), ['a', 'b', 'c'])
})

t.test('a manifest with a subject answers OCI-Subject, even when the subject is absent', async t => {
  const { app } = await buildTestApp(t)
  const subject = await pushImage(app, 'subj', 'base')
  const image = await pushImageBlobs(app, 'subj', 'sig', {
    artifactType: 'application/vnd.example.sig',
    subject: { mediaType: MT.ociManifest, digest: subject.digest, size: subject.bytes.length }
  })
  const res = await pushManifest(app, 'subj', 'sig', image.manifest, MT.ociManifest)
  t.equal(header(res.res, 'oci-subject'), subject.digest)

  const absent = sha256('a subject never pushed')
  const orphan = await pushImageBlobs(app, 'subj', 'orphan', { subject: { mediaType: MT.ociManifest, digest: absent, size: 3 } })
  const res2 = await pushManifest(app, 'subj', 'orphan', orphan.manifest, MT.ociManifest)
  t.equal(header(res2.res, 'oci-subject'), absent)
})

async function pushPlatformIndex (app: FastifyInstance, name: string) {
  const amd64 = await pushImage(app, name, 'amd64-only', 'amd64')
  const arm64 = await pushImage(app, name, 'arm64-only', 'arm64')
  const index = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [
      { mediaType: MT.ociManifest, digest: arm64.digest, size: arm64.bytes.length, platform: { os: 'linux', architecture: 'arm64' } },
      { mediaType: MT.ociManifest, digest: amd64.digest, size: amd64.bytes.length, platform: { os: 'linux', architecture: 'amd64' } }
    ]
  }
  const i = await pushManifest(app, name, 'multiarch', index, MT.ociIndex)
  return { amd64, arm64, index: i }
}

t.test('Accept negotiation on a tag that names an index', async t => {
  const { app } = await buildTestApp(t)
  const { amd64, index } = await pushPlatformIndex(app, 'neg')

  const asIndex = await get(app, 'neg', 'multiarch', MT.ociIndex)
  t.equal(asIndex.statusCode, 200)
  t.equal(header(asIndex, 'content-type'), MT.ociIndex)
  t.same(asIndex.rawPayload, index.bytes)
  t.equal(header(asIndex, 'docker-content-digest'), index.digest)

  const both = await get(app, 'neg', 'multiarch', `${MT.ociManifest}, ${MT.ociIndex};q=0.9`)
  t.same(both.rawPayload, index.bytes, 'an Accept listing the index type gets the index')

  const manifestOnly = await get(app, 'neg', 'multiarch', MT.ociManifest)
  t.equal(manifestOnly.statusCode, 200)
  t.equal(header(manifestOnly, 'content-type'), MT.ociManifest)
  t.same(manifestOnly.rawPayload, amd64.bytes, 'the linux/amd64 entry is served')
  t.equal(header(manifestOnly, 'docker-content-digest'), amd64.digest, 'with its own digest')
  t.equal(header(manifestOnly, 'content-length'), String(amd64.bytes.length))

  const headManifest = await get(app, 'neg', 'multiarch', MT.ociManifest, 'HEAD')
  t.equal(headManifest.statusCode, 200)
  t.equal(header(headManifest, 'docker-content-digest'), amd64.digest)
  t.equal(headManifest.body, '')

  const dockerOnly = await get(app, 'neg', 'multiarch', MT.dockerManifest)
  expectError(t, dockerOnly, 404, 'MANIFEST_UNKNOWN')

  const none = await get(app, 'neg', 'multiarch')
  t.equal(none.statusCode, 200)
  t.equal(header(none, 'content-type'), MT.ociIndex)
  t.same(none.rawPayload, index.bytes, 'no Accept: the index')

  const wildcard = await get(app, 'neg', 'multiarch', '*/*')
  t.same(wildcard.rawPayload, index.bytes, '*/* gets the index')

  const byDigest = await get(app, 'neg', index.digest, MT.ociManifest)
  t.same(byDigest.rawPayload, amd64.bytes, 'negotiation applies to a digest reference as well')
})

t.test('DELETE by tag: 202, the tag is gone, the manifest stays reachable by digest', async t => {
  const { app } = await buildTestApp(t)
  const { bytes, digest } = await pushImage(app, 'del', 'v1')
  const res = await app.inject({ method: 'DELETE', url: '/v2/del/manifests/v1' })
  t.equal(res.statusCode, 202)
  t.equal(res.body, '')
  expectError(t, await get(app, 'del', 'v1'), 404, 'MANIFEST_UNKNOWN')
  t.same(await tagsOf(app, 'del'), [])
  const byDigest = await get(app, 'del', digest)
  t.equal(byDigest.statusCode, 200)
  t.same(byDigest.rawPayload, bytes)
  expectError(t, await app.inject({ method: 'DELETE', url: '/v2/del/manifests/v1' }), 404, 'MANIFEST_UNKNOWN')
})

t.test('DELETE by digest: the manifest and every tag naming it are gone; other tags stay', async t => {
  const { app } = await buildTestApp(t)
  const target = await pushImage(app, 'deld', 'one', 'shared')
  await pushManifest(app, 'deld', 'two', target.manifest, MT.ociManifest)
  await pushManifest(app, 'deld', target.digest, target.manifest, MT.ociManifest, '?tag=three')
  const keep = await pushImage(app, 'deld', 'keep', 'other')
  t.same(await tagsOf(app, 'deld'), ['keep', 'one', 'three', 'two'])

  const res = await app.inject({ method: 'DELETE', url: `/v2/deld/manifests/${target.digest}` })
  t.equal(res.statusCode, 202)
  t.equal(res.body, '')
  expectError(t, await get(app, 'deld', target.digest), 404, 'MANIFEST_UNKNOWN')
  t.equal((await get(app, 'deld', target.digest, undefined, 'HEAD')).statusCode, 404)
  for (const tag of ['one', 'two', 'three']) expectError(t, await get(app, 'deld', tag), 404, 'MANIFEST_UNKNOWN', tag)
  t.same(await tagsOf(app, 'deld'), ['keep'])
  const kept = await get(app, 'deld', 'keep')
  t.equal(kept.statusCode, 200)
  t.same(kept.rawPayload, keep.bytes)

  expectError(t, await app.inject({ method: 'DELETE', url: `/v2/deld/manifests/${target.digest}` }), 404, 'MANIFEST_UNKNOWN')

  // A retag that moved a tag away from the deleted manifest is not affected by the delete.
  const again = await pushManifest(app, 'deld', 'one', target.manifest, MT.ociManifest)
  t.equal(again.digest, target.digest)
  t.equal((await get(app, 'deld', 'one')).statusCode, 200, 'the manifest can be pushed again')
})

t.test('a tag moved to another manifest survives deleting its old manifest', async t => {
  const { app } = await buildTestApp(t)
  const first = await pushImage(app, 'move', 'v1', 'first')
  const second = await pushImageBlobs(app, 'move', 'second')
  const s = await pushManifest(app, 'move', 'v1', second.manifest, MT.ociManifest)
  const res = await app.inject({ method: 'DELETE', url: `/v2/move/manifests/${first.digest}` })
  t.equal(res.statusCode, 202)
  const v1 = await get(app, 'move', 'v1')
  t.equal(v1.statusCode, 200)
  t.equal(header(v1, 'docker-content-digest'), s.digest)
  t.same(await tagsOf(app, 'move'), ['v1'])
})

t.test('DELETE of unknown manifests answers 404 MANIFEST_UNKNOWN; malformed digests 400', async t => {
  const { app } = await buildTestApp(t)
  await pushImage(app, 'unk', 'v1')
  expectError(t, await app.inject({ method: 'DELETE', url: '/v2/unk/manifests/nope' }), 404, 'MANIFEST_UNKNOWN')
  expectError(t, await app.inject({ method: 'DELETE', url: `/v2/unk/manifests/${sha256('nope')}` }), 404, 'MANIFEST_UNKNOWN')
  expectError(t, await app.inject({ method: 'DELETE', url: '/v2/nothere/manifests/v1' }), 404, 'MANIFEST_UNKNOWN')
  expectError(t, await app.inject({ method: 'DELETE', url: '/v2/unk/manifests/sha256:abc' }), 400, 'DIGEST_INVALID')
  t.equal((await get(app, 'unk', 'v1')).statusCode, 200, 'the existing tag is untouched')
})

t.test('deleting a manifest in one repository leaves the same manifest in another', async t => {
  const { app } = await buildTestApp(t)
  const a = await pushImage(app, 'first', 'v1', 'same')
  const b = await pushImage(app, 'second', 'v1', 'same')
  t.equal(a.digest, b.digest, 'identical content, one digest')
  t.same(await storedBlob(app, a.digest), a.bytes)
  t.equal((await app.inject({ method: 'DELETE', url: `/v2/first/manifests/${a.digest}` })).statusCode, 202)
  expectError(t, await get(app, 'first', a.digest), 404, 'MANIFEST_UNKNOWN')
  expectError(t, await get(app, 'first', 'v1'), 404, 'MANIFEST_UNKNOWN')
  for (const reference of ['v1', b.digest]) {
    const res = await get(app, 'second', reference)
    t.equal(res.statusCode, 200, `second:${reference}`)
    t.same(res.rawPayload, b.bytes)
  }
  t.same(await tagsOf(app, 'second'), ['v1'])
})

t.test('Content-Type parameters and generic types on PUT', async t => {
  const { app } = await buildTestApp(t)
  const image = await pushImageBlobs(app, 'ctype', 'x')
  const withParams = await putManifest(app, 'ctype', 'params', image.manifest, `${MT.ociManifest}; charset=utf-8`)
  t.equal(withParams.res.statusCode, 201)
  const noMediaType = { schemaVersion: 2, config: image.config, layers: image.layers }
  for (const contentType of [undefined, 'application/json', 'application/octet-stream']) {
    const res = await putManifest(app, 'ctype', 'generic', noMediaType, contentType)
    t.equal(res.res.statusCode, 201, `${String(contentType)}: the shape decides`)
    const back = await get(app, 'ctype', 'generic')
    t.equal(header(back, 'content-type'), MT.ociManifest, `${String(contentType)}: stored as an OCI manifest`)
    t.same(back.rawPayload, res.bytes)
  }
  const bodyType = await putManifest(app, 'ctype', 'bodytype', image.manifest, 'application/json')
  t.equal(bodyType.res.statusCode, 201)
  t.equal(header(await get(app, 'ctype', 'bodytype'), 'content-type'), MT.ociManifest, 'the body mediaType wins over a generic Content-Type')
})
