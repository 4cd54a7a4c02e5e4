// The remote registry client against real registries: CNCF Distribution (anonymous) and a second Berth with
// users (the Docker token flow), with content pushed by oras and by the client itself.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import t from 'tap'
import { createRegistryClient, RemoteError } from '../../src/mirror/registry-client.js'
import { freePort, startServer } from '../helpers/server-process.js'
import { startDistribution, tool } from './cache-upstream.js'

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

t.test('anonymous Distribution: manifests, blobs, ranges, tags, referrers, pushes', async t => {
  const upstream = await startDistribution(t)
  const dir = t.testdir({ 'hello.txt': 'hello through the client\n', 'sig.txt': 'a signature\n' })
  await tool('oras', ['push', '--plain-http', `${upstream.host}/library/hello:v1`, 'hello.txt'], { cwd: dir })
  await tool('oras', ['tag', '--plain-http', `${upstream.host}/library/hello:v1`, 'v2'], { cwd: dir })
  const manifestBytes = Buffer.from(await tool('oras', ['manifest', 'fetch', '--plain-http', `${upstream.host}/library/hello:v1`]), 'latin1')
  const manifestDigest = sha256(manifestBytes)
  await tool('oras', ['attach', '--plain-http', '--artifact-type', 'application/vnd.example.sig', `${upstream.host}/library/hello@${manifestDigest}`, 'sig.txt'], { cwd: dir })

  const client = createRegistryClient({ url: upstream.url })
  const head = await client.headManifest('library/hello', 'v1')
  t.same(head, { digest: manifestDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: manifestBytes.length })
  const got = await client.getManifest('library/hello', manifestDigest)
  t.equal(got?.digest, manifestDigest)
  t.ok(got?.bytes.equals(manifestBytes), 'the manifest bytes are the upstream\'s')
  t.equal(await client.headManifest('library/hello', 'nope'), undefined, '404 is undefined')
  t.equal(await client.getManifest('library/missing', 'v1'), undefined)

  const layer = (JSON.parse(manifestBytes.toString('utf8')) as { layers: Array<{ digest: string, size: number }> }).layers[0]
  if (layer === undefined) throw new Error('no layer')
  t.same(await client.headBlob('library/hello', layer.digest), { size: layer.size })
  const blob = await client.getBlob('library/hello', layer.digest)
  t.equal(blob?.size, layer.size)
  t.equal((await buffer(blob?.body as Readable)).toString(), 'hello through the client\n')
  const part = await client.getBlob('library/hello', layer.digest, { start: 6, end: 12 })
  t.equal((await buffer(part?.body as Readable)).toString(), 'through')
  t.equal(await client.getBlob('library/hello', sha256('absent')), undefined)

  const tags: string[] = []
  for await (const tag of client.listTags('library/hello')) tags.push(tag)
  t.same(tags.filter(tag => !tag.startsWith('sha256-')).sort(), ['v1', 'v2'])
  await t.rejects(async () => { for await (const _ of client.listTags('library/missing')) {} }, { name: 'RemoteError', status: 404, unavailable: false })

  const referrers = await client.referrers('library/hello', manifestDigest)
  t.equal(referrers.length, 1, 'the attached signature is found through the tag schema')
  t.equal(referrers[0]?.artifactType, 'application/vnd.example.sig')
  t.same(await client.referrers('library/hello', manifestDigest, 'application/other'), [])

  // Push a copy into another repository: the blob by stream, then the manifest.
  const body = await buffer((await client.getBlob('library/hello', layer.digest))?.body as Readable)
  await client.pushBlob('copy/hello', layer.digest, body.length, () => Readable.from([body]))
  await client.pushBlob('copy/hello', layer.digest, body.length, () => { throw new Error('an existing blob is not sent again') })
  const config = (JSON.parse(manifestBytes.toString('utf8')) as { config: { digest: string, size: number, data?: string } }).config
  const configBody = await buffer((await client.getBlob('library/hello', config.digest))?.body as Readable)
  await client.pushBlob('copy/hello', config.digest, configBody.length, () => Readable.from([configBody]))
  const pushed = await client.putManifest('copy/hello', 'latest', 'application/vnd.oci.image.manifest.v1+json', manifestBytes)
  t.equal(pushed, manifestDigest)
  t.equal((await client.getManifest('copy/hello', 'latest'))?.digest, manifestDigest)
  await t.rejects(client.pushBlob('copy/hello', sha256('other'), 5, () => Readable.from([Buffer.from('wrong')])), RemoteError, 'a body that does not match its digest is refused upstream')
})

t.test('a second Berth with users: the Docker token flow, with and without credentials', async t => {
  const upstream = await startServer(t, { BERTH_ADMIN_USER: 'root', BERTH_ADMIN_PASSWORD: 'root-password-1' })
  const root = createRegistryClient({ url: upstream.url, username: 'root', password: 'root-password-1' })
  const data = Buffer.from('private content\n')
  const digest = sha256(data)
  await root.pushBlob('team/app', digest, data.length, () => Readable.from([data]))
  const config = Buffer.from('{}')
  await root.pushBlob('team/app', sha256(config), config.length, () => Readable.from([config]))
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/octet-stream', digest, size: data.length }]
  }))
  t.equal(await root.putManifest('team/app', 'v1', 'application/vnd.oci.image.manifest.v1+json', manifest), sha256(manifest))
  const got = await root.getManifest('team/app', 'v1')
  t.ok(got?.bytes.equals(manifest))
  t.equal((await buffer((await root.getBlob('team/app', digest))?.body as Readable)).toString(), 'private content\n')

  const anonymous = createRegistryClient({ url: upstream.url })
  await t.rejects(anonymous.getManifest('team/app', 'v1'), { name: 'RemoteError', status: 401, unavailable: false })
  const wrong = createRegistryClient({ url: upstream.url, username: 'root', password: 'not-the-password' })
  await t.rejects(wrong.headManifest('team/app', 'v1'), { name: 'RemoteError', status: 401, unavailable: false })
})

t.test('an unreachable registry is unavailable', async t => {
  const client = createRegistryClient({ url: `http://127.0.0.1:${await freePort()}`, timeoutMs: 5000 })
  await t.rejects(client.headManifest('library/x', 'v1'), { name: 'RemoteError', unavailable: true })
})
