// Bad requests for every dialect, as fast-check arbitraries. Each value is a BadRequest whose printed form
// (fc.toStringMethod) names the request plainly, so a failure in CI says exactly what was sent.
import fc from 'fast-check'
import { corruptGzip, deepJson, deepObjectJson, gzipNotTar, notGzip, sha256, tarBomb, truncatedChart, validChart } from './archives.js'

/** What the valid seed put in the store (bad requests aimed at real content need real names). */
export const SEED = {
  ociRepo: 'fuzz/app',
  ociTag: '1.0.0',
  cnrPackage: 'fuzzns/chart',
  cnrRelease: '1.0.0',
  cnrChannel: 'stable',
  packageFile: 'tool-1.0.0.tar.gz',
  /** The /v2 image: its layer is the valid chart, its config `{}`. */
  layerDigest: sha256(validChart),
  configDigest: sha256('{}')
}

export interface BadRequest {
  family: string
  method: string
  /** Request target as sent (already percent-encoded where node:http needs it). */
  path: string
  headers?: Record<string, string>
  body?: Buffer
  /** What the body is, for humans (bodies can be megabytes). */
  bodyLabel?: string
  /** Sent as these exact bytes over node:net instead; the request line's path gives the dialect. */
  raw?: { bytes: Buffer, halfClose: boolean }
  /** A body cut short: the server may also just close the connection. */
  mayGoUnanswered?: boolean
  /** Start an upload session in the seeded repository first; `{upload}` in path stands for its URL path. */
  needsUpload?: boolean
  /**
   * The server may accept this (a release number that does not fit, a deep annotation, a tar of many
   * entries): then the store may change, but every listing must still work.
   */
  mayWrite?: boolean
}

export type Dialect = 'oci' | 'cnr' | 'packages'

export function dialectOf (target: string): Dialect {
  const path = target.replace(/^[a-z]+:\/\/[^/]*/i, '') // an absolute-form target names the same path
  if (path.startsWith('/v2')) return 'oci'
  if (path.startsWith('/packages')) return 'packages'
  return 'cnr'
}

const printable = (s: string, max = 160): string => {
  const shown = JSON.stringify(s).slice(1, -1)
  return shown.length > max ? `${shown.slice(0, max)}…(${s.length} chars)` : shown
}

export function describe (r: BadRequest): string {
  if (r.raw !== undefined) {
    return `[${r.family}] raw bytes${r.raw.halfClose ? ' then half-close' : ''}: "${printable(r.raw.bytes.toString('latin1'), 400)}"`
  }
  const headers = Object.entries(r.headers ?? {}).map(([k, v]) => ` ${k}: ${printable(v, 80)}`).join(';')
  const body = r.body === undefined ? '' : ` body=${r.bodyLabel ?? `"${printable(r.body.toString('utf8'))}"`} (${r.body.length} B)`
  return `[${r.family}] ${r.needsUpload === true ? '(after POST /v2/fuzz/app/blobs/uploads/) ' : ''}${r.method} ${printable(r.path, 300)}${headers === '' ? '' : ` with${headers}`}${body}`
}

/** A BadRequest that fast-check prints with describe(). */
export const make = (r: BadRequest): BadRequest =>
  Object.defineProperty(r, fc.toStringMethod, { value: () => describe(r), enumerable: false })

/** Percent-encodes what node:http would refuse in a path (controls, spaces, non-ASCII). */
export const enc = (s: string): string =>
  s.replace(/[^\x21-\x7e]/gu, c => encodeURIComponent(c)).replaceAll('#', '%23').replaceAll('?', '%3F')

// ---- value pools ---------------------------------------------------------------------------------------

const randomText = fc.string({ unit: 'grapheme', maxLength: 40 })
const longName = (n: number): string => 'a'.repeat(n)

const BAD_REPO_NAMES = ['UPPER/case', 'a//b', '-lead/x', 'a/_tags', '..', 'a/../b', `ns/${longName(300)}`, 'a%00b', 'a%2Fb', 'émoji/x',
  'a b', 'a/', '/a', 'a..b', 'a__-b', 'a/' .repeat(120) + 'b', 'a%ff', '%2e%2e/%2e%2e', 'a\tb', 'x:y']
const badRepoName = fc.oneof(fc.constantFrom(...BAD_REPO_NAMES), randomText.filter(s => !/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(s) && s !== ''))

