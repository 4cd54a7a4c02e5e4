// Archives cannot hurt Berth: a truncated, corrupt or oversized tarball pushed through CNR is a 4xx and the
// process lives on (in-process and as a real child process), and a gzip bomb pushed through /v2 is indexed
// within a bounded budget instead of being unpacked whole inside the request.
import { Readable } from 'node:stream'
import { createGzip, gzipSync } from 'node:zlib'
import t, { type Test } from 'tap'
import tar from 'tar-stream'
import { DEFAULT_LIMITS, TarballError, cnrDigestOf, inspectTarball } from '../../src/cnr/tarball.js'
import { startServer } from '../helpers/server-process.js'
import { type Api, KPM_FILES, assertCnrError, cnrDigest, push, request, sha256, tarGz } from './helpers.js'
import { putPackageManifest, startStoreApi } from './store.js'

async function collect (stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** A tarball with one file of `size` bytes (random, so the gzip is as large as the tar). */
async function tarWithFile (size: number, fill?: number): Promise<Buffer> {
  const pack = tar.pack()
  const content = fill === undefined ? Buffer.from(Array.from({ length: size }, (_, i) => (i * 7919) % 251)) : Buffer.alloc(size, fill)
  pack.entry({ name: 'pkg/data.bin', mtime: new Date(0) }, content)
  pack.finalize()
  return await collect(pack)
}

/** A gzipped tar whose one file holds `bytes` zeros, compressed as it is produced (a few hundred KiB per GiB). */
async function zeroTarGz (bytes: number): Promise<Buffer> {
  const pack = tar.pack()
  const file = pack.entry({ name: 'pkg/zeros', size: bytes, mtime: new Date(0) }) as unknown as NodeJS.WritableStream
  const gz = collect(Readable.from(pack as AsyncIterable<Buffer>).pipe(createGzip()))
  const chunk = Buffer.alloc(1024 * 1024)
  for (let left = bytes; left > 0; left -= chunk.length) {
    if (!file.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await new Promise(resolve => file.once('drain', resolve))
  }
  file.end()
  pack.finalize()
  return await gz
}

/** The bad archives of the report, base64-encoded as a push carries them. */
let archives: Array<[string, Buffer, RegExp]> | undefined
async function badArchives (): Promise<Array<[string, Buffer, RegExp]>> {
  archives ??= await makeBadArchives()
  return archives
}

async function makeBadArchives (): Promise<Array<[string, Buffer, RegExp]>> {
  const tgz = gzipSync(await tarWithFile(200_000))
  const corrupt = Buffer.from(tgz)
  corrupt.fill(0x55, Math.floor(tgz.length / 2), Math.floor(tgz.length / 2) + 64)
  return [
    ['a truncated .tar.gz', tgz.subarray(0, Math.floor(tgz.length / 2)), /truncated/],
    ['a gzip corrupted mid-stream', corrupt, /gzip|truncated|corrupt/],
    ['a tar over the size limit', await zeroTarGz(DEFAULT_LIMITS.maxUncompressedBytes + 1024 * 1024), /larger than/]
  ]
}

/** The problem an inspection was refused for. */
async function problemOf (inspection: Promise<unknown>): Promise<string | undefined> {
  return await inspection.then(() => undefined, (err: unknown) => err instanceof TarballError ? err.problem : String(err))
}

t.test('inspectTarball: every failure is a TarballError, never an unhandled stream error', async t => {
  let unhandled: unknown
  const onError = (err: unknown): void => { unhandled = err }
  process.on('uncaughtException', onError)
  t.teardown(() => { process.off('uncaughtException', onError) })

  for (const [label, blob] of await badArchives()) {
    await t.rejects(inspectTarball(Readable.from([blob])), TarballError, label)
  }
  const limits = { ...DEFAULT_LIMITS }
  const many = tar.pack()
  for (let i = 0; i < 20; i++) many.entry({ name: `pkg/f${i}` }, 'x')
  many.finalize()
  const manyTgz = gzipSync(await collect(many))
  t.equal(await problemOf(inspectTarball(Readable.from([manyTgz]), { ...limits, maxEntries: 10 })), 'too-many-entries', 'entry count')
  t.equal((await inspectTarball(Readable.from([manyTgz]), { ...limits, maxEntries: 20 })).cnrDigest, cnrDigest(manyTgz), 'at the limit is fine')
  // A source that never ends stops at the time limit. (Its timer does not hold the process open: this one does.)
  const keepAlive = setTimeout(() => {}, 10_000)
  t.teardown(() => { clearTimeout(keepAlive) })
  const endless = new Readable({ read () {} })
  endless.push(manyTgz.subarray(0, 20))
  t.equal(await problemOf(inspectTarball(endless, { ...limits, timeoutMs: 200 })), 'too-slow', 'time')
  await new Promise(resolve => setImmediate(resolve))
  t.equal(unhandled, undefined, 'no uncaught exception')
})

t.test('cnrDigestOf is bounded: past the size limit the blob is its own digest; out of time it is unknown', async t => {
  const member = gzipSync(Buffer.alloc(8 * 1024 * 1024))
  const bomb = Buffer.concat(Array.from({ length: 8 }, () => member)) // 64 MiB of zeros, multi-member gzip
  const open = async (): Promise<Readable> => Readable.from([bomb])
  t.equal(await cnrDigestOf(open, sha256(bomb), { maxUncompressedBytes: 1024 * 1024, timeoutMs: 60_000 }), sha256(bomb).slice(7))
  t.equal(await cnrDigestOf(open, sha256(bomb), { maxUncompressedBytes: 1024 ** 3, timeoutMs: 60_000 }), cnrDigest(bomb))
  const keepAlive = setTimeout(() => {}, 10_000)
  t.teardown(() => { clearTimeout(keepAlive) })
  const endless = async (): Promise<Readable> => new Readable({ read () {} })
  t.equal(await cnrDigestOf(endless, sha256(bomb), { maxUncompressedBytes: 1024, timeoutMs: 100 }), undefined)
  const notGzip = Buffer.from('not gzip at all')
  t.equal(await cnrDigestOf(async () => Readable.from([notGzip]), sha256(notGzip)), sha256(notGzip).slice(7))
})

/** Pushes each bad archive and checks the answer: a CNR 422, nothing stored, and a server that still works. */
async function pushBadArchives (t: Test, api: Api): Promise<void> {
  for (const [label, blob, message] of await badArchives()) {
    const res = await push(api, 'a/b', '1.0.0', 'kpm', blob)
    assertCnrError(t, res, 422, 'invalid-parameters')
    t.match(res.json<{ message: string }>().message, message, `${label}: the message says why`)
    t.equal((await api.request('GET', '/cnr/version')).status, 200, `${label}: the server still answers`)
  }
  assertCnrError(t, await api.request('GET', '/cnr/api/v1/packages/a/b'), 404, 'package-not-found')
  const good = await tarGz(KPM_FILES('1.0.0'))
  t.equal((await push(api, 'a/b', '1.0.0', 'kpm', good)).status, 200, 'a good push still works')
}

t.test('bad archives pushed to a real server process: 422, and the process stays alive', async t => {
  const server = await startServer(t, { LOG_LEVEL: 'error' })
  const api: Api = { host: server.host, url: server.url, request: async (method, p, options) => await request(server.url, method, p, options) }
  await pushBadArchives(t, api)
  t.equal(server.child.exitCode, null, 'the process has not exited')
  t.equal(server.child.signalCode, null, 'nor been killed')
})

t.test('bad archives pushed in-process (inject): 422 and nothing left behind', async t => {
  const api = await startStoreApi(t)
  const before = api.keys()
  for (const [label, blob] of await badArchives()) {
    const res = await api.app.inject({
      method: 'POST',
      url: '/api/v1/packages/a/b',
      payload: { blob: blob.toString('base64'), release: '1.0.0' }
    })
    t.equal(res.statusCode, 422, label)
    t.equal(res.json().code, 'invalid-parameters', label)
  }
  t.same(api.keys(), before, 'the store is as it was')
  t.same((await api.request('GET', '/v2/_catalog')).json(), { repositories: [] }, 'no repository')
})

t.test('a gzip bomb pushed through /v2 is indexed on a bounded budget and still lists', async t => {
  const api = await startStoreApi(t)
  // 16 GiB of zeros as a 16 MiB multi-member gzip: unpacking it whole takes about a minute of CPU.
  const member = gzipSync(Buffer.alloc(64 * 1024 * 1024))
  const bomb = Buffer.concat(Array.from({ length: 256 }, () => member))
  const started = Date.now()
  const res = await putPackageManifest(t, api, 'bomb/pkg', '1.0.0', bomb)
  const elapsed = Date.now() - started
  t.equal(res.status, 201, 'the manifest is accepted')
  t.ok(elapsed < 30_000, `the push does not unpack the whole layer (${elapsed} ms)`)

  const list = (await api.request('GET', '/cnr/api/v1/packages')).json<Array<{ name: string, releases: string[] }>>()
  t.same(list.map(p => [p.name, p.releases]), [['bomb/pkg', ['1.0.0']]], 'the package lists')
  const show = await api.request('GET', '/cnr/api/v1/packages/bomb/pkg/1.0.0/kpm')
  t.equal(show.status, 200)
  const digest = show.json<{ content: { digest: string, size: number } }>().content
  t.same(digest, { ...digest, digest: sha256(bomb).slice(7), size: bomb.length }, 'too large to unpack: the digest is the blob\'s own')
  const pulled = await api.request('GET', `/cnr/api/v1/packages/bomb/pkg/blobs/sha256/${digest.digest}`)
  t.equal(pulled.status, 200, 'and a pull by that digest works')
  t.equal(sha256(pulled.body), sha256(bomb), 'with the stored bytes')
})
