// A receiver that fails (500) and then is down (connections refused) for a while gets every event once it is
// back: at least once, still in order. Deliveries that use up their attempts are kept as failed, listed and
// sent again by the CLI.
import t from 'tap'
import { request } from '../cnr/helpers.js'
import { runBerth, type CliRun } from '../helpers/cli.js'
import { FAST, pending, startReceiver, startReplica, waitFor } from './helpers.js'

const cli = async (args: string[], env: Record<string, string>): Promise<CliRun> => await runBerth(args, env)

t.test('after failing, then being down, the receiver gets every event at least once, in order', async t => {
  const receiver = await startReceiver(t)
  receiver.mode = 'error'
  const berth = await startReplica(t, t.testdir(), { BERTH_WEBHOOK_URLS: receiver.url, BERTH_WEBHOOK_MAX_ATTEMPTS: '1000' })
  const upload = async (file: string): Promise<void> => {
    t.equal((await request(berth.url, 'PUT', `/packages/${file}`, { body: file })).status, 200, `PUT ${file} is acknowledged whatever the receiver does`)
  }
  await upload('a-1.0.0.tar.gz')
  await upload('b-1.0.0.tar.gz')
  await waitFor('attempts answered 500', () => receiver.received.length >= 3)
  t.ok(receiver.received.every(r => r.event.id === receiver.received[0]?.event.id), 'the head of the queue holds the rest back')

  await receiver.down()
  const refusedBefore = berth.reports.filter(r => r.error === 'ECONNREFUSED').length
  await upload('c-1.0.0.tar.gz')
  await waitFor('attempts refused', () => berth.reports.filter(r => r.error === 'ECONNREFUSED').length >= refusedBefore + 3)
  const waiting = (await pending(berth.app)).map(d => d.id)
  t.equal(waiting.length, 6, 'three uploads: a push and a package event each, all waiting')
  t.ok(berth.reports.every(r => r.outcome === 'retrying'), 'every attempt so far is a retry')

  receiver.mode = 'ok'
  await receiver.up()
  await waitFor('every event delivered', () => receiver.delivered().size === 6)
  await waitFor('an empty outbox', async () => (await pending(berth.app)).length === 0)
  const delivered = receiver.received.filter(r => r.answered === 'ok')
  t.same(delivered.map(r => r.event.type), [
    'dev.berth.manifest.pushed', 'dev.berth.package.uploaded',
    'dev.berth.manifest.pushed', 'dev.berth.package.uploaded',
    'dev.berth.manifest.pushed', 'dev.berth.package.uploaded'
  ], 'in the order of the writes')
  t.same(delivered.map(r => r.event.data.repository), ['packages/a', 'packages/a', 'packages/b', 'packages/b', 'packages/c', 'packages/c'])
  t.ok(receiver.received.every(r => r.verified), 'retries are signed too (with the time of the attempt)')
  t.ok(Number(delivered[0]?.headers['berth-attempt']) > 3, 'the first event was retried until it went through')
  t.same(new Set(receiver.received.map(r => r.body)).size, 6, 'a retry sends the very same body')
})

t.test('deliveries that use up their attempts are kept as failed; the CLI lists them and sends them again', async t => {
  const receiver = await startReceiver(t)
  receiver.mode = 'error'
  const dataDir = t.testdir()
  const env = { BERTH_DATA_DIR: dataDir, BERTH_WEBHOOK_URLS: receiver.url, BERTH_WEBHOOK_MAX_ATTEMPTS: '2', ...FAST }
  const berth = await startReplica(t, dataDir, env)
  t.equal((await request(berth.url, 'PUT', '/packages/tool-1.0.0.tar.gz', { body: 'x' })).status, 200)
  await waitFor('both events failed', () => berth.reports.filter(r => r.outcome === 'failed').length === 2)
  t.same(berth.reports.map(r => r.outcome), ['retrying', 'failed', 'retrying', 'failed'])
  t.same(await pending(berth.app), [], 'nothing waits any more')

  const listed = await cli(['webhooks', 'list', '--failed', '--json'], env)
  t.equal(listed.code, 0, listed.stderr)
  const failed = JSON.parse(listed.stdout) as Array<Record<string, unknown>>
  t.match(failed, [
    { state: 'failed', type: 'dev.berth.manifest.pushed', url: receiver.url, attempts: 2, lastError: 'HTTP 500', failedAt: /^\d{4}-/ },
    { state: 'failed', type: 'dev.berth.package.uploaded', url: receiver.url, attempts: 2, lastError: 'HTTP 500' }
  ])
  const text = await cli(['webhooks', 'list', '--failed'], env)
  t.match(text.stdout, /^[0-9a-f]{16}\/\S+\tdev\.berth\.manifest\.pushed\thttp:\/\/127\.0\.0\.1:\d+\/hook\tattempts=2\t\S+\tHTTP 500\n/)
  t.equal((await cli(['webhooks', 'list'], env)).stderr, 'no deliveries waiting\n')

  const missing = await cli(['webhooks', 'redeliver', 'ffffffffffffffff/0000000000000-0000-00000000'], env)
  t.equal(missing.code, 1)
  t.match(missing.stderr, /no failed delivery/)
  t.equal((await cli(['webhooks', 'redeliver'], env)).code, 2, 'an id or --all-failed is required')
  t.equal((await cli(['webhooks', 'frobnicate'], env)).code, 2)

  receiver.mode = 'ok'
  const one = await cli(['webhooks', 'redeliver', failed[0]?.id as string], env)
  t.same([one.code, one.stdout], [0, `queued ${failed[0]?.id as string} again\n`])
  await waitFor('the redelivered event', () => receiver.delivered().size === 1)
  const all = await cli(['webhooks', 'redeliver', '--all-failed'], env)
  t.same([all.code, all.stdout], [0, 'queued 1 failed deliveries again\n'])
  await waitFor('the other one', () => receiver.delivered().size === 2)
  t.same(JSON.parse((await cli(['webhooks', 'list', '--failed', '--json'], env)).stdout), [])
  t.same(receiver.received.filter(r => r.answered === 'ok').map(r => r.event.type), ['dev.berth.manifest.pushed', 'dev.berth.package.uploaded'])
})
