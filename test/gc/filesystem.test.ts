// Garbage collection on the filesystem store, with two replicas (two createBerth instances over one directory).
import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import type { Deletion } from '../../src/gc/collector.js'
import { acquireLease } from '../../src/gc/lease.js'
import { paths } from '../../src/storage/paths.js'
import { runBerth, type CliRun } from '../helpers/cli.js'
import { pushImage, replica, sha256, sleep, upload } from './helpers.js'
import { raceCollection } from './race.js'

const GRACE_MS = 1000

async function twoReplicas (t: Test) {
  const env = { BERTH_DATA_DIR: t.testdir(), BERTH_GC_GRACE_SECONDS: String(GRACE_MS / 1000) }
  return { env, a: await replica(t, env), b: await replica(t, env) }
}

t.test('pushes racing a collection on two replicas lose nothing; old garbage goes', async t => {
  const { a, b } = await twoReplicas(t)
  await raceCollection(t, a, b, { graceMs: GRACE_MS, pushes: 24 })
})

const cli = async (env: Record<string, string>, args: string[]): Promise<CliRun> => await runBerth(args, env)

t.test('retention: keep the last N tags and a pattern, untagged manifests go, referrers follow their subject', async t => {
  const { env, a } = await twoReplicas(t)
  const shared = randomBytes(4096)
  const images = []
  for (const tag of ['t1', 't2', 't3', 'release-1', 't4', 't5']) {
    images.push(await pushImage(a, 'team/app', tag, [shared, randomBytes(1000)]))
    await sleep(20) // distinct push times
  }
  const byTag = Object.fromEntries(images.map(i => [i.tag, i]))
  const t5 = byTag.t5 as (typeof images)[number]
  const t1 = byTag.t1 as (typeof images)[number]
  const sigOfT5 = await pushImage(a, 'team/app', 'sig5', [randomBytes(100)], { digest: t5.digest, size: (await a.registry.manifests.resolve('team/app', 't5')).size })
  const sigOfT1 = await pushImage(a, 'team/app', 'sig1', [randomBytes(100)], { digest: t1.digest, size: (await a.registry.manifests.resolve('team/app', 't1')).size })
  // Untouched by the policy (another repository): everything stays.
  const other = await pushImage(a, 'other/app', 'old', [randomBytes(100)])
  await sleep(GRACE_MS + 500)

  const set = await cli(env, ['retention', 'set', 'apps', '--repos', 'team/*', '--keep-last', '2', '--keep-tags', 'release-.*', '--untagged-after', '0'])
  t.equal(set.code, 0, set.stderr)
  t.equal(set.stdout, 'apps\tteam/*\tkeep-last 2, keep-tags release-.*, untagged-after 0s\n')
  t.equal((await cli(env, ['retention', 'list'])).stdout, set.stdout)

  const dry = await cli(env, ['gc', '--dry-run', '--json'])
  t.equal(dry.code, 0, dry.stderr)
  const real = await cli(env, ['gc', '--json'])
  t.equal(real.code, 0, real.stderr)
  const deletions = (output: string): Deletion[] => output.trim().split('\n').slice(0, -1).map(line => JSON.parse(line) as Deletion)
  const key = (d: Deletion): string => `${d.kind} ${d.repository ?? ''} ${d.name} ${d.bytes}`
  t.same(deletions(dry.stdout).map(key).sort(), deletions(real.stdout).map(key).sort(), 'the dry run reported exactly what the real run deleted')
  const dryReport = JSON.parse(dry.stdout.trim().split('\n').at(-1) as string)
  const realReport = JSON.parse(real.stdout.trim().split('\n').at(-1) as string)
  t.same(dryReport.deleted, realReport.deleted)
  t.equal(dryReport.reclaimedBytes, realReport.reclaimedBytes)
  t.equal(dryReport.dryRun, true)
  t.equal(realReport.dryRun, false)

  const gone = deletions(real.stdout)
  t.same(gone.filter(d => d.kind === 'tag').map(d => d.name).sort(), ['t1', 't2', 't3'], 'tags beyond the newest two, but release-1, went')
  t.same(gone.filter(d => d.kind === 'manifest').map(d => d.name).sort(),
    [byTag.t1?.digest, byTag.t2?.digest, byTag.t3?.digest, sigOfT1.digest].sort(), 'their manifests, and the signature of a deleted subject, went')
  t.same((await a.registry.tags.list('team/app', { limit: 100 })).items, ['release-1', 't4', 't5'])
  t.ok(await a.registry.manifests.resolve('team/app', sigOfT5.digest), 'the signature of a kept image stays')
  t.ok(await a.registry.manifests.resolve('other/app', 'old'), 'a repository without a policy keeps its tags')
  t.ok(await a.driver.stat(paths.blob(sha256(shared))), 'a layer kept images share stays')
  for (const tag of ['t1', 't2', 't3']) {
    for (const digest of (byTag[tag]?.blobs ?? []).slice(0, 1)) t.equal(await a.driver.stat(paths.blob(digest)), undefined, `the config of ${tag} is gone`)
  }
  t.ok(other.digest)

  const again = await cli(env, ['gc'])
  t.equal(again.stdout, 'deleted: tags 0, manifests 0, layer links 0, blobs 0 (0 bytes), abandoned writes 0 (0 bytes), uploads 0 (0 bytes); reclaimed 0 bytes\n', 'a second run finds nothing')
  t.equal((await cli(env, ['retention', 'delete', 'apps'])).code, 0)
  t.equal((await cli(env, ['retention', 'list'])).stdout, '')
  t.equal((await cli(env, ['retention', 'set', 'bad', '--repos', 'Team/**'])).code, 2, 'a bad glob is a usage error')
})