const BAD_DIGESTS = ['sha256:xyz', `sha256:${'0'.repeat(63)}`, `sha256:${'A'.repeat(64)}`, `md5:${'0'.repeat(32)}`, 'sha512:abc', 'sha256', ':', '',
  `sha256:${'0'.repeat(65)}`, `sha256:${'g'.repeat(64)}`, `SHA256:${'0'.repeat(64)}`, 'sha256:../../etc/passwd', `sha256+b64:${'0'.repeat(64)}`,
  `sha256:${'0'.repeat(64)}%00`, `sha256:${'0'.repeat(5000)}`]
const UNKNOWN_DIGEST = `sha256:${'0'.repeat(64)}`
const badDigest = fc.oneof(fc.constantFrom(...BAD_DIGESTS), randomText.map(s => `sha256:${s}`))

const BAD_TAGS = ['.', '-x', longName(129), '%00', 'a:b', '..', 'UP!', '%ff', 'a%2Fb', ' ', 'é', '_'.repeat(200)]
const badReference = fc.oneof(fc.constantFrom(...BAD_TAGS), badDigest)

const BAD_NUMBERS = ['-1', 'abc', '1e309', '0', '99999999999999999999', '1.5', '', '0x10', 'NaN', 'Infinity', '%00', '1%00', ' 1']
const badNumber = fc.constantFrom(...BAD_NUMBERS)
const oddLast = fc.constantFrom('%ff', '%00', longName(5000), '..', 'a%2F', '%', '')

// ---- /v2 -----------------------------------------------------------------------------------------------

const METHODS = ['GET', 'HEAD', 'DELETE', 'PUT', 'PATCH', 'POST', 'OPTIONS'] as const

/** Bad names, digests and references on every /v2 endpoint (a bad part in every writing request). */
export const ociPaths: fc.Arbitrary<BadRequest> = fc.tuple(
  fc.constantFrom(...METHODS),
  fc.oneof(
    fc.record({ name: badRepoName, target: fc.oneof(badReference, fc.constant(SEED.ociTag)) }),
    fc.record({ name: fc.constant(SEED.ociRepo), target: badReference })
  ),
  fc.constantFrom('tags/list', 'manifests/', 'blobs/', 'blobs/uploads/', 'blobs/uploads/', 'referrers/')
).map(([method, { name, target }, endpoint]) => {
  const tail = endpoint.endsWith('/') && endpoint !== 'blobs/uploads/' ? `${endpoint}${enc(target)}` : endpoint === 'blobs/uploads/' ? `${endpoint}${method === 'POST' ? '' : enc(target)}` : endpoint
  return make({ family: 'v2-paths', method, path: `/v2/${enc(name)}/${tail}` })
})

/** Odd query strings on listings, uploads and referrers. */
export const ociQueries: fc.Arbitrary<BadRequest> = fc.oneof(
  fc.tuple(badNumber, oddLast).map(([n, last]) => make({ family: 'v2-query', method: 'GET', path: `/v2/_catalog?n=${enc(n)}&last=${last}` })),
  fc.tuple(badNumber, oddLast).map(([n, last]) => make({ family: 'v2-query', method: 'GET', path: `/v2/${SEED.ociRepo}/tags/list?n=${enc(n)}&last=${last}&n=2` })),
  fc.constantFrom('artifactType=%ff', 'artifactType=', 'artifactType=a&artifactType=b', 'n=-1').map(q =>
    make({ family: 'v2-query', method: 'GET', path: `/v2/${SEED.ociRepo}/referrers/${SEED.layerDigest}?${q}` })),
  fc.tuple(badDigest, fc.constantFrom('', 'fuzz/none', '..', 'UP')).map(([digest, from]) =>
    make({ family: 'v2-query', method: 'POST', path: `/v2/${SEED.ociRepo}/blobs/uploads/?mount=${enc(digest)}&from=${enc(from)}` })),
  fc.tuple(fc.constant(SEED.layerDigest), badRepoName).map(([digest, from]) =>
    make({ family: 'v2-query', method: 'POST', path: `/v2/${enc('UPPER/x')}/blobs/uploads/?mount=${digest}&from=${enc(from)}` })),
  fc.tuple(badDigest, fc.uint8Array({ maxLength: 64 })).map(([digest, body]) =>
    make({ family: 'v2-query', method: 'POST', path: `/v2/${SEED.ociRepo}/blobs/uploads/?digest=${enc(digest)}`, body: Buffer.from(body), headers: { 'content-type': 'application/octet-stream' } })),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map(body =>
    make({ family: 'v2-query', method: 'POST', path: `/v2/${SEED.ociRepo}/blobs/uploads/?digest=${UNKNOWN_DIGEST}&digest=${UNKNOWN_DIGEST}`, body: Buffer.from(body), headers: { 'content-type': 'application/octet-stream' } }))
)

