// Replicas sharing one store share one outbox: two servers over one data directory send each event once, and
// an event queued by a process that is then killed (here, while it was sending) is delivered by another.
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { request } from '../cnr/helpers.js'
import { startServer } from '../helpers/server-process.js'
import { FAST, pending, startReceiver, startReplica, waitFor } from './helpers.js'

t.test('two replicas over one store send each event once', async t => {
  const receiver = await startReceiver(t)
  const dataDir = t.testdir()
  const env = { BERTH_WEBHOOK_URLS: receiver.url }
  const a = await startReplica(t, dataDir, env)
  const b = await startReplica(t, dataDir, env)
  // Writes through both replicas, interleaved and concurrent, into a fresh store: each queues its own events,
  // both loops send.
  const files = Array.from({ length: 13 }, (_, i) => `pkg${i}-1.0.${i}.tar.gz`)
  await Promise.all(files.map(async (file, i) => {
    const res = await request((i % 2 === 0 ? a : b).url, 'PUT', `/packages/${file}`, { body: file })
    t.equal(res.status, 200)
  }))
  await waitFor('every event', () => receiver.delivered().size === files.length * 2)
  await waitFor('an empty outbox', async () => (await pending(a.app)).length === 0)
  await sleep(1000) // anything sent twice would arrive now
  t.equal(receiver.received.length, files.length * 2, 'each event was sent once: no retries, no duplicates')
  t.same([...receiver.delivered().values()].filter(list => list.length > 1), [])
  t.ok(receiver.received.every(r => r.verified))
  const uploaded = receiver.received.filter(r => r.event.type === 'dev.berth.package.uploaded').map(r => r.event.data.file as string)
  t.same(uploaded.sort(), [...files].sort(), 'an upload event for every file')
  t.equal(a.reports.length + b.reports.length, files.length * 2, 'each delivery reported by the replica that made it')
  // Which replica sends is down to timing: one URL's events go out in order, one claim at a time, so one
  // replica may send them all. That another one takes over is the next test's subject.
  t.comment(`deliveries by replica: ${a.reports.length} and ${b.reports.length}`)
})

t.test('an event queued by a process killed while sending it is delivered by another after its lease', async t => {
  const receiver = await startReceiver(t)
  receiver.mode = 'hang' // the first attempt never gets an answer
  const dataDir = t.testdir()
  const env = { BERTH_DATA_DIR: dataDir, BERTH_WEBHOOK_URLS: receiver.url, BERTH_WEBHOOK_TIMEOUT_SECONDS: '1', LOG_LEVEL: 'error', ...FAST }
  const doomed = await startServer(t, env)
  t.equal((await request(doomed.url, 'PUT', '/packages/tool-1.0.0.tar.gz', { body: 'x' })).status, 200, 'acknowledged')
  await waitFor('the first attempt', () => receiver.received.length >= 1)
  doomed.child.kill('SIGKILL')
  await new Promise(resolve => doomed.child.once('exit', resolve))
  const first = receiver.received[0]?.event.id

  receiver.mode = 'ok'
  // The survivor starts after the kill: what it delivers, it read from the outbox the killed process wrote.
  const survivor = await startReplica(t, dataDir, { BERTH_WEBHOOK_URLS: receiver.url, BERTH_WEBHOOK_TIMEOUT_SECONDS: '1' })
  await waitFor('both events delivered', () => receiver.delivered().size === 2)
  await waitFor('an empty outbox', async () => (await pending(survivor.app)).length === 0)
  // A delivery is reported once its record is gone, which a listing may see a moment before.
  await waitFor('both deliveries reported', () => survivor.reports.length >= 2)
  t.same(receiver.received.filter(r => r.answered === 'ok').map(r => r.event.type), ['dev.berth.manifest.pushed', 'dev.berth.package.uploaded'])
  t.equal(receiver.delivered().get(first ?? '')?.length, 1, 'the event whose sending was cut arrived (again), answered')
  t.equal(receiver.delivered().get(first ?? '')?.[0]?.headers['berth-attempt'], '1', 'the killed attempt was never recorded: this counts as the first')
  t.same(survivor.reports.map(r => r.outcome), ['delivered', 'delivered'], JSON.stringify({ reports: survivor.reports, received: receiver.received.map(r => [r.event.type, r.answered, r.headers['berth-attempt']]) }))
})
