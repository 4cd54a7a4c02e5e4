// Every kind of webhook event reaches a real receiver, signed, exactly once, in order, whichever door made the
// write: crane on /v2, the CNR API (releases and channels), /packages. With no URL configured, nothing is
// written to the store.
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { toolPath } from '../../scripts/tool-paths.mjs'
import { loadConfig } from '../../src/config.js'
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js'
import { WEBHOOK_EVENT_TYPES } from '../../src/webhooks/cloudevents.js'
import { HELM_FILES, push, request, tarGz } from '../cnr/helpers.js'
import { SECRET, pending, startReceiver, startReplica, waitFor } from './helpers.js'

const exec = promisify(execFile)

async function crane (args: string[], cwd: string): Promise<string> {
  const { stdout } = await exec(toolPath('crane'), args, { cwd, env: { ...process.env, HOME: cwd, DOCKER_CONFIG: path.join(cwd, '.docker') } })
  return stdout
}

t.test('every kind of event arrives once, signed, in order', async t => {
  const receiver = await startReceiver(t)
  const dir = t.testdir()
  const berth = await startReplica(t, path.join(dir, 'data'), { BERTH_WEBHOOK_URLS: receiver.url, BERTH_WEBHOOK_PULL_SAMPLE: '1' })
  const api = async (method: string, p: string, options = {}) => await request(berth.url, method, p, options)

  // /v2 with crane: push, pull, delete a tag, delete the manifest.
  writeFileSync(path.join(dir, 'layer.tar.gz'), await tarGz({ 'hello.txt': 'hello webhooks\n' }))
  await crane(['append', '--oci-empty-base', '-f', 'layer.tar.gz', '-t', `${berth.host}/acme/app:v1`], dir)
  const digest = (await crane(['digest', `${berth.host}/acme/app:v1`], dir)).trim()
  await crane(['manifest', `${berth.host}/acme/app:v1`], dir)
  t.equal((await api('DELETE', '/v2/acme/app/manifests/v1')).status, 202)
  await crane(['delete', `${berth.host}/acme/app@${digest}`], dir)

  // CNR: push a release, put it in a channel, delete it (which empties the channel).
  t.equal((await push({ host: berth.host, url: berth.url, request: api }, 'acme/chart', '1.0.0', 'helm', await tarGz(HELM_FILES('chart', '1.0.0')))).status, 200)
  t.equal((await api('POST', '/cnr/api/v1/packages/acme/chart/channels/stable/1.0.0')).status, 200)
  t.equal((await api('DELETE', '/cnr/api/v1/packages/acme/chart/1.0.0/helm')).status, 200)

  // /packages: upload and delete a file.
  t.equal((await api('PUT', '/packages/tool-1.0.0.tar.gz', { body: Buffer.from('tool bytes') })).status, 200)
  t.equal((await api('DELETE', '/packages/tool-1.0.0.tar.gz')).status, 200)

  const expected = [
    ['dev.berth.manifest.pushed', '/v2/acme/app', digest],
    ['dev.berth.tag.deleted', '/v2/acme/app', 'v1'],
    ['dev.berth.manifest.deleted', '/v2/acme/app', digest],
    ['dev.berth.manifest.pushed', '/v2/acme/chart', undefined], // the helm package manifest
    ['dev.berth.manifest.pushed', '/v2/acme/chart', undefined], // the release's index, tagged 1.0.0
    ['dev.berth.cnr.release.pushed', '/cnr/api/v1/packages/acme/chart', '1.0.0'],
    ['dev.berth.cnr.channel.changed', '/cnr/api/v1/packages/acme/chart', 'stable'],
    ['dev.berth.tag.deleted', '/v2/acme/chart', '1.0.0'],
    ['dev.berth.tag.deleted', '/v2/acme/chart', 'stable'],
    ['dev.berth.cnr.channel.changed', '/cnr/api/v1/packages/acme/chart', 'stable'],
    ['dev.berth.cnr.release.deleted', '/cnr/api/v1/packages/acme/chart', '1.0.0'],
    ['dev.berth.manifest.pushed', '/v2/packages/tool', undefined],
    ['dev.berth.package.uploaded', '/packages/tool', 'tool-1.0.0.tar.gz'],
    ['dev.berth.tag.deleted', '/v2/packages/tool', '1.0.0'],
    ['dev.berth.manifest.deleted', '/v2/packages/tool', undefined],
    ['dev.berth.package.deleted', '/packages/tool', 'tool-1.0.0.tar.gz']
  ]
  const writes = (): typeof receiver.received => receiver.received.filter(r => r.event.type !== 'dev.berth.manifest.pulled')
  await waitFor('every write event', () => writes().length >= expected.length)
  await waitFor('an empty outbox', async () => (await pending(berth.app)).length === 0)
  await new Promise(resolve => setTimeout(resolve, 500)) // anything sent twice would arrive now

  t.same(writes().map(r => [r.event.type, r.event.source, expected.find(e => e[0] === r.event.type && e[1] === r.event.source)?.[2] === undefined ? undefined : r.event.subject]), expected,
    'each write, once, in the order it was made')
  const pulls = receiver.received.filter(r => r.event.type === 'dev.berth.manifest.pulled')
  t.ok(pulls.length >= 1, 'crane manifest was a pull (sampled at 1)')
  t.match(pulls[0]?.event.data, { repository: 'acme/app', reference: 'v1', digest })
  t.same(new Set(receiver.received.map(r => r.event.type)), new Set(WEBHOOK_EVENT_TYPES), 'every event type was sent')

  t.ok(receiver.received.every(r => r.verified), 'every signature verifies with the secret')
  t.same([...receiver.delivered().values()].filter(list => list.length > 1), [], 'no event arrived twice')
  t.equal(receiver.received.length, receiver.delivered().size)
  const ids = receiver.received.map(r => r.event.id)
  t.same(ids, [...ids].sort(), 'ids sort in the order the events were sent')

  const [pushed] = receiver.received
  t.equal(pushed?.headers['content-type'], 'application/cloudevents+json; charset=utf-8')
  t.match(pushed?.headers['berth-signature'], /^sha256=[0-9a-f]{64}$/)
  t.match(pushed?.headers['berth-delivery'], /^[0-9a-f]{16}\/\d{13}-\d{4}-[0-9a-f]{8}$/)
  t.equal(pushed?.headers['berth-attempt'], '1')
  t.same(Object.keys(pushed?.event ?? {}).sort(), ['data', 'datacontenttype', 'id', 'source', 'specversion', 'subject', 'time', 'type'])
  t.match(pushed?.event, { specversion: '1.0', datacontenttype: 'application/json', data: { repository: 'acme/app', digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', tags: ['v1'] } })
  t.ok(!Number.isNaN(Date.parse(pushed?.event.time ?? '')), 'time is a timestamp')

  const byType = (type: string) => receiver.received.filter(r => r.event.type === type).map(r => r.event.data)
  t.same(byType('dev.berth.cnr.channel.changed'), [
    { package: 'acme/chart', channel: 'stable', current: '1.0.0', releases: ['1.0.0'] },
    { package: 'acme/chart', channel: 'stable', current: null, releases: [] }
  ])
  t.match(byType('dev.berth.cnr.release.pushed'), [{ package: 'acme/chart', release: '1.0.0', mediaType: 'helm', digest: /^sha256:/ }])
  t.match(byType('dev.berth.package.uploaded'), [{ repository: 'packages/tool', file: 'tool-1.0.0.tar.gz', version: '1.0.0', size: 10, digest: /^sha256:/ }])

  const outcomes = new Set(berth.reports.map(r => r.outcome))
  t.same([...outcomes], ['delivered'], 'onDelivery told each delivery')
  t.equal(berth.reports.length, receiver.received.length)
})

t.test('without BERTH_WEBHOOK_URLS nothing is written to the store and no loop runs', async t => {
  const dir = t.testdir()
  const berth = await startReplica(t, dir, { BERTH_WEBHOOK_PULL_SAMPLE: '1' })
  t.notOk(berth.app.berth.webhooks.enabled)
  t.equal((await request(berth.url, 'PUT', '/packages/tool-1.0.0.tar.gz', { body: 'x' })).status, 200)
  t.equal((await request(berth.url, 'GET', '/v2/packages/tool/manifests/1.0.0')).status, 200)
  const driver = new FilesystemDriver({ root: dir })
  t.same((await driver.list('webhooks/', { limit: 10 })).keys, [])
  t.notOk(berth.app.berth.events.listens('manifest-pulled'), 'pulls are not even told')
})

t.test('configuration: URLs are checked at startup and need a secret', async t => {
  const env = { BERTH_DATA_DIR: t.testdir() }
  t.throws(() => loadConfig({ ...env, BERTH_WEBHOOK_URLS: 'ftp://x.example/hook', BERTH_WEBHOOK_SECRET: SECRET }), /BERTH_WEBHOOK_URLS must be comma-separated http/)
  t.throws(() => loadConfig({ ...env, BERTH_WEBHOOK_URLS: 'not a url', BERTH_WEBHOOK_SECRET: SECRET }), /BERTH_WEBHOOK_URLS/)
  t.throws(() => loadConfig({ ...env, BERTH_WEBHOOK_URLS: 'https://u:p@x.example/hook', BERTH_WEBHOOK_SECRET: SECRET }), /credentials/)
  t.throws(() => loadConfig({ ...env, BERTH_WEBHOOK_URLS: 'https://x.example/a,https://x.example/a', BERTH_WEBHOOK_SECRET: SECRET }), /twice/)
  t.throws(() => loadConfig({ ...env, BERTH_WEBHOOK_URLS: 'https://x.example/hook' }), /needs BERTH_WEBHOOK_SECRET/)
  t.throws(() => loadConfig({ ...env, BERTH_WEBHOOK_PULL_SAMPLE: '2' }), /BERTH_WEBHOOK_PULL_SAMPLE/)
  t.throws(() => loadConfig({ ...env, BERTH_WEBHOOK_RETRY_MS: '5000', BERTH_WEBHOOK_RETRY_MAX_MS: '1000' }), /RETRY_MAX_MS/)
  const config = loadConfig({ ...env, BERTH_WEBHOOK_URLS: ' https://a.example/hook , http://127.0.0.1:9/x ', BERTH_WEBHOOK_SECRET: SECRET, BERTH_WEBHOOK_PULL_SAMPLE: '0.25' })
  t.same(config.webhooks.urls, ['https://a.example/hook', 'http://127.0.0.1:9/x'])
  t.equal(config.webhooks.pullSample, 0.25)
  t.same(loadConfig(env).webhooks.urls, [], 'off by default')
})