const BAD_RANGES = ['bytes=5-1', 'bytes=-0', 'bytes=99999999999999999999-', 'bytes=a-b', 'bytes=0-1,2-3', 'bytes=', 'items=0-1',
  'bytes=-99999999999999999999', 'bytes=1000000-', 'bytes=0-0,-1', 'bytes=--1', 'bytes=1e3-', 'bytes= 0-1']
export const ociRanges: fc.Arbitrary<BadRequest> = fc.tuple(fc.constantFrom('GET', 'HEAD'), fc.oneof(fc.constantFrom(...BAD_RANGES), randomText.map(s => `bytes=${s}`)))
  .map(([method, range]) => make({ family: 'v2-range', method, path: `/v2/${SEED.ociRepo}/blobs/${SEED.layerDigest}`, headers: { range: enc(range) } }))

const MANIFEST_TYPES = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json', 'application/json', 'text/html', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']

/** A helm chart as `helm push` stores it: the CNR index lists it as package fuzz/app, media type helm. */
export const validShape = (): Record<string, unknown> => ({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: SEED.configDigest, size: 2 },
  layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: SEED.layerDigest, size: validChart.length }]
})

/** True for the few random values that are valid in that field (a string map of annotations, schemaVersion 2...). */
function isValidField (field: string, value: unknown): boolean {
  if (field === 'annotations') return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every(v => typeof v === 'string')
  if (field === 'schemaVersion') return value === 2
  if (field === 'mediaType') return value === 'application/vnd.oci.image.manifest.v1+json'
  return false
}

/** Manifest bodies that no registry may accept. */
const badManifestBody: fc.Arbitrary<{ body: Buffer, label?: string }> = fc.oneof(
  randomText.map(s => ({ body: Buffer.from(s) })),
  fc.constantFrom('{', '{"schemaVersion":2,', 'null', '[]', '"manifest"', '2', '{"schemaVersion":2}', '{"__proto__":{"x":1}}').map(s => ({ body: Buffer.from(s) })),
  fc.record({ field: fc.constantFrom('schemaVersion', 'mediaType', 'config', 'layers', 'subject', 'annotations'), value: fc.anything({ maxDepth: 2 }) })
    .filter(({ field, value }) => value !== undefined && !isValidField(field, value))
    .map(({ field, value }) => ({ body: Buffer.from(JSON.stringify({ ...validShape(), [field]: field === 'layers' ? [value] : value })), label: `a manifest with ${field} = ${printable(JSON.stringify(value) ?? 'undefined', 80)}` }))
    .filter(({ body }) => !body.equals(Buffer.from(JSON.stringify(validShape())))),
  fc.constantFrom(
    { body: Buffer.from(JSON.stringify({ ...validShape(), layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: UNKNOWN_DIGEST, size: 1 }] })), label: 'a manifest whose layer is not in the repository' },
    { body: Buffer.from(JSON.stringify({ ...validShape(), config: { mediaType: 'x', digest: SEED.configDigest, size: 99999999999999999999 } })), label: 'a manifest whose config size is 1e20' },
    { body: Buffer.from(`{"schemaVersion":2,"x":${deepJson(100_000)}}`), label: 'a manifest with 100,000 nested arrays' },
    { body: Buffer.from(`{"schemaVersion":2,"x":${deepObjectJson(20_000)}}`), label: 'a manifest with 20,000 nested objects' },
    { body: Buffer.from(JSON.stringify({ ...validShape(), annotations: { pad: 'x'.repeat(5 * 1024 * 1024) } })), label: 'a 5 MiB manifest' },
    { body: Buffer.from(`{"schemaVersion":2,"schemaVersion":"2","layers":[],"config":{}}`), label: 'a manifest with duplicate keys' },
    { body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(validShape()).replace('2', '2.0'))]), label: 'a BOM and schemaVersion 2.0' },
    { body: Buffer.from([0xff, 0xfe, 0x00, 0x7b]), label: 'invalid UTF-8' }
  )
)

export const ociManifests: fc.Arbitrary<BadRequest> = fc.tuple(
  fc.oneof(fc.constant('2.0.0'), fc.constant('latest'), badReference), fc.constantFrom(...MANIFEST_TYPES), badManifestBody
).map(([ref, type, { body, label }]) => make({
  family: 'v2-manifest', method: 'PUT', path: `/v2/${SEED.ociRepo}/manifests/${enc(ref)}`, headers: { 'content-type': type }, body, bodyLabel: label
}))

