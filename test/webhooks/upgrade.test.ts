// An upgraded server works the outbox the previous version wrote: records in the stored shape, at the stored
// keys, are delivered (one with the expired lease of a replica that died), and failed ones are listed and sent
// again by the CLI.
import t from 'tap'
import { runBerth } from '../helpers/cli.js'
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js'
import { urlKey } from '../../src/webhooks/outbox.js'
import { FAST, pending, startReceiver, startReplica, waitFor } from './helpers.js'

t.test('records written by the previous version are delivered, listed and redelivered', async t => {
  const receiver = await startReceiver(t)
  const dataDir = t.testdir()
  const queue = urlKey(receiver.url)
  const event = (id: string, file: string) => JSON.stringify({
    specversion: '1.0', id, source: `/packages/${file}`, type: 'dev.berth.package.uploaded', time: '2026-01-01T00:00:00.000Z', subject: file, datacontenttype: 'application/json', data: { file }
  })
  const old = (id: string, file: string, extra: object) => Buffer.from(JSON.stringify({
    url: receiver.url, type: 'dev.berth.package.uploaded', body: event(id, file), createdAt: '2026-01-01T00:00:00.000Z', ...extra
  }))
  const ids = ['1767225600000-0000-0a0b0c0d', '1767225600001-0000-0a0b0c0d', '1767225600002-0000-0a0b0c0d']
  const driver = new FilesystemDriver({ root: dataDir })
  await driver.init()
  await driver.write(`webhooks/outbox/${queue}/${ids[0] as string}`, old(ids[0] as string, 'a.tar.gz', { attempts: 2, nextAttemptAt: 0, lastError: 'HTTP 500', lease: { owner: 'a-replica-that-died', expiresAt: 1767225600000 } }))
  await driver.write(`webhooks/outbox/${queue}/${ids[1] as string}`, old(ids[1] as string, 'b.tar.gz', { attempts: 0, nextAttemptAt: 0 }))
  await driver.write(`webhooks/failed/${queue}/${ids[2] as string}`, old(ids[2] as string, 'c.tar.gz', { attempts: 10, nextAttemptAt: 0, lastError: 'ECONNREFUSED', failedAt: '2026-01-01T01:00:00.000Z' }))
  await driver.close()

  const env = { BERTH_DATA_DIR: dataDir, BERTH_WEBHOOK_URLS: receiver.url, ...FAST }
  const listed = await runBerth(['webhooks', 'list', '--failed', '--json'], env)
  t.equal(listed.code, 0, listed.stderr)
  t.match(JSON.parse(listed.stdout), [{ id: `${queue}/${ids[2] as string}`, state: 'failed', type: 'dev.berth.package.uploaded', url: receiver.url, attempts: 10, lastError: 'ECONNREFUSED', failedAt: '2026-01-01T01:00:00.000Z' }])

  const berth = await startReplica(t, dataDir, env)
  await waitFor('the two waiting events', () => receiver.delivered().size === 2)
  await waitFor('an empty outbox', async () => (await pending(berth.app)).length === 0)
  t.same(receiver.received.map(r => [r.event.id, r.headers['berth-delivery'], r.headers['berth-attempt']]), [
    [ids[0], `${queue}/${ids[0] as string}`, '3'],
    [ids[1], `${queue}/${ids[1] as string}`, '1']
  ], 'in order, the exact stored bodies, attempts counted on from the stored ones')
  t.ok(receiver.received.every(r => r.verified))

  const again = await runBerth(['webhooks', 'redeliver', '--all-failed'], env)
  t.same([again.code, again.stdout], [0, 'queued 1 failed deliveries again\n'])
  await waitFor('the redelivered event', () => receiver.delivered().size === 3)
  t.equal(receiver.received.at(-1)?.event.id, ids[2])
  t.equal(receiver.received.at(-1)?.headers['berth-attempt'], '1', 'a redelivery starts counting again')
})