t.test('the lease lets one replica collect at a time, and a crashed holder\'s lease lapses', async t => {
  const { a, b } = await twoReplicas(t)
  const held = await acquireLease(a.driver)
  t.ok(held)
  t.equal(await b.gc.run(), undefined, 'B does not collect while A holds the lease')
  t.equal(await acquireLease(b.driver), undefined)
  await held?.release()
  t.ok(await b.gc.run(), 'B collects once A released it')
  // A holder that died: its lease record stays, expired.
  await a.driver.write(paths.gcLease, Buffer.from(JSON.stringify({ holder: 'dead', expiresAt: new Date(Date.now() - 1000).toISOString() })))
  t.ok(await b.gc.run(), 'an expired lease is taken over')
})

t.test('expired upload sessions are removed, live ones stay', async t => {
  const dir = t.testdir()
  const env = { BERTH_DATA_DIR: dir, BERTH_GC_GRACE_SECONDS: '1' }
  const a = await replica(t, env, { uploadTtlMs: 1000 })
  const old = await a.registry.uploads.start('team/up')
  await a.registry.uploads.append('team/up', old.id, Readable.from([randomBytes(3000)]))
  await sleep(1500) // older than the upload TTL
  const fresh = await a.registry.uploads.start('team/up')
  const dry = await a.gc.run({ dryRun: true })
  const report = await a.gc.run()
  t.same(report?.deleted.upload, 1)
  t.same(report?.bytes.upload, 3000)
  t.same(dry?.deleted, report?.deleted)
  t.equal(await a.driver.stat(paths.uploadState(old.id)), undefined, 'the expired session is gone')
  t.ok(await a.registry.uploads.status('team/up', fresh.id), 'the live session stays')
})

t.test('temp files a crashed writer left go once older than the grace period; a young one stays', async t => {
  const dir = t.testdir()
  const env = { BERTH_DATA_DIR: dir, BERTH_GC_GRACE_SECONDS: '1' }
  const a = await replica(t, env)
  // What a process killed between writing its temp file and renaming it into place leaves.
  const crashed = path.join(dir, 'tmp', randomUUID())
  await writeFile(crashed, randomBytes(4321))
  await sleep(1500) // older than the grace period
  const young = path.join(dir, 'tmp', randomUUID())
  await writeFile(young, randomBytes(10))

  const dry = await cli(env, ['gc', '--dry-run', '--json'])
  const listed = dry.stdout.trim().split('\n').map(line => JSON.parse(line) as Deletion).filter(d => d.kind === 'abandonedWrite')
  t.same(listed, [{ kind: 'abandonedWrite', name: `tmp/${path.basename(crashed)}`, id: path.basename(crashed), bytes: 4321 }], 'a dry run lists the old temp file')
  t.ok(existsSync(crashed), 'and deletes nothing')

  const report = await a.gc.run()
  t.equal(report?.deleted.abandonedWrite, 1)
  t.equal(report?.bytes.abandonedWrite, 4321)
  t.equal(report?.reclaimedBytes, 4321, 'its bytes count as reclaimed')
  t.notOk(existsSync(crashed), 'the old temp file is gone')
  t.ok(existsSync(young), 'a temp file younger than the grace period (a live writer\'s) stays')
})