/** A valid manifest whose CNR metadata annotation holds deeply nested JSON (the issue's item 3). */
export const deepMetadataManifest = (): BadRequest => make({
  family: 'v2-manifest',
  method: 'PUT',
  path: `/v2/${SEED.ociRepo}/manifests/3.0.0`,
  headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
  body: Buffer.from(JSON.stringify({ ...validShape(), annotations: { 'org.berth.cnr.metadata': deepJson(5000) } })),
  bodyLabel: 'a valid manifest whose org.berth.cnr.metadata annotation nests 5,000 arrays',
  mayWrite: true
})

const BAD_CONTENT_RANGES = ['0-5', '5-10', 'abc', '0-99999999999999999999', '-1-5', '10-5', 'bytes 0-5/6', '0--1', '', '0-0', '1-1', '99999999999999999999-99999999999999999999']
export const ociUploads: fc.Arbitrary<BadRequest> = fc.oneof(
  fc.tuple(fc.constantFrom(...BAD_CONTENT_RANGES), fc.uint8Array({ maxLength: 40 })).map(([range, body]) => make({
    family: 'v2-upload', needsUpload: true, method: 'PATCH', path: '{upload}', headers: { 'content-range': range, 'content-type': 'application/octet-stream' }, body: Buffer.from(body)
  })),
  fc.tuple(fc.oneof(badDigest, fc.constant(UNKNOWN_DIGEST)), fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.constantFrom('', '0-5', 'abc')).map(([digest, body, range]) => make({
    family: 'v2-upload', needsUpload: true, method: 'PUT', path: `{upload}${'{q}'}digest=${enc(digest)}`, headers: range === '' ? { 'content-type': 'application/octet-stream' } : { 'content-range': range, 'content-type': 'application/octet-stream' }, body: Buffer.from(body)
  })),
  fc.constantFrom('', 'digest=', 'digest=a&digest=b', `digest=${UNKNOWN_DIGEST}`).map(q => make({ family: 'v2-upload', needsUpload: true, method: 'PUT', path: `{upload}{q}${q}` })),
  fc.tuple(fc.constantFrom('GET', 'DELETE', 'PATCH', 'PUT'), fc.constantFrom('00000000-0000-0000-0000-000000000000', '..', '%2e%2e', longName(600), 'a/b', '%00', 'state'))
    .map(([method, id]) => make({ family: 'v2-upload', method, path: `/v2/${SEED.ociRepo}/blobs/uploads/${id}` }))
)

// ---- CNR -----------------------------------------------------------------------------------------------

const ROOTS = ['/cnr/api/v1', '/api/v1']
const root = fc.constantFrom(...ROOTS)

/** A pool entry: the value, whether it is wrong for sure, and its name in a failure message. */
interface Part { value: unknown, verdict: 'good' | 'bad' | 'dubious', label: string }
const good = (value: unknown, label = JSON.stringify(value)): Part => ({ value, verdict: 'good', label })
const bad = (value: unknown, label = printable(JSON.stringify(value) ?? 'undefined', 60)): Part => ({ value, verdict: 'bad', label })
const dubious = (value: unknown, label = printable(JSON.stringify(value) ?? 'undefined', 60)): Part => ({ value, verdict: 'dubious', label })
const b64 = (buffer: Buffer): string => buffer.toString('base64')

const blobParts: Part[] = [
  good(b64(validChart), '<valid chart .tgz>'),
  ...[0.1, 0.5, 0.9, 0.98].map(f => bad(b64(truncatedChart(f)), `<.tgz cut at ${f * 100}%>`)),
  bad(b64(validChart.subarray(0, -4)), '<.tgz without its size trailer>'),
  bad(b64(corruptGzip), '<gzip corrupted mid-stream>'),
  bad(b64(gzipNotTar), '<gzip of text, not tar>'),
  bad(b64(notGzip), '<not gzip>'),
  bad('!!!not base64!!!'), bad('===='), bad(b64(validChart).slice(0, -3) + '*'), bad(''), bad(12), bad(null), bad([b64(validChart)]), bad({ data: b64(validChart) }),
  dubious(b64(tarBomb), '<tar of 20,000 entries>')
]
const releaseParts: Part[] = [
  good('2.0.0'), good('2.1.0-rc.1'),
  bad(''), bad('1.0'), bad('v1.0.0'), bad('../x'), bad('1.0.0/../'), bad('-1.0.0'), bad('1.0.0\u0000'), bad('1.0.0\n'), bad(`1.0.0-${'a'.repeat(300)}`),
  bad(1), bad(1.5), bad(['1.0.0']), bad({}), bad(null), bad(true), bad('01.0.0'), bad('1.0.0+b+c'), bad('é.0.0'),
  dubious('99999999999999999999.0.0'), dubious('1.99999999999999999999.0'), dubious('9007199254740993.0.0'), dubious(`1.0.0-${'9'.repeat(30)}`)
]
// Any short media type is valid in CNR ('foo', 'HELM'); a number is coerced today, which is lenient but harmless.
const mediaTypeParts: Part[] = [good('helm'), bad(''), dubious('foo'), dubious(1), bad('../../x'), bad(['helm']), dubious('HELM'), bad('helm\u0000'), bad({})]
const metadataParts: Part[] = [
  good(undefined, '(none)'), good({ a: 1 }),
  dubious('<deep>', '<metadata nested 5,000 levels>'), bad('<deep-100k>', '<metadata nested 100,000 levels>'),
  dubious({ s: 'x'.repeat(100_000) }, '<metadata with a 100 kB string>'), dubious('just a string')
]
const packageNames: Part[] = [
  good('fuzzns/newpkg'), good(SEED.cnrPackage),
  bad('UP/per'), bad('a/..'), bad('%2e%2e/x'), bad(`ns/${longName(600)}`), bad('ns/é'), bad('ns/a%00b'), bad('ns/_x'), bad('ns/-x'), bad('ns/a b')
]

