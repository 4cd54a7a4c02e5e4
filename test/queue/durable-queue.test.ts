// The durable queue's protocol (src/queue/durable-queue.ts) on the filesystem driver and on a real MinIO:
// leases and their takeover, backoff, giving up after maxAttempts, redelivery, per-destination order, and the
// worker loop that two replicas share. Time is a clock the test moves, so nothing here waits on the wall clock.
import t, { type Test } from 'tap'
import { backoffMs, createDurableQueue, createQueueWorker, createSortableIds, type QueueLayout, type WorkResult } from '../../src/queue/durable-queue.js'
import type { StorageDriver } from '../../src/storage/driver.js'
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js'
import { S3Driver } from '../../src/storage/drivers/s3/index.js'
import { startMinio, uniqueBucket } from '../helpers/minio.js'

interface Job { name: string }

const layout: QueueLayout = {
  prefix: (destination, state) => `jobs/${destination}/${state}/`,
  destinations: async () => ['a', 'b']
}
const silent = { warn: () => {} }

function setup (driver: StorageDriver, options: { maxAttempts?: number, owner?: string, clock?: { ms: number } } = {}) {
  const clock = options.clock ?? { ms: 1_700_000_000_000 }
  const queue = createDurableQueue<Job>(driver, {
    layout, leaseMs: 10_000, retryMs: 1000, retryMaxMs: 4000, maxAttempts: options.maxAttempts ?? 5, now: () => clock.ms, ...(options.owner === undefined ? {} : { owner: options.owner })
  })
  return { queue, clock }
}

async function all<T> (items: AsyncIterable<T>): Promise<T[]> {
  const found: T[] = []
  for await (const item of items) found.push(item)
  return found
}

