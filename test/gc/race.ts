// The race the collection protocol closes, run on any store: many pushes on two replicas, some of them reusing
// blobs that are unreferenced and older than the grace period, while a collection runs (and the other replica
// tries to run one too). Afterwards every acknowledged image pulls whole, and every unreferenced old blob that
// no push took back is gone.
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import type { Berth } from '../../src/compose.js'
import { paths } from '../../src/storage/paths.js'
import { pullProblems, pushImage, pushWithRetry, sha256, sleep, upload, type Image } from './helpers.js'

export async function raceCollection (t: Test, a: Berth, b: Berth, { graceMs, pushes }: { graceMs: number, pushes: number }): Promise<void> {
  // Garbage: blobs linked into a repository that no manifest references, half of which pushes will take back.
  const garbage = Array.from({ length: pushes * 2 }, (_, i) => randomBytes(1024 + i))
  for (const bytes of garbage) await upload(a, 'race/garbage', bytes)
  // A live image, old too: it must survive.
  const live = await pushImage(a, 'race/live', 'v1', [randomBytes(2048)])
  await sleep(graceMs + 1500) // everything above is now older than the grace period

  const pushed: Image[] = []
  const reused = garbage.slice(0, pushes)
  const pushing = Promise.all(reused.map(async (old, i) => {
    await sleep(i * 20) // spread over the run
    const replicaOf = i % 2 === 0 ? a : b
    pushed.push(await pushWithRetry(replicaOf, `race/app${i % 3}`, `t${i}`, [old, randomBytes(512)]))
  }))
  const [reportA, reportB] = await Promise.all([
    a.gc.run({ graceMs }),
    (async () => { await sleep(5); return await b.gc.run({ graceMs }) })(),
    pushing
  ])
  t.ok((reportA === undefined) !== (reportB === undefined), 'the lease let exactly one replica collect')
  const report = reportA ?? reportB
  t.ok(report !== undefined && report.deleted.blob > 0, `the run deleted blobs (${JSON.stringify(report?.deleted)})`)

  for (const image of [live, ...pushed]) t.same(await pullProblems(b, image), [], `${image.repository}:${image.tag} pulls whole`)
  t.equal(pushed.length, pushes, 'every push was acknowledged')

  // A second run sees what the racing one could not (blobs whose marks the pushes had just refreshed are kept).
  await a.gc.run({ graceMs })
  for (const [i, bytes] of garbage.entries()) {
    const stored = await a.driver.stat(paths.blob(sha256(bytes)))
    if (i < pushes) t.ok(stored !== undefined, `reused blob ${i} is kept`)
    else t.equal(stored, undefined, `unreferenced old blob ${i} is gone`)
  }
  for (const image of [live, ...pushed]) t.same(await pullProblems(a, image), [], `${image.repository}:${image.tag} still pulls whole`)
}