/** The JSON text of a push body (metadata markers become real nesting, built as text). */
function pushJson (fields: Record<string, Part>): string {
  const parts: string[] = []
  for (const [key, part] of Object.entries(fields)) {
    if (part.value === undefined) continue
    let value: string
    if (part.value === '<deep>') value = deepJson(5000)
    else if (part.value === '<deep-100k>') value = deepObjectJson(100_000)
    else value = JSON.stringify(part.value)
    parts.push(`${JSON.stringify(key)}:${value}`)
  }
  return `{${parts.join(',')}}`
}

const pushFields = { pkg: packageNames, blob: blobParts, release: releaseParts, media_type: mediaTypeParts, metadata: metadataParts,
  // Anything but true or "true" reads as false today: lenient, not harmful.
  force: [good(undefined, '(none)'), good('false'), dubious('maybe'), dubious({}), dubious(1)] }
type PushField = keyof typeof pushFields
const pick = (parts: Part[], verdicts: Array<Part['verdict']>): fc.Arbitrary<Part> => fc.constantFrom(...parts.filter(p => verdicts.includes(p.verdict)))

/**
 * Push requests. Most have one wrong field and every other field right, so that each check is reached (a
 * field the server checks first would otherwise hide the tarball and metadata handling behind it); the rest
 * mix wrong fields at random.
 */
const pushParts: fc.Arbitrary<Record<PushField, Part>> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...Object.keys(pushFields) as PushField[]).chain(faulty => fc.record(Object.fromEntries(
    Object.entries(pushFields).map(([field, parts]) => [field, pick(parts, field === faulty ? ['bad', 'dubious'] : ['good'])])) as Record<PushField, fc.Arbitrary<Part>>)) },
  { weight: 1, arbitrary: fc.record(Object.fromEntries(Object.entries(pushFields).map(([field, parts]) => [field, fc.constantFrom(...parts)])) as Record<PushField, fc.Arbitrary<Part>>) }
)

export const cnrPush: fc.Arbitrary<BadRequest> = fc.record({
  root,
  parts: pushParts,
  contentType: fc.constantFrom('application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16')
}).filter(p => Object.values(p.parts).some(x => x.verdict !== 'good'))
  .map(({ root, parts: { pkg, ...fields }, contentType }) => {
    const mayWrite = [pkg, ...Object.values(fields)].every(x => x.verdict !== 'bad')
    const label = `{${Object.entries(fields).filter(([, v]) => v.value !== undefined).map(([k, v]) => `${k}: ${v.label}`).join(', ')}}`
    return make({
      family: 'cnr-push', method: 'POST', path: `${root}/packages/${enc(pkg.value as string)}`,
      headers: { 'content-type': contentType }, body: Buffer.from(pushJson(fields)), bodyLabel: label, mayWrite
    })
  })

/** Push bodies that are not a JSON object at all. */
export const cnrPushShapes: fc.Arbitrary<BadRequest> = fc.tuple(root, fc.oneof(
  fc.constantFrom('[]', '1', 'null', '"str"', '{"blob":', '', 'blob=abc&release=1.0.0', '{"blob":"a","blob":"b"}', deepJson(200_000), '\u0000', '{"__proto__":{"release":"1.0.0"}}'),
  randomText
)).map(([r, body]) => make({ family: 'cnr-push', method: 'POST', path: `${r}/packages/${SEED.cnrPackage}`, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) }))