async function suite (t: Test, makeDriver: (t: Test) => Promise<StorageDriver>): Promise<void> {
  const nextId = createSortableIds()

  t.test('enqueue, list in order, claim and complete', async t => {
    const driver = await makeDriver(t)
    const { queue } = setup(driver)
    const ids = [nextId(), nextId(), nextId()]
    for (const [i, id] of ids.entries()) await queue.enqueue('a', id, { name: `job${i}` })
    t.same((await all(queue.list('pending'))).map(e => [e.destination, e.id, e.entry.name, e.entry.attempts]), ids.map((id, i) => ['a', id, `job${i}`, 0]), 'oldest first')
    const claimed = await queue.claim('a', ids[0] as string)
    if (claimed.state !== 'claimed') throw new Error(`not claimed: ${claimed.state}`)
    t.equal(claimed.claim.attempt, 1)
    t.match(JSON.parse((await driver.readAll(`jobs/a/pending/${ids[0] as string}`)).toString()), { name: 'job0', attempts: 0, nextAttemptAt: 0, lease: { expiresAt: 1_700_000_010_000 } }, 'the lease is stored on the entry')
    await claimed.claim.complete()
    t.same(await all(queue.ids('a', 'pending')), ids.slice(1))
    t.same(await queue.claim('a', ids[0] as string), { state: 'gone' })
    t.equal(await queue.count('a', 'pending'), 2)
  })

  t.test('a lease that expires is taken over by a second claimer; the first then records nothing', async t => {
    const driver = await makeDriver(t)
    const clock = { ms: 1_700_000_000_000 }
    const first = setup(driver, { owner: 'first', clock }).queue
    const second = setup(driver, { owner: 'second', clock }).queue
    const id = nextId()
    await first.enqueue('a', id, { name: 'job' })
    const a = await first.claim('a', id)
    if (a.state !== 'claimed') throw new Error('not claimed')
    t.same(await second.claim('a', id), { state: 'held', until: clock.ms + 10_000 }, 'held while the lease lasts')
    clock.ms += 5000
    t.equal(await a.claim.renew(), true, 'the holder renews')
    clock.ms += 9000
    t.equal((await second.claim('a', id)).state, 'held', 'the renewal moved the expiry')
    clock.ms += 1001
    const b = await second.claim('a', id)
    if (b.state !== 'claimed') throw new Error(`not taken over: ${b.state}`)
    t.equal(b.claim.attempt, 1, 'a takeover is no failed attempt')
    t.equal(await a.claim.renew(), false, 'the first holder finds it lost')
    t.equal(a.claim.held, false)
    await a.claim.complete()
    t.equal(await first.count('a', 'pending'), 1, 'a lost claim does not remove the entry')
    t.match(JSON.parse((await driver.readAll(`jobs/a/pending/${id}`)).toString()), { lease: { owner: 'second' } })
    await b.claim.complete()
    t.equal(await first.count('a', 'pending'), 0)
  })

  t.test('a failed attempt backs off exponentially, capped, and the entry waits for it', async t => {
    const driver = await makeDriver(t)
    const { queue, clock } = setup(driver, { maxAttempts: 10 })
    const id = nextId()
    await queue.enqueue('a', id, { name: 'job' })
    const bounds = [[500, 1000], [1000, 2000], [2000, 4000], [2000, 4000]]
    for (const [i, [low, high]] of bounds.entries()) {
      const claimed = await queue.claim('a', id)
      if (claimed.state !== 'claimed') throw new Error(`attempt ${i + 1} not claimed`)
      t.equal(claimed.claim.attempt, i + 1)
      const failed = await claimed.claim.fail(`boom ${i + 1}`)
      if (failed.outcome !== 'retrying') throw new Error('gave up early')
      const delay = failed.nextAttemptAt - clock.ms
      t.ok(delay >= (low as number) && delay <= (high as number), `retry ${i + 1} after ${delay} ms, within [${low as number}, ${high as number}]`)
      const stored = JSON.parse((await driver.readAll(`jobs/a/pending/${id}`)).toString())
      t.same({ attempts: stored.attempts, lastError: stored.lastError, lease: stored.lease, nextAttemptAt: stored.nextAttemptAt }, { attempts: i + 1, lastError: `boom ${i + 1}`, lease: undefined, nextAttemptAt: failed.nextAttemptAt }, 'the lease is dropped with the failure')
      t.same(await queue.claim('a', id), { state: 'held', until: failed.nextAttemptAt }, 'not before its retry')
      clock.ms = failed.nextAttemptAt
    }
    t.same([backoffMs(1, 1000, 4000, () => 0), backoffMs(1, 1000, 4000, () => 1), backoffMs(40, 1000, 4000, () => 1)], [500, 1000, 4000])
  })

  t.test('the attempt that reaches maxAttempts keeps the entry as failed; redeliver puts it back in its place', async t => {
    const driver = await makeDriver(t)
    const { queue, clock } = setup(driver, { maxAttempts: 3 })
    const [head, next] = [nextId(), nextId()]
    await queue.enqueue('a', head, { name: 'head' })
    await queue.enqueue('a', next, { name: 'next' })
    const outcomes = []
    for (let i = 0; i < 3; i++) {
      const claimed = await queue.claim('a', head)
      if (claimed.state !== 'claimed') throw new Error('not claimed')
      const failed = await claimed.claim.fail('HTTP 500')
      outcomes.push(failed.outcome)
      clock.ms += 10_000
    }
    t.same(outcomes, ['retrying', 'retrying', 'failed'])
    t.same(await all(queue.ids('a', 'pending')), [next], 'out of its queue')
    const [failed, ...more] = await all(queue.list('failed'))
    t.same(more, [])
    t.match(failed, { destination: 'a', id: head, entry: { name: 'head', attempts: 3, lastError: 'HTTP 500', failedAt: new Date(clock.ms - 10_000).toISOString() } })
    t.equal(failed?.entry.lease, undefined)

    t.equal(await queue.redeliver('a', nextId()), false, 'no such failed entry')
    t.equal(await queue.redeliver('a', head), true)
    t.same(await all(queue.ids('a', 'failed')), [])
    t.same(await all(queue.ids('a', 'pending')), [head, next], 'back at the head of its queue')
    const back = JSON.parse((await driver.readAll(`jobs/a/pending/${head}`)).toString())
    t.same(Object.keys(back).sort(), ['attempts', 'createdAt', 'name', 'nextAttemptAt'], 'attempts reset, error and failure time gone')
    t.same([back.attempts, back.nextAttemptAt], [0, 0])
  })

  t.test('an ordered worker holds a destination back behind a failing head; other destinations go on', async t => {
    const driver = await makeDriver(t)
    const { queue, clock } = setup(driver)
    for (const name of ['a1', 'a2', 'a3']) await queue.enqueue('a', nextId(), { name })
    for (const name of ['b1', 'b2']) await queue.enqueue('b', nextId(), { name })
    const worked: string[] = []
    const settled: string[] = []
    let failNext = true
    const worker = createQueueWorker<Job, string>(queue, {
      name: 'test',
      ordered: true,
      pollMs: 1000,
      log: silent,
      work: async claim => {
        worked.push(claim.entry.name)
        if (claim.entry.name === 'a1' && failNext) { failNext = false; return { ok: false, error: 'down' } }
        return { ok: true, value: claim.entry.name.toUpperCase() }
      },
      onSettled: s => { settled.push(`${s.entry.name}:${s.outcome}:${s.attempt}${s.value === undefined ? '' : `:${s.value}`}`) }
    })
    await worker.drain()
    t.same(worked.filter(n => n.startsWith('a')), ['a1'], 'a2 and a3 wait behind the failed head')
    t.same(worked.filter(n => n.startsWith('b')), ['b1', 'b2'], 'b is not held back by a')
    await worker.drain()
    t.same(worked.filter(n => n.startsWith('a')), ['a1'], 'nothing moves before the retry is due')
    clock.ms += 1000
    await worker.drain()
    t.same(worked.filter(n => n.startsWith('a')), ['a1', 'a1', 'a2', 'a3'], 'in order once the head goes through')
    t.same(settled.filter(n => n.startsWith('a')), ['a1:retrying:1', 'a1:done:2:A1', 'a2:done:1:A2', 'a3:done:1:A3'])
    t.same(await all(queue.list('pending')), [])
  })

  t.test('an unordered worker walks past a held entry', async t => {
    const driver = await makeDriver(t)
    const { queue } = setup(driver)
    for (const name of ['a1', 'a2', 'a3']) await queue.enqueue('a', nextId(), { name })
    const worked: string[] = []
    const worker = createQueueWorker<Job, undefined>(queue, {
      name: 'test',
      ordered: false,
      pollMs: 1000,
      log: silent,
      work: async claim => {
        worked.push(claim.entry.name)
        return claim.entry.name === 'a1' ? { ok: false, error: 'down' } : { ok: true, value: undefined }
      }
    })
    await worker.drain()
    t.same(worked, ['a1', 'a2', 'a3'])
    t.same((await all(queue.list('pending'))).map(e => [e.entry.name, e.entry.attempts]), [['a1', 1]])
  })

  t.test('two workers over one store work each entry once; a stopped worker frees what it was working on', async t => {
    const driver = await makeDriver(t)
    const clock = { ms: Date.now() }
    const queues = [setup(driver, { owner: 'one', clock }).queue, setup(driver, { owner: 'two', clock }).queue]
    const names = Array.from({ length: 8 }, (_, i) => `job${i}`)
    for (const name of names) await queues[0]?.enqueue(name.endsWith('1') || name.endsWith('3') ? 'b' : 'a', nextId(), { name })
    const worked: Array<[string, string]> = []
    const workers = queues.map((queue, i) => createQueueWorker<Job, undefined>(queue, {
      name: `worker ${i}`,
      ordered: true,
      pollMs: 1000,
      log: silent,
      work: async claim => {
        worked.push([claim.entry.name, `worker ${i}`])
        await new Promise(resolve => setImmediate(resolve))
        return { ok: true, value: undefined }
      }
    }))
    await Promise.all(workers.map(async w => { await w.drain() }))
    for (let i = 0; i < 5 && worked.length < names.length; i++) await Promise.all(workers.map(async w => { await w.drain() }))
    t.same(worked.map(([name]) => name).sort(), names, `each entry worked once (${JSON.stringify(worked)})`)

    // Shutdown: the work in flight sees its signal; the entry is released, no attempt counted.
    const id = nextId()
    await queues[0]?.enqueue('a', id, { name: 'slow' })
    let started!: () => void
    const inFlight = new Promise<void>(resolve => { started = resolve })
    const worker = createQueueWorker<Job, undefined>(queues[0] as typeof queues[0], {
      name: 'stopping',
      ordered: true,
      pollMs: 1000,
      log: silent,
      work: async (_claim, signal): Promise<WorkResult<undefined>> => {
        started()
        await new Promise(resolve => signal.addEventListener('abort', resolve))
        return { ok: false, error: 'aborted' }
      }
    })
    worker.start()
    await inFlight
    await worker.stop()
    const stored = JSON.parse((await driver.readAll(`jobs/a/pending/${id}`)).toString())
    t.same([stored.attempts, stored.lease, stored.lastError], [0, undefined, undefined], 'released: no lease, no attempt')
  })
}

t.test('filesystem driver', async t => {
  await suite(t, async t => {
    const driver = new FilesystemDriver({ root: t.testdir() })
    await driver.init()
    return driver
  })
})

t.test('MinIO', async t => {
  const minio = await startMinio(t)
  await suite(t, async t => {
    const driver = new S3Driver({ endpoint: minio.endpoint, accessKey: minio.accessKey, secretKey: minio.secretKey, bucket: uniqueBucket('queue'), region: 'us-east-1', timeoutMs: 10_000 })
    await driver.init()
    t.teardown(async () => { await driver.close() })
    return driver
  })
})
