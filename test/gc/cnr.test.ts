// Garbage collection keeps the CNR view of a package whole: a release is a tag on an index, its channels are
// tags too, and what a deleted release held is collected.
import t from 'tap'
import { tarGz } from '../cnr/helpers.js'
import { paths } from '../../src/storage/paths.js'
import { replica, sleep } from './helpers.js'

t.test('a collection with an untagged-manifest policy keeps releases and channels, and collects a deleted release', async t => {
  const berth = await replica(t, { BERTH_DATA_DIR: t.testdir(), BERTH_GC_GRACE_SECONDS: '1' })
  const { cnr } = berth
  const kept = await tarGz({ 'app/Chart.yaml': 'name: app\nversion: 1.0.0\n' })
  const dropped = await tarGz({ 'app/Chart.yaml': 'name: app\nversion: 2.0.0\n', 'app/big.txt': 'x'.repeat(5000) })
  await cnr.push('ns/app', { blob: kept, release: '1.0.0', mediaType: 'helm', force: false, metadata: {} })
  await cnr.push('ns/app', { blob: dropped, release: '2.0.0', mediaType: 'helm', force: false, metadata: {} })
  await cnr.addChannelRelease('ns/app', 'stable', '1.0.0')
  await cnr.deleteRelease('ns/app', '2.0.0', 'helm')
  await berth.gc.retention.set({ name: 'all', repositories: '**', untaggedAfterSeconds: 0, keepReferrers: true })
  await sleep(1500)

  const report = await berth.gc.run()
  t.ok(report !== undefined && report.deleted.manifest > 0 && report.deleted.blob > 0, `the deleted release was collected (${JSON.stringify(report?.deleted)})`)
  const releases = await cnr.showPackage('ns/app')
  t.same(releases.map(r => r.release), ['1.0.0'], 'the kept release is listed')
  const download = await cnr.pull('ns/app', '1.0.0', 'helm')
  const chunks: Buffer[] = []
  for await (const chunk of await download.open()) chunks.push(chunk as Buffer)
  t.ok(Buffer.concat(chunks).equals(kept), 'and pulls byte for byte')
  t.same((await cnr.showChannel('ns/app', 'stable')).current, '1.0.0', 'its channel stays')
  t.equal((await berth.gc.run())?.deleted.blob, 0, 'a second run finds nothing more')
  t.same((await berth.driver.list(paths.gcRunsPrefix, { limit: 10 })).keys, [])
})