const BAD_RELEASE_QUERIES = ['>=', '>>1', '1..0', '99999999999999999999.0.0', '>=99999999999999999999', '^', '~=1.x', '*', 'latest', '%ff', longName(600),
  '1.0.0,', ',', '!=', '==1.0.0,<', '%00', '..', '1.0.0-', '<0.0.0-0']
const BAD_CHANNELS = ['1.0.0', 'v1', 'UP', '..', '%00', longName(600), '%C3%A9', 'a%2Fb', '2', 'a b'.replace(' ', '%20')]
const BAD_MEDIA = ['foo', '..', '%00', 'HELM', longName(600)]

/** Bad release queries, channel names, digests and media types on every CNR route (no writing request is valid). */
export const cnrPaths: fc.Arbitrary<BadRequest> = fc.tuple(root, fc.oneof(
  fc.tuple(fc.constantFrom(...BAD_RELEASE_QUERIES, 'default', SEED.cnrRelease), fc.constantFrom('helm', ...BAD_MEDIA), fc.constantFrom('', '/pull', '/pull/json'))
    .map(([rel, media, tail]) => ({ method: 'GET', path: `/packages/${SEED.cnrPackage}/${rel}/${media}${tail}` })),
  fc.tuple(fc.constantFrom(...BAD_RELEASE_QUERIES), fc.constantFrom('helm', ...BAD_MEDIA)).map(([rel, media]) => ({ method: 'DELETE', path: `/packages/${SEED.cnrPackage}/${rel}/${media}` })),
  fc.constantFrom(...BAD_RELEASE_QUERIES).map(rel => ({ method: 'GET', path: `/packages/${SEED.cnrPackage}/${rel}` })),
  fc.tuple(fc.constantFrom(...BAD_CHANNELS), fc.constantFrom('1.0.0', ...BAD_RELEASE_QUERIES), fc.constantFrom('POST', 'DELETE'))
    .map(([channel, rel, method]) => ({ method, path: `/packages/${SEED.cnrPackage}/channels/${channel}/${rel}` })),
  fc.tuple(fc.constantFrom(SEED.cnrChannel, ...BAD_CHANNELS), fc.constantFrom(...BAD_RELEASE_QUERIES), fc.constantFrom('POST', 'DELETE'))
    .map(([channel, rel, method]) => ({ method, path: `/packages/${SEED.cnrPackage}/channels/${channel}/${rel}` })),
  fc.constantFrom(...BAD_CHANNELS).map(channel => ({ method: 'GET', path: `/packages/${SEED.cnrPackage}/channels/${channel}` })),
  fc.constantFrom(...BAD_CHANNELS).map(channel => ({ method: 'DELETE', path: `/packages/${SEED.cnrPackage}/channels/${channel}` })),
  fc.tuple(fc.constantFrom(...BAD_DIGESTS.map(enc), longName(64).replace(/a/g, 'z')), fc.constantFrom('', '/json'))
    .map(([digest, tail]) => ({ method: 'GET', path: `/packages/${SEED.cnrPackage}/blobs/sha256/${digest}${tail}` })),
  fc.tuple(fc.constantFrom('namespace', 'query', 'q', 'media_type', 'n', 'last', 'limit', 'page'), fc.constantFrom(...BAD_NUMBERS, '%ff', longName(3000), '..', '*'))
    .map(([key, value]) => ({ method: 'GET', path: `/packages?${key}=${enc(value)}&${key}=x` })),
  fc.tuple(fc.constantFrom('q', 'query', 'n'), fc.constantFrom('%ff', '', longName(3000), '%00', '*', '\\'))
    .map(([key, value]) => ({ method: 'GET', path: `/packages/search?${key}=${enc(value)}` })),
  fc.tuple(fc.constantFrom(...packageNames.filter(p => p.verdict === 'bad').map(p => enc(p.value as string))), fc.constantFrom('', '/channels', '/deleted', '/1.0.0', '/1.0.0/helm/pull'))
    .map(([name, tail]) => ({ method: 'GET', path: `/packages/${name}${tail}` })),
  fc.constantFrom('PUT', 'PATCH', 'OPTIONS', 'PROPFIND').map(method => ({ method, path: `/packages/${SEED.cnrPackage}` }))
)).map(([r, { method, path }]) => make({ family: 'cnr-paths', method, path: `${r}${path}` }))

