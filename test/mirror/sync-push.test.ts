// Push replication (BERTH_REPLICATION) into a real remote (CNCF Distribution): a push to Berth is mirrored into
// the remote with its signature referrer, and an onlySigned rule waits for the signature.
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import { runBerth } from '../helpers/cli.js'
import { startDistribution, tool } from './cache-upstream.js'

const SIG_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json'

t.test('push replication into Distribution', async t => {
  const remote = await startDistribution(t)
  const dir = t.testdir({ 'a.txt': 'team app layer\n', 'b.txt': 'plain layer\n', 'sig.json': '{"critical":{}}\n' })
  const rules = [
    { name: 'all', repositories: 'team/**', target: { url: remote.url }, targetPrefix: 'copies' },
    { name: 'signed', repositories: '/team/.*/', target: { url: remote.url }, targetPrefix: 'signed', onlySigned: true }
  ]
  const env = { BERTH_DATA_DIR: `${dir}/berth`, LOG_LEVEL: 'silent', BERTH_REPLICATION: JSON.stringify(rules) }
  const app = await buildApp(await createBerth(loadConfig(env)))
  t.teardown(async () => { await app.close() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const host = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  const { replication } = app.berth

  /** Waits until every outbox is empty (the loop runs on its own; a drain makes it sooner). */
  const settled = async (): Promise<void> => {
    const deadline = Date.now() + 60_000
    for (;;) {
      await replication.drain()
      if ((await replication.status()).every(s => s.pending === 0) || Date.now() > deadline) return
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
  const remoteDigest = async (ref: string): Promise<string | undefined> =>
    await tool('crane', ['digest', '--insecure', `${remote.host}/${ref}`]).then(d => d.trim(), () => undefined)

  await tool('oras', ['push', '--plain-http', `${host}/team/app:1.0`, 'a.txt'], { cwd: dir })
  await tool('oras', ['push', '--plain-http', `${host}/team/plain:1.0`, 'b.txt'], { cwd: dir })
  const app1 = (await tool('crane', ['digest', '--insecure', `${host}/team/app:1.0`])).trim()
  const plain = (await tool('crane', ['digest', '--insecure', `${host}/team/plain:1.0`])).trim()
  await settled()

  await t.test('a push to Berth is mirrored into the remote', async t => {
    t.equal(await remoteDigest('copies/team/app:1.0'), app1, 'crane pulls the same digest back from the remote')
    t.equal(await remoteDigest('copies/team/plain:1.0'), plain)
    const manifest = await tool('crane', ['manifest', '--insecure', `${remote.host}/copies/team/app:1.0`])
    const layer = (JSON.parse(manifest) as { layers: Array<{ digest: string }> }).layers[0]?.digest ?? ''
    t.equal(await tool('crane', ['blob', '--insecure', `${remote.host}/copies/team/app@${layer}`]), 'team app layer\n', 'the layer bytes are there')
  })

  await t.test('onlySigned waits for the signature, which then brings the image and the signature', async t => {
    t.equal(await remoteDigest('signed/team/app:1.0'), undefined, 'nothing unsigned is pushed')
    await tool('oras', ['attach', '--plain-http', '--artifact-type', SIG_TYPE, `${host}/team/app@${app1}`, 'sig.json'], { cwd: dir })
    await settled()
    t.equal(await remoteDigest('signed/team/app:1.0'), app1, 'the signed image is pushed')
    t.equal(await remoteDigest('signed/team/plain:1.0'), undefined, 'the unsigned one is not')
    for (const prefix of ['signed', 'copies']) {
      const found = await tool('oras', ['discover', '--plain-http', '--format', 'json', `${remote.host}/${prefix}/team/app@${app1}`])
      const referrers = (JSON.parse(found) as { referrers?: Array<{ artifactType: string }>, manifests?: Array<{ artifactType: string }> })
      const list = referrers.referrers ?? referrers.manifests ?? []
      t.same(list.map(r => r.artifactType), [SIG_TYPE], `${prefix}: the signature referrer is on the remote with its subject`)
    }
  })

  await t.test('berth mirror status shows the rules', async t => {
    const status = await runBerth(['mirror', 'status', '--json'], env)
    t.equal(status.code, 0, status.stderr)
    const parsed = JSON.parse(status.stdout) as { replication: Array<{ rule: string, pending: number, failed: number, result?: string, pushed?: number }> }
    const all = parsed.replication.find(r => r.rule === 'all')
    t.equal(all?.pending, 0)
    t.equal(all?.failed, 0)
    t.equal(all?.result, 'ok')
    t.ok((all?.pushed ?? 0) >= 3, 'the two images and the signature')
  })

  await t.test('copies queued by the previous version (its ids and record shape) are pushed and counted', async t => {
    const legacy = (extra: object): Buffer => Buffer.from(JSON.stringify({ repository: 'team/plain', digest: plain, tags: ['legacy'], createdAt: '2026-01-01T00:00:00.000Z', ...extra }))
    await app.berth.driver.write('mirror/replication/all/outbox/1767225600000-0a0b0c0d',
      legacy({ attempts: 1, nextAttemptAt: 0, lastError: 'ECONNREFUSED', lease: { owner: 'a-replica-that-died', expiresAt: 1767225600000 } }))
    await app.berth.driver.write('mirror/replication/all/failed/1767225600001-0a0b0c0d',
      legacy({ attempts: 20, nextAttemptAt: 0, lastError: 'ECONNREFUSED', failedAt: '2026-01-01T01:00:00.000Z' }))
    await settled()
    t.equal(await remoteDigest('copies/team/plain:legacy'), plain, 'the old record was claimed over its expired lease and pushed')
    const status = await runBerth(['mirror', 'status'], env)
    t.equal(status.code, 0, status.stderr)
    t.match(status.stdout, new RegExp(`^replication all\\t${remote.url}\\t0 pending, 1 failed\\tlast run \\S+ ok, \\d+ pushed$`, 'm'))
    const retried = await runBerth(['mirror', 'retry', 'all'], env)
    t.equal(retried.code, 0, retried.stderr)
    t.equal(retried.stdout, 'queued 1 failed copies of rule all again\n')
    await settled()
    const after = await runBerth(['mirror', 'status'], env)
    t.match(after.stdout, new RegExp(`^replication all\\t${remote.url}\\t0 pending, 0 failed\\tlast run \\S+ ok`, 'm'), 'the failed copy went through')
    const unknown = await runBerth(['mirror', 'retry', 'nope'], env)
    t.equal(unknown.code, 2)
    t.match(unknown.stderr, /no replication rule "nope"/)
  })

  await t.test('a retried copy of a tag that has moved on since does not move the remote tag back', async t => {
    await tool('oras', ['push', '--plain-http', `${host}/team/plain:1.0`, 'a.txt'], { cwd: dir })
    const plain2 = (await tool('crane', ['digest', '--insecure', `${host}/team/plain:1.0`])).trim()
    await settled()
    t.equal(await remoteDigest('copies/team/plain:1.0'), plain2)
    // The copy queued for the tag's previous image, due again now (as after an outage).
    await app.berth.driver.write('mirror/replication/all/outbox/1767225600002-0a0b0c0d', Buffer.from(JSON.stringify(
      { repository: 'team/plain', digest: plain, tags: ['1.0'], createdAt: '2026-01-01T00:00:00.000Z', attempts: 3, nextAttemptAt: 0 })))
    await settled()
    t.equal(await remoteDigest('copies/team/plain:1.0'), plain2, 'the remote tag still names the newer image')
    t.equal(await remoteDigest(`copies/team/plain@${plain}`), plain, 'the older image itself is copied, by digest')
  })
})
