// The pull-through cache against a real upstream (CNCF Distribution): images pushed upstream by crane and
// oras are pulled through Berth by crane, oras and plain HTTP, byte for byte with the upstream's digests; 20
// concurrent pulls of a blob fetch it once; tags appear and move; pushes into the prefix are refused; and
// with the upstream stopped, what was pulled is still served.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startServer } from '../helpers/server-process.js'
import { Scrape } from '../metrics/scrape.js'
import { startDistribution, tool } from './cache-upstream.js'

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`
const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json'

/** A tar archive holding one file of `size` random bytes (crane gzips it into a layer). */
function layerTar (dir: string, name: string, size: number): string {
  const content = randomBytes(size)
  const header = Buffer.alloc(512)
  header.write(name, 0, 'utf8')
  header.write('0000644\0', 100)
  header.write('0000000\0', 108)
  header.write('0000000\0', 116)
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124)
  header.write('00000000000\0', 136)
  header.write('        ', 148)
  header.write('0', 156)
  header.write('ustar\0' + '00', 257)
  let sum = 0
  for (const byte of header) sum += byte
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  const padding = Buffer.alloc((512 - (size % 512)) % 512)
  const file = path.join(dir, `${name}.tar`)
  writeFileSync(file, Buffer.concat([header, content, padding, Buffer.alloc(1024)]))
  return file
}

t.test('Berth as a pull-through cache of CNCF Distribution', async t => {
  const upstream = await startDistribution(t)
  const dir = t.testdir({ 'notes.txt': 'notes pushed by oras\n' })
  const crane = async (...args: string[]): Promise<string> => await tool('crane', ['--insecure', ...args], { cwd: dir })
  await crane('append', '-f', layerTar(dir, 'one', 300_000), '-t', `${upstream.host}/library/alpine:3.20`)
  await crane('append', '-f', layerTar(dir, 'big', 4_000_000), '-t', `${upstream.host}/library/big:v1`)
  await tool('oras', ['push', '--plain-http', `${upstream.host}/library/notes:v1`, 'notes.txt'], { cwd: dir })

  const mirrors = [
    { prefix: 'hub', upstream: upstream.url, upstreamPrefix: 'library', ttlSeconds: 86400 },
    { prefix: 'fast', upstream: upstream.url, upstreamPrefix: 'library', ttlSeconds: 1 }
  ]
  const berth = await startServer(t, { BERTH_MIRRORS: JSON.stringify(mirrors), LOG_LEVEL: 'error' })
  const get = async (p: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Response> =>
    await fetch(`${berth.url}${p}`, { method, headers })

  await t.test('crane and oras pull byte-identical content with the upstream\'s digests', async t => {
    const want = Buffer.from(await crane('manifest', `${upstream.host}/library/alpine:3.20`), 'latin1')
    const got = Buffer.from(await crane('manifest', `${berth.host}/hub/alpine:3.20`), 'latin1')
    t.ok(got.equals(want), 'the manifest bytes are the upstream\'s')
    t.equal((await crane('digest', `${berth.host}/hub/alpine:3.20`)).trim(), sha256(want))
    await crane('pull', '--format', 'oci', `${berth.host}/hub/alpine:3.20`, path.join(dir, 'through'))
    await crane('pull', '--format', 'oci', `${upstream.host}/library/alpine:3.20`, path.join(dir, 'direct'))
    const blobs = (root: string): string[] => readdirSync(path.join(root, 'blobs', 'sha256')).sort()
    t.same(blobs(path.join(dir, 'through')), blobs(path.join(dir, 'direct')), 'the same blobs')
    for (const hex of blobs(path.join(dir, 'through'))) {
      const bytes = readFileSync(path.join(dir, 'through', 'blobs', 'sha256', hex))
      t.equal(sha256(bytes), `sha256:${hex}`)
      t.ok(bytes.equals(readFileSync(path.join(dir, 'direct', 'blobs', 'sha256', hex))))
    }
    await tool('oras', ['pull', '--plain-http', '-o', path.join(dir, 'pulled'), `${berth.host}/hub/notes:v1`], { cwd: dir })
    t.equal(readFileSync(path.join(dir, 'pulled', 'notes.txt'), 'utf8'), 'notes pushed by oras\n')
    // Pulled again, everything is a hit: no new upstream GET.
    const before = upstream.requests.filter(r => r.startsWith('GET ')).length
    t.ok(Buffer.from(await crane('manifest', `${berth.host}/hub/alpine:3.20`), 'latin1').equals(want))
    await crane('pull', '--format', 'oci', `${berth.host}/hub/alpine:3.20`, path.join(dir, 'again'))
    t.equal(upstream.requests.filter(r => r.startsWith('GET ')).length, before, 'a second pull is served from the store')
  })

  await t.test('20 concurrent pulls of a blob fetch it from the upstream once', async t => {
    const manifest = JSON.parse(await crane('manifest', `${berth.host}/hub/big:v1`)) as { layers: Array<{ digest: string, size: number }> }
    const layer = manifest.layers[0] as { digest: string, size: number }
    const bodies = await Promise.all(Array.from({ length: 20 }, async () => {
      const res = await get(`/v2/hub/big/blobs/${layer.digest}`)
      return { status: res.status, digest: res.headers.get('docker-content-digest'), bytes: Buffer.from(await res.arrayBuffer()) }
    }))
    for (const body of bodies) {
      t.equal(body.status, 200)
      t.equal(body.digest, layer.digest)
      t.equal(body.bytes.length, layer.size)
      t.equal(sha256(body.bytes), layer.digest)
    }
    const fetches = upstream.requests.filter(r => r.startsWith(`GET /v2/library/big/blobs/${layer.digest} `))
    t.equal(fetches.length, 1, 'the upstream served the blob once')
    const range = await get(`/v2/hub/big/blobs/${layer.digest}`, { range: 'bytes=10-19' })
    t.equal(range.status, 206)
    t.equal((await range.arrayBuffer()).byteLength, 10)
  })

  await t.test('a new tag upstream appears, and a moved tag is seen after its TTL', async t => {
    await crane('tag', `${upstream.host}/library/alpine:3.20`, '3.21')
    const list = await get('/v2/hub/alpine/tags/list')
    t.same(((await list.json()) as { tags: string[] }).tags, ['3.20', '3.21'])
    const old = (await crane('digest', `${berth.host}/hub/alpine:3.20`)).trim()
    t.equal((await crane('digest', `${berth.host}/hub/alpine:3.21`)).trim(), old)
    t.equal((await crane('digest', `${berth.host}/fast/alpine:3.20`)).trim(), old)

    await crane('append', '-f', layerTar(dir, 'two', 1000), '-t', `${upstream.host}/library/alpine:3.20`)
    const moved = (await crane('digest', `${upstream.host}/library/alpine:3.20`)).trim()
    t.not(moved, old)
    t.equal((await crane('digest', `${berth.host}/hub/alpine:3.20`)).trim(), old, 'within its TTL (a day) the tag is served as held')
    await new Promise(resolve => setTimeout(resolve, 1500))
    const heads = upstream.requests.filter(r => r.startsWith('HEAD /v2/library/alpine/manifests/3.20 ')).length
    t.equal((await crane('digest', `${berth.host}/fast/alpine:3.20`)).trim(), moved, 'after its TTL (1 s) the move is seen')
    t.ok(upstream.requests.filter(r => r.startsWith('HEAD /v2/library/alpine/manifests/3.20 ')).length > heads, 'checked with a HEAD')
    await crane('pull', '--format', 'oci', `${berth.host}/fast/alpine:3.20`, path.join(dir, 'moved'))
  })

  await t.test('pushes into a mirror prefix are refused', async t => {
    const res = await get('/v2/hub/alpine/blobs/uploads/', {}, 'POST')
    t.equal(res.status, 403)
    const body = await res.json() as { errors: Array<{ code: string, message: string }> }
    t.equal(body.errors[0]?.code, 'DENIED')
    t.match(body.errors[0]?.message, /mirror prefix "hub\/"/)
    const del = await get('/v2/hub/alpine/manifests/3.20', {}, 'DELETE')
    t.equal(del.status, 403)
    await t.rejects(crane('copy', `${upstream.host}/library/notes:v1`, `${berth.host}/hub/mine:v1`), /DENIED/)
    t.equal((await get('/v2/hub/mine/tags/list')).status, 404, 'nothing was written')
  })

  await t.test('metrics count hits, misses and fetched bytes', async t => {
    const scrape = new Scrape(await (await get('/metrics')).text())
    t.ok(scrape.value('berth_mirror_requests_total', { mirror: 'hub', result: 'hit' }) > 0)
    t.ok(scrape.value('berth_mirror_requests_total', { mirror: 'hub', result: 'miss' }) > 0)
    t.ok(scrape.value('berth_mirror_fetched_bytes_total', { mirror: 'hub' }) > 4_000_000)
  })

  await t.test('with the upstream stopped, what was pulled is served and the rest is 404', async t => {
    const manifest = Buffer.from(await crane('manifest', `${berth.host}/fast/alpine:3.20`), 'latin1')
    const layer = (JSON.parse(manifest.toString('utf8')) as { layers: Array<{ digest: string }> }).layers[0]?.digest as string
    await upstream.stop()
    await new Promise(resolve => setTimeout(resolve, 1100)) // past the TTL of "fast": the tag is checked again
    const stale = await get('/v2/fast/alpine/manifests/3.20', { accept: MANIFEST_ACCEPT })
    t.equal(stale.status, 200)
    t.equal(stale.headers.get('berth-mirror'), 'stale; upstream unavailable')
    t.ok(Buffer.from(await stale.arrayBuffer()).equals(manifest))
    t.equal((await get(`/v2/fast/alpine/manifests/${sha256(manifest)}`, { accept: MANIFEST_ACCEPT })).status, 200, 'by digest')
    const blob = await get(`/v2/fast/alpine/blobs/${layer}`)
    t.equal(blob.status, 200)
    t.equal(sha256(Buffer.from(await blob.arrayBuffer())), layer)
    const pulled = await crane('manifest', `${berth.host}/hub/alpine:3.20`)
    t.ok(pulled.length > 0, 'crane still pulls')
    const list = await get('/v2/fast/alpine/tags/list')
    t.equal(list.status, 200)
    t.equal(list.headers.get('berth-mirror'), 'stale; upstream unavailable')
    t.same(((await list.json()) as { tags: string[] }).tags, ['3.20'])

    const never = await get('/v2/hub/alpine/manifests/never-pulled', { accept: MANIFEST_ACCEPT })
    t.equal(never.status, 404)
    t.equal(never.headers.get('berth-mirror'), 'upstream unavailable')
    t.equal(((await never.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'MANIFEST_UNKNOWN')
    t.equal((await get('/v2/hub/nothing/blobs/' + sha256('x'))).status, 404)
    t.equal((await get('/v2/local/app/manifests/v1')).status, 404, 'names outside every prefix are untouched')
  })
})