/** Login and signup bodies of the wrong shape (an open registry stores nothing for either). */
export const cnrUsers: fc.Arbitrary<BadRequest> = fc.tuple(root, fc.constantFrom('/users/login', '/users'),
  fc.oneof(fc.constantFrom('{"user":1}', '{"user":{"username":[],"password":{}}}', '{"user":{"username":"a"}}', 'null', '[]', '{', deepObjectJson(50_000)),
    fc.anything({ maxDepth: 3 }).map(v => JSON.stringify({ user: v }) ?? '{}'))
).map(([r, p, body]) => make({ family: 'cnr-users', method: 'POST', path: `${r}${p}`, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) }))

// ---- /packages -----------------------------------------------------------------------------------------

const BAD_FILES = ['Foo-1.0.0.tar.gz', '..', 'x.tar.gz', 'foo-1.0.tar.gz', '%2e%2e%2fetc', `${longName(600)}-1.0.0.tar.gz`, 'é-1.0.0.tar.gz', 'foo-1.0.0.tgz',
  'foo-99999999999999999999.0.0.tar.gz', 'foo-1.0.0-.tar.gz', 'foo-01.0.0.tar.gz', '-1.0.0.tar.gz', 'foo-1.0.0.tar.gz%00', 'foo-1.0.0.tar.gz/x', '%ff', 'a%2Fb-1.0.0.tar.gz',
  'foo-1.0.0+build.tar.gz', `foo-1.0.0-${'a'.repeat(200)}.tar.gz`]

export const packagesRequests: fc.Arbitrary<BadRequest> = fc.oneof(
  fc.tuple(fc.constantFrom('GET', 'HEAD', 'PUT', 'DELETE'), fc.oneof(fc.constantFrom(...BAD_FILES), randomText.filter(s => !/-\d+\.\d+\.\d+.*\.tar\.gz$/.test(s))), fc.uint8Array({ maxLength: 64 }))
    .map(([method, file, body]) => make({ family: 'packages', method, path: `/packages/${enc(file)}`, ...(method === 'PUT' ? { body: Buffer.from(body), headers: { 'content-type': 'application/gzip' } } : {}) })),
  fc.tuple(fc.constantFrom('POST', 'PATCH', 'OPTIONS', 'PROPFIND', 'PUT', 'DELETE'), fc.constantFrom('', '/', `/${SEED.packageFile}/x`, '/a/b/c'))
    .filter(([method, tail]) => !(method === 'DELETE' && tail === `/${SEED.packageFile}`))
    .map(([method, tail]) => make({ family: 'packages', method, path: `/packages${tail}`, body: Buffer.from('x'), headers: { 'content-type': 'text/plain' } })),
  fc.constantFrom('POST', 'PATCH', 'PROPFIND').map(method => make({ family: 'packages', method, path: `/packages/${SEED.packageFile}`, body: Buffer.from('x'), headers: { 'content-type': 'application/gzip' } })),
  fc.tuple(fc.constantFrom('recency', 'n', 'last'), fc.constantFrom(...BAD_NUMBERS, '%ff', longName(3000)))
    .map(([key, value]) => make({ family: 'packages', method: 'GET', path: `/packages?${key}=${enc(value)}&${key}=2` }))
)

// ---- malformed HTTP over node:net ----------------------------------------------------------------------

const PREFIXES = ['/v2/fuzz/app/tags/list', '/v2/fuzz/app/blobs/uploads/', `/v2/fuzz/new/blobs/uploads/?digest=${UNKNOWN_DIGEST}`, '/api/v1/packages',
  '/cnr/api/v1/packages/fuzzns/chart', '/api/v1/packages/fuzzns/new', '/packages', '/packages/tool-2.0.0.tar.gz']