t.test('a blob pushed again while it is condemned waits for the collection, then is stored anew', async t => {
  const { a, b } = await twoReplicas(t)
  const bytes = randomBytes(500)
  const digest = await upload(a, 'team/w', bytes)
  const mark = await a.registry.marks.read(digest)
  const condemned = await a.registry.marks.condemn(digest, mark?.version, 'test')
  t.ok(condemned)
  let done = false
  const pushing = upload(b, 'team/w2', bytes).then(d => { done = true; return d })
  await sleep(300)
  t.notOk(done, 'the push waits while the digest is condemned')
  await a.driver.delete(paths.blob(digest))
  await a.driver.delete(paths.layerLink('team/w', digest))
  if (condemned !== undefined) await a.registry.marks.release(digest, condemned)
  t.equal(await pushing, digest)
  t.ok(await b.driver.stat(paths.blob(digest)), 'the bytes were stored again')
})

t.test('background runs: one interval after start, reported to onRun, stopped by close; crashed runs\' scratch goes', async t => {
  const dir = t.testdir()
  const berth = await replica(t, { BERTH_DATA_DIR: dir, BERTH_GC_INTERVAL_SECONDS: '1', BERTH_GC_GRACE_SECONDS: '1' })
  // Scratch a crashed run left a while ago.
  await berth.driver.write(paths.gcReachable('crashed', sha256(Buffer.from('x'))), Buffer.alloc(0))
  const reports: unknown[] = []
  berth.gc.onRun(report => { reports.push(report) })
  const startedAt = Date.now()
  berth.gc.start()
  for (let i = 0; i < 100 && reports.length === 0; i++) await sleep(100)
  t.equal(reports.length, 1, 'a run happened')
  t.ok(Date.now() - startedAt >= 1000, 'not before one interval')
  t.match(reports[0], { dryRun: false, deleted: { blob: 0 }, reclaimedBytes: 0 })
  t.same((await berth.driver.list(paths.gcRunsPrefix, { limit: 10 })).keys, [], 'no scratch is left: the crashed run\'s went too')
  await berth.close()
  const count = reports.length
  await sleep(1500)
  t.equal(reports.length, count, 'no run after close')
})

t.test('retention keeps the tags an immutable-tag rule holds, and says so in its dry run', async t => {
  const { env, a } = await twoReplicas(t)
  const images = []
  for (const tag of ['v1', 'v2', 'dev1', 'dev2']) {
    images.push(await pushImage(a, 'team/app', tag, [randomBytes(500)]))
    await sleep(20)
  }
  await sleep(GRACE_MS + 500)
  t.equal((await cli(env, ['immutable', 'add', 'team', 'v*'])).code, 0)
  t.equal((await cli(env, ['retention', 'set', 'apps', '--repos', 'team/*', '--keep-last', '1', '--untagged-after', '0'])).code, 0)
  const dry = await cli(env, ['gc', '--dry-run'])
  t.equal(dry.code, 0, dry.stderr)
  const real = await cli(env, ['gc'])
  t.equal(real.code, 0, real.stderr)
  t.match(real.stdout, /deleted: tags 1, manifests 1,/, 'only dev1 went: v1 and v2 are immutable, dev2 is the newest')
  const lines = (output: string): string[] => output.replace(/would delete/g, 'deleted').replace(/would reclaim/g, 'reclaimed').trim().split('\n').sort()
  t.same(lines(dry.stdout), lines(real.stdout), 'the dry run said the same')
  t.same((await a.registry.tags.list('team/app', { limit: 10 })).items, ['dev2', 'v1', 'v2'])
  t.ok(await a.registry.manifests.resolve('team/app', images[0]?.digest as string), 'the manifest of an immutable tag stays')
})
