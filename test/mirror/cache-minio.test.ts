// The pull-through cache on MinIO with two replicas sharing one bucket: what one replica fetched, the other
// serves (with the upstream stopped too), tag checks are shared through the store, and concurrent pulls
// spread over both replicas fetch a blob at most once per replica.
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import { createRegistryClient } from '../../src/mirror/registry-client.js'
import { startMinio, uniqueBucket } from '../helpers/minio.js'
import { startServer } from '../helpers/server-process.js'
import { startDistribution } from './cache-upstream.js'

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

t.test('two replicas on MinIO mirror one upstream', async t => {
  const upstream = await startDistribution(t)
  const client = createRegistryClient({ url: upstream.url })
  const layer = randomBytes(3_000_000)
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
  await client.pushBlob('library/app', sha256(layer), layer.length, () => Readable.from([layer]))
  await client.pushBlob('library/app', sha256(config), config.length, () => Readable.from([config]))
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }]
  }))
  await client.putManifest('library/app', 'v1', OCI_MANIFEST, manifest)

  const minio = await startMinio(t)
  const env = {
    ...minio.env(uniqueBucket('mirror')),
    BERTH_MIRRORS: JSON.stringify([{ prefix: 'hub', upstream: upstream.url, upstreamPrefix: 'library', ttlSeconds: 3600 }]),
    LOG_LEVEL: 'error'
  }
  const [a, b] = await Promise.all([startServer(t, env), startServer(t, env)])
  const replicas = [a, b]

  const first = await fetch(`${a.url}/v2/hub/app/manifests/v1`, { headers: { accept: OCI_MANIFEST } })
  t.equal(first.status, 200)
  t.ok(Buffer.from(await first.arrayBuffer()).equals(manifest))
  const tagHeads = (): number => upstream.requests.filter(r => /^(HEAD|GET) \/v2\/library\/app\/manifests\/v1 /.test(r)).length
  const before = tagHeads()
  const second = await fetch(`${b.url}/v2/hub/app/manifests/v1`, { headers: { accept: OCI_MANIFEST } })
  t.ok(Buffer.from(await second.arrayBuffer()).equals(manifest), 'the other replica serves it')
  t.equal(tagHeads(), before, 'within the TTL, the other replica does not ask the upstream (the check is in the store)')

  const bodies = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
    const res = await fetch(`${(replicas[i % 2] as { url: string }).url}/v2/hub/app/blobs/${sha256(layer)}`)
    return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) }
  }))
  for (const body of bodies) {
    t.equal(body.status, 200)
    t.equal(sha256(body.bytes), sha256(layer))
  }
  const fetches = upstream.requests.filter(r => r.startsWith(`GET /v2/library/app/blobs/${sha256(layer)} `)).length
  t.ok(fetches >= 1 && fetches <= 2, `fetched at most once per replica (${fetches})`)

  await upstream.stop()
  for (const replica of replicas) {
    const res = await fetch(`${replica.url}/v2/hub/app/blobs/${sha256(layer)}`)
    t.equal(res.status, 200)
    t.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(layer), 'served with the upstream stopped')
    const m = await fetch(`${replica.url}/v2/hub/app/manifests/${sha256(manifest)}`, { headers: { accept: OCI_MANIFEST } })
    t.equal(m.status, 200)
  }
})