const line = (method: string, target: string | Buffer): Buffer => Buffer.concat([Buffer.from(`${method} `), Buffer.isBuffer(target) ? target : Buffer.from(target), Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n')])
const raw = (bytes: Buffer, halfClose = false, mayGoUnanswered = false): BadRequest =>
  make({ family: 'raw-http', method: 'RAW', path: /^\S+ (\S+)/.exec(bytes.toString('latin1'))?.[1] ?? '/', raw: { bytes, halfClose }, mayGoUnanswered })
const cat = (...parts: Array<Buffer | string>): Buffer => Buffer.concat(parts.map(p => Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1')))

export const rawHttp: fc.Arbitrary<BadRequest> = fc.tuple(fc.constantFrom(...PREFIXES), fc.constantFrom(
  'bad-content-length', 'duplicate-content-length', 'te-gzip', 'bad-chunk', 'cut-short', 'control-bytes', 'raw-utf8', 'huge-header',
  'control-content-type', 'unknown-method', 'expect-teapot', 'te-and-cl', 'bare-lf', 'http-0.9', 'space-in-path', 'absolute-uri'
), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([prefix, kind, noise]) => {
  const method = prefix.includes('uploads') || prefix.endsWith('/new') ? 'POST' : prefix.endsWith('.tar.gz') ? 'PUT' : 'GET'
  switch (kind) {
    case 'bad-content-length': return raw(cat(line(method, prefix), 'Content-Length: abc\r\n\r\n'))
    case 'duplicate-content-length': return raw(cat(line(method, prefix), 'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'))
    case 'te-gzip': return raw(cat(line(method, prefix), 'Transfer-Encoding: gzip\r\n\r\nxxxx'))
    case 'bad-chunk': return raw(cat(line(method, prefix), 'Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'))
    case 'cut-short': return raw(cat(line(method, prefix), 'Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n', Buffer.from(noise)), true, true)
    case 'control-bytes': return raw(cat(line(method, cat(prefix, Buffer.from([1, 0x7f, 27])))))
    case 'raw-utf8': return raw(cat(line(method, cat(prefix, '/', Buffer.from('é日本', 'utf8')))))
    case 'huge-header': return raw(cat(line(method, prefix), `X-Big: ${'a'.repeat(20_000)}\r\n\r\n`))
    case 'control-content-type': return raw(cat(line('POST', prefix), 'Content-Type: application/json\x01\x02\r\nContent-Length: 2\r\n\r\n{}'))
    case 'unknown-method': return raw(cat(line('BREW', prefix), '\r\n'))
    case 'expect-teapot': return raw(cat(line(method, prefix), 'Expect: teapot\r\nContent-Length: 2\r\n\r\n{}'))
    case 'te-and-cl': return raw(cat(line(method, prefix), 'Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n'))
    case 'bare-lf': return raw(Buffer.from(`${method} ${prefix} HTTP/1.1\nHost: x\nConnection: close\n\n`))
    case 'http-0.9': return raw(Buffer.from(`GET ${prefix}\r\n\r\n`))
    case 'space-in-path': return raw(Buffer.from(`${method} ${prefix}/a b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`))
    // An absolute-form target is legal HTTP/1.1 (the host is ignored): an empty-file PUT under /packages is a valid upload.
    default: return { ...raw(cat(line(method, `http://evil.example${prefix}`), '\r\n')), mayWrite: true }
  }
})

// ---- archives, once each (the gzip bomb is too costly to draw at random) ------------------------------

export function archiveCases (gzipBomb: Buffer): BadRequest[] {
  const push = (root: string, label: string, blob: Buffer, release: string, mayWrite: boolean, pkg = 'fuzzns/archive'): BadRequest => make({
    family: 'archives', method: 'POST', path: `${root}/packages/${pkg}`, headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify({ blob: blob.toString('base64'), release, media_type: 'helm' })), bodyLabel: `{blob: <${label}>, release: ${release}, media_type: helm}`, mayWrite
  })
  const cases: BadRequest[] = []
  for (const r of ROOTS) {
    for (const f of [0.1, 0.5, 0.9, 0.98]) cases.push(push(r, `.tgz cut at ${f * 100}%`, truncatedChart(f), '5.0.0', false))
    cases.push(push(r, '.tgz without its size trailer', validChart.subarray(0, -4), '5.0.0', false))
    cases.push(push(r, 'gzip corrupted mid-stream', corruptGzip, '5.0.0', false))
    cases.push(push(r, 'gzip of text, not tar', gzipNotTar, '5.0.0', false))
  }
  // The bombs cost seconds of server CPU each: once, under one root (the other shares the code).
  cases.push(push('/cnr/api/v1', 'gzip bomb: 1.06 GiB of zeros unpacked, past the 1 GiB cap', gzipBomb, '5.0.0', false))
  cases.push(push('/api/v1', 'tar of 20,000 entries', tarBomb, '6.0.0', true))
  cases.push(push('/api/v1', 'valid chart', validChart, '99999999999999999999.0.0', true, SEED.cnrPackage))
  cases.push(deepMetadataManifest())
  return cases
}

export const families: Record<string, fc.Arbitrary<BadRequest>> = {
  'v2-paths': ociPaths,
  'v2-query': ociQueries,
  'v2-range': ociRanges,
  'v2-manifest': ociManifests,
  'v2-upload': ociUploads,
  'cnr-push': fc.oneof({ arbitrary: cnrPush, weight: 3 }, { arbitrary: cnrPushShapes, weight: 1 }),
  'cnr-paths': cnrPaths,
  'cnr-users': cnrUsers,
  packages: packagesRequests,
  'raw-http': rawHttp
}

export { sha256 }
