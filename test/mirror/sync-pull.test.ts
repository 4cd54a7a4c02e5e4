// Scheduled sync (pull replication) from a real upstream (CNCF Distribution): a repository is copied with its
// signature referrers, an unchanged tag costs one HEAD, an interrupted copy resumes, onlySigned skips unsigned
// images, and `berth mirror status|sync` show and drive it.
import path from 'node:path'
import t from 'tap'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import { runBerth } from '../helpers/cli.js'
import { startDistribution, tool } from './cache-upstream.js'

const SIG_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json'

t.test('scheduled sync from Distribution', async t => {
  const upstream = await startDistribution(t)
  const dir = t.testdir({
    'a.txt': 'layer a of app\n', 'b.txt': 'layer b of app\n', 'c.txt': 'app two\n', 'd.txt': 'dev build\n', 'sig.json': '{"critical":{}}\n',
    'big1.bin': 'x'.repeat(40_000), 'big2.bin': 'y'.repeat(40_000), 'big3.bin': 'z'.repeat(40_000)
  })
  const push = async (ref: string, ...files: string[]): Promise<string> => {
    await tool('oras', ['push', '--plain-http', `${upstream.host}/${ref}`, ...files], { cwd: dir })
    return (await tool('crane', ['digest', '--insecure', `${upstream.host}/${ref}`])).trim()
  }
  const one = await push('library/app:1.0', 'a.txt', 'b.txt')
  const two = await push('library/app:2.0', 'c.txt')
  await push('library/app:dev', 'd.txt')
  await push('library/big:1.0', 'big1.bin', 'big2.bin', 'big3.bin')
  // A signature referrer of 1.0 (Distribution has no referrers API: oras keeps it under the referrers tag schema).
  await tool('oras', ['attach', '--plain-http', '--artifact-type', SIG_TYPE, `${upstream.host}/library/app@${one}`, 'sig.json'], { cwd: dir })

  const mirrors = [
    { prefix: 'hub', upstream: upstream.url, upstreamPrefix: 'library', sync: { repositories: ['app'], tags: '\\d+\\.\\d+', intervalSeconds: 1 } },
    { prefix: 'signed', upstream: upstream.url, upstreamPrefix: 'library', sync: { repositories: ['app'], tags: '.*', intervalSeconds: 0, onlySigned: true } },
    { prefix: 'part', upstream: upstream.url, upstreamPrefix: 'library', sync: { repositories: ['big'], tags: '.*', intervalSeconds: 0 } }
  ]
  const env = { BERTH_DATA_DIR: path.join(dir, 'berth'), LOG_LEVEL: 'silent', BERTH_MIRRORS: JSON.stringify(mirrors) }
  const berth = await createBerth(loadConfig(env))
  t.teardown(async () => { await berth.close() })
  const { registry } = berth

  await t.test('the schedule copies the matching tags with their signature', async t => {
    berth.mirrorSync.start()
    const deadline = Date.now() + 120_000
    let status
    do {
      await new Promise(resolve => setTimeout(resolve, 200))
      status = (await berth.mirrorSync.status()).find(s => s.mirror.name === 'hub')?.last
    } while (status === undefined && Date.now() < deadline)
    await berth.mirrorSync.close()
    t.equal(status?.result, 'ok', JSON.stringify(status?.errors))
    t.equal((await registry.tags.get('hub/app', '1.0'))?.digest, one, '1.0 has the upstream digest')
    t.equal((await registry.tags.get('hub/app', '2.0'))?.digest, two, '2.0 has the upstream digest')
    t.equal(await registry.tags.get('hub/app', 'dev'), undefined, 'a tag the pattern does not match is not copied')
    const manifest = JSON.parse((await registry.manifests.read(await registry.manifests.resolve('hub/app', one))).bytes.toString()) as { layers: Array<{ digest: string, size: number }> }
    for (const layer of manifest.layers) t.equal((await registry.blobs.stat('hub/app', layer.digest)).size, layer.size, `layer ${layer.digest} is here`)
    const referrers = (await registry.referrers.list('hub/app', one, { limit: 10 })).items
    t.equal(referrers.length, 1, 'the signature came along')
    t.equal(referrers[0]?.artifactType, SIG_TYPE)
    const signature = JSON.parse((await registry.manifests.read(await registry.manifests.resolve('hub/app', referrers[0]?.digest ?? ''))).bytes.toString()) as { subject: { digest: string } }
    t.equal(signature.subject.digest, one, 'its subject is the copied image')
    // The CNR and catalog views see the writes: the repository is listed.
    const names = []
    for await (const name of registry.catalog.names()) names.push(name)
    t.ok(names.includes('hub/app'), 'the catalog lists hub/app')
    const metrics = await berth.metrics.render()
    t.match(metrics, /berth_mirror_synced_objects_total\{mirror="hub",kind="tag"\} 2\n/, 'the copied tags are counted')
    t.match(metrics, /berth_mirror_synced_objects_total\{mirror="hub",kind="referrer"\} 1\n/, 'and the signature')
  })

  await t.test('an unchanged tag costs one HEAD', async t => {
    const before = upstream.requests.length
    const report = await berth.mirrorSync.run('hub')
    const requests = upstream.requests.slice(before)
    t.equal(report.result, 'ok')
    t.equal(report.copied.length, 0)
    t.equal(report.unchanged, 2)
    t.same(requests.filter(r => r.includes('/manifests/')).map(r => r.split(' ').slice(0, 2).join(' ')).sort(),
      ['HEAD /v2/library/app/manifests/1.0', 'HEAD /v2/library/app/manifests/2.0'], 'one HEAD per tag, no manifest GET')
    t.equal(requests.filter(r => r.includes('/blobs/')).length, 0, 'no blob requests')
  })

  await t.test('onlySigned skips unsigned images', async t => {
    const report = await berth.mirrorSync.run('signed')
    t.equal(report.result, 'ok', JSON.stringify(report.errors))
    t.same(report.copied.map(c => c.tag), ['1.0'])
    t.equal(report.skippedUnsigned, 2, '2.0 and dev are unsigned')
    t.equal(await registry.tags.get('signed/app', '2.0'), undefined)
    t.equal((await registry.referrers.list('signed/app', one, { limit: 10 })).items.length, 1)
  })

  await t.test('a copy interrupted halfway resumes where it stopped', async t => {
    const stop = new AbortController()
    let first: string | undefined
    const cut = await berth.mirrorSync.run('part', {
      signal: stop.signal,
      onWritten: (kind, digest) => { if (kind === 'blob' && first === undefined) { first = digest; stop.abort() } }
    })
    t.equal(cut.result, 'failed', 'the first run was cut off')
    t.equal(await registry.tags.get('part/big', '1.0'), undefined, 'nothing half-copied is visible')
    t.ok(first !== undefined && await registry.blobs.exists('part/big', first), 'the blob copied before the cut stays')
    const before = upstream.requests.length
    const resumed = await berth.mirrorSync.run('part')
    t.equal(resumed.result, 'ok', JSON.stringify(resumed.errors))
    const big = (await tool('crane', ['digest', '--insecure', `${upstream.host}/library/big:1.0`])).trim()
    t.equal((await registry.tags.get('part/big', '1.0'))?.digest, big)
    const blobGets = upstream.requests.slice(before).filter(r => r.startsWith('GET') && r.includes('/blobs/'))
    t.notOk(blobGets.some(r => r.includes(first ?? '-')), 'the blob copied before the cut is not fetched again')
    t.equal(resumed.written.blobs, 2, 'the two other layers are copied (the empty config was linked from the store)')
  })

  await t.test('berth mirror status and berth mirror sync', async t => {
    const status = await runBerth(['mirror', 'status', '--json'], env)
    t.equal(status.code, 0, status.stderr)
    const parsed = JSON.parse(status.stdout) as { mirrors: Array<{ mirror: string, result?: string, tagsCopied?: number }> }
    t.same(parsed.mirrors.map(m => [m.mirror, m.result]), [['hub', 'ok'], ['signed', 'ok'], ['part', 'ok']])
    const sync = await runBerth(['mirror', 'sync', 'hub'], env)
    t.equal(sync.code, 0, sync.stderr)
    t.match(sync.stdout, /ok: 0 tags copied, 2 unchanged/)
    const unknown = await runBerth(['mirror', 'sync', 'nope'], env)
    t.equal(unknown.code, 2)
    t.match(unknown.stderr, /no mirror "nope" syncs/)
  })
})
