// The pull-through cache in front of an upstream that needs credentials (a second Berth with users: the
// Docker token flow), in front of one that lies about a blob's bytes (nothing unverified is stored), and in
// front of a slow one (bytes reach the client as they arrive).
import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import t from 'tap'
import { createRegistryClient } from '../../src/mirror/registry-client.js'
import { startServer } from '../helpers/server-process.js'
import { tool } from './cache-upstream.js'

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

t.test('an upstream Berth with users, through the Docker token flow', async t => {
  const upstream = await startServer(t, { BERTH_ADMIN_USER: 'root', BERTH_ADMIN_PASSWORD: 'root-password-1' })
  const root = createRegistryClient({ url: upstream.url, username: 'root', password: 'root-password-1' })
  const layer = randomBytes(200_000)
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
  await root.pushBlob('team/app', sha256(layer), layer.length, () => Readable.from([layer]))
  await root.pushBlob('team/app', sha256(config), config.length, () => Readable.from([config]))
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }]
  }))
  await root.putManifest('team/app', 'v1', OCI_MANIFEST, manifest)

  const mirror = await startServer(t, {
    BERTH_MIRRORS: JSON.stringify([
      { prefix: 'up', upstream: upstream.url, username: 'root', password: 'root-password-1' },
      { prefix: 'anon', upstream: upstream.url }
    ]),
    LOG_LEVEL: 'error'
  })
  const got = Buffer.from(await tool('crane', ['manifest', `${mirror.host}/up/team/app:v1`]), 'latin1')
  t.ok(got.equals(manifest), 'the manifest bytes are the upstream\'s')
  const blob = await fetch(`${mirror.url}/v2/up/team/app/blobs/${sha256(layer)}`)
  t.equal(blob.status, 200)
  t.ok(Buffer.from(await blob.arrayBuffer()).equals(layer), 'the layer bytes are the upstream\'s')

  const refused = await fetch(`${mirror.url}/v2/anon/team/app/manifests/v1`, { headers: { accept: OCI_MANIFEST } })
  t.equal(refused.status, 404, 'without credentials the upstream refuses, and nothing is held')
  t.equal(refused.headers.get('berth-mirror'), 'upstream error 401')
})

t.test('a blob whose upstream bytes do not match its digest is cut short and never stored', async t => {
  const real = randomBytes(100_000)
  const digest = sha256(real)
  let lying = true
  const liar = createServer((req, res) => {
    if (req.url === `/v2/lib/x/blobs/${digest}` && lying) {
      const forged = randomBytes(real.length)
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': forged.length, 'docker-content-digest': digest })
      res.end(req.method === 'HEAD' ? undefined : forged)
      return
    }
    res.writeHead(404, { 'content-type': 'application/json' })
    res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}')
  })
  await new Promise<void>(resolve => liar.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { liar.close() })
  const mirror = await startServer(t, {
    BERTH_MIRRORS: JSON.stringify([{ prefix: 'liar', upstream: `http://127.0.0.1:${(liar.address() as AddressInfo).port}`, upstreamPrefix: 'lib' }]),
    LOG_LEVEL: 'error'
  })
  const url = `${mirror.url}/v2/liar/x/blobs/${digest}`
  await t.rejects((async () => { await (await fetch(url)).arrayBuffer() })(), 'the response is cut short')
  lying = false
  const after = await fetch(url)
  t.equal(after.status, 404, 'nothing was stored')
  t.equal(((await after.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'BLOB_UNKNOWN')
})

t.test('blob bytes reach the client while the upstream is still sending them', async t => {
  const blob = randomBytes(1_000_000)
  const digest = sha256(blob)
  let release: () => void = () => {}
  const released = new Promise<void>(resolve => { release = resolve })
  let fetched = 0
  const slow = createServer((req, res) => {
    if (req.url !== `/v2/lib/y/blobs/${digest}`) { res.writeHead(404).end(); return }
    fetched++
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length })
    // The first half, then the rest only once the test has seen bytes arrive through Berth.
    res.write(blob.subarray(0, 500_000))
    void released.then(() => { res.end(blob.subarray(500_000)) })
  })
  await new Promise<void>(resolve => slow.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { release(); slow.close() })
  const mirror = await startServer(t, {
    BERTH_MIRRORS: JSON.stringify([{ prefix: 'slow', upstream: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`, upstreamPrefix: 'lib' }]),
    LOG_LEVEL: 'error'
  })
  const res = await fetch(`${mirror.url}/v2/slow/y/blobs/${digest}`)
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-length'), String(blob.length))
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const chunks: Buffer[] = []
  let received = 0
  while (received === 0) {
    const { value, done } = await reader.read()
    if (done) break
    chunks.push(Buffer.from(value)); received += value.length
  }
  t.ok(received > 0 && received <= 500_000, `bytes arrived before the upstream sent the rest (${received})`)
  release()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    chunks.push(Buffer.from(value))
  }
  t.ok(Buffer.concat(chunks).equals(blob), 'the whole blob, byte for byte')
  const again = await fetch(`${mirror.url}/v2/slow/y/blobs/${digest}`)
  t.ok(Buffer.from(await again.arrayBuffer()).equals(blob), 'then served from the store')
  t.equal(fetched, 1, 'fetched once')
})
