// Registry events: the registry services tell exactly what they wrote, after the write, whichever door called
// them; listeners are awaited, and a listener that fails is logged without failing the write.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config.js'
import { createEvents, type RegistryEvent } from '../../src/registry/events.js'
import { createRegistry, type Registry } from '../../src/registry/index.js'
import { createDriver } from '../../src/storage/factory.js'

const AT = '2024-05-06T07:08:09.000Z'
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

interface Fixture {
  registry: Registry
  seen: RegistryEvent[]
  warnings: Array<{ details: object, message: string }>
}

/** A registry over a fresh filesystem store, with a fixed clock and every event recorded. */
async function fixture (t: Test): Promise<Fixture> {
  const config = loadConfig({ BERTH_DATA_DIR: t.testdir(), LOG_LEVEL: 'silent' })
  const driver = await createDriver(config.storage)
  t.teardown(async () => { await driver.close() })
  const warnings: Fixture['warnings'] = []
  const events = createEvents({ warn: (details, message) => { warnings.push({ details, message }) } }, () => new Date(AT))
  const seen: RegistryEvent[] = []
  events.onAny(event => { seen.push(event) })
  return { registry: createRegistry(driver, { uploadTtlMs: 60_000, events }), seen, warnings }
}

/** Uploads a layer and the empty config, and returns a manifest of them (not yet pushed). */
async function artifact (registry: Registry, name: string, content: string): Promise<{ bytes: Buffer, digest: string, layer: string }> {
  const layer = Buffer.from(content)
  await registry.uploads.putMonolithic(name, sha256(layer), Readable.from([layer]))
  await registry.uploads.putMonolithic(name, sha256('{}'), Readable.from([Buffer.from('{}')]))
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }]
  }))
  return { bytes, digest: sha256(bytes), layer: sha256(layer) }
}

t.test('uploads, a tagged put, a tag delete and a digest delete, with their exact events', async t => {
  const { registry, seen, warnings } = await fixture(t)
  const repository = 'acme/app'
  const one = await artifact(registry, repository, 'layer one')
  t.same(seen, [
    { type: 'repository-created', repository, at: AT },
    { type: 'blob-committed', repository, digest: one.layer, size: 9, at: AT },
    { type: 'blob-committed', repository, digest: sha256('{}'), size: 2, at: AT }
  ], 'the first write creates the repository; each upload commits a blob')

  seen.length = 0
  await registry.manifests.put(repository, '1.0.0', one.bytes, MANIFEST, ['latest'])
  const target = { digest: one.digest, mediaType: MANIFEST, size: one.bytes.length }
  t.same(seen, [
    { type: 'manifest-put', repository, ...target, at: AT },
    { type: 'tag-set', repository, tag: '1.0.0', ...target, at: AT },
    { type: 'tag-set', repository, tag: 'latest', ...target, at: AT },
    { type: 'push-completed', repository, ...target, tags: ['1.0.0', 'latest'], at: AT }
  ], 'the manifest, then each tag it was pushed with, then the whole push')

  seen.length = 0
  await registry.manifests.delete(repository, 'latest')
  t.same(seen, [{ type: 'tag-deleted', repository, tag: 'latest', digest: one.digest, at: AT }], 'a tag delete removes only the tag')

  seen.length = 0
  await registry.manifests.put(repository, one.digest, one.bytes, MANIFEST, ['stable'])
  t.same(seen.map(e => e.type), ['manifest-put', 'tag-set', 'push-completed'], 'a put by digest with ?tag=')
  seen.length = 0
  await registry.manifests.delete(repository, one.digest)
  t.same(seen, [
    { type: 'tag-deleted', repository, tag: '1.0.0', digest: one.digest, at: AT },
    { type: 'tag-deleted', repository, tag: 'stable', digest: one.digest, at: AT },
    { type: 'manifest-deleted', repository, ...target, at: AT },
    { type: 'repository-emptied', repository, at: AT }
  ], 'a digest delete names every tag it removed, then the manifest; the last manifest empties the repository')

  seen.length = 0
  await registry.blobs.delete(repository, one.layer)
  t.same(seen, [{ type: 'blob-deleted', repository, digest: one.layer, at: AT }])
  t.same(warnings, [])
})

t.test('a manifest delete that leaves others does not empty the repository; a subject is told', async t => {
  const { registry, seen } = await fixture(t)
  const one = await artifact(registry, 'a/b', 'one')
  await registry.manifests.put('a/b', 'one', one.bytes, MANIFEST)
  const referrer = Buffer.from(JSON.stringify({ ...JSON.parse(one.bytes.toString('utf8')), subject: { mediaType: MANIFEST, digest: one.digest, size: one.bytes.length } }))
  seen.length = 0
  await registry.manifests.put('a/b', sha256(referrer), referrer, MANIFEST)
  const put = { repository: 'a/b', digest: sha256(referrer), mediaType: MANIFEST, size: referrer.length, subject: one.digest, at: AT }
  t.same(seen, [{ type: 'manifest-put', ...put }, { type: 'push-completed', ...put, tags: [] }])
  seen.length = 0
  await registry.manifests.delete('a/b', one.digest)
  t.same(seen.map(e => e.type), ['tag-deleted', 'manifest-deleted'], 'the referrer is still there')
})

t.test('listeners are awaited before the write returns; one that fails is logged and the write stands', async t => {
  const { registry, warnings } = await fixture(t)
  const events = registry.events
  const one = await artifact(registry, 'a/b', 'one')
  const order: string[] = []
  events.on('tag-set', async () => { throw new Error('subscriber down') })
  events.on('tag-set', async event => {
    await new Promise(resolve => setTimeout(resolve, 20))
    order.push(`listener saw ${event.tag}`)
  })
  const unsubscribe = events.on('tag-deleted', () => { order.push('tag-deleted') })
  unsubscribe()

  await registry.manifests.put('a/b', '1.0.0', one.bytes, MANIFEST)
  order.push('put returned')
  t.same(order, ['listener saw 1.0.0', 'put returned'], 'the slow listener ran to its end first; the next one still ran')
  t.same(await registry.tags.get('a/b', '1.0.0'), { digest: one.digest, mediaType: MANIFEST, size: one.bytes.length }, 'the tag is stored')
  t.equal(warnings.length, 1)
  t.match(warnings[0], { message: /tag-set/, details: { err: { message: 'subscriber down' }, event: { type: 'tag-set', repository: 'a/b', tag: '1.0.0' } } })

  await registry.manifests.delete('a/b', '1.0.0')
  t.same(order, ['listener saw 1.0.0', 'put returned'], 'an unsubscribed listener is not called')
})

t.test('read events reach only listeners of their type, and listens() says whether one is there', async t => {
  const { registry, seen } = await fixture(t)
  const { events } = registry
  t.notOk(events.listens('manifest-pulled'), 'onAny does not count')
  const pulls: unknown[] = []
  const off = events.on('manifest-pulled', event => { pulls.push(event) })
  t.ok(events.listens('manifest-pulled'))
  const pull = { repository: 'a/b', reference: 'v1', digest: sha256('x'), mediaType: MANIFEST, size: 1 }
  await events.emit('manifest-pulled', pull)
  t.same(pulls, [{ type: 'manifest-pulled', ...pull, at: AT }])
  t.same(seen, [], 'an onAny listener hears writes only')
  off()
  t.notOk(events.listens('manifest-pulled'))
})
