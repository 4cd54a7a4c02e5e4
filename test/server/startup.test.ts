// What a starting server says and does: one line with version, store, auth mode and address, and the removal
// of what crashed processes left in the data directory, without touching what a live process may still use.
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { spawnBerth, tempDir } from './helpers.js'

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

t.test('one start-up line: version, driver, data directory, auth mode, address', async t => {
  const dataDir = tempDir(t)
  const open = spawnBerth(t, { BERTH_DATA_DIR: dataDir })
  const url = await open.url()
  const line = await open.waitForLog(e => e.version !== undefined)
  t.match(line, { level: 30, version, storage: 'filesystem', location: dataDir, auth: 'open', address: url })
  t.match(line.msg, `berth ${version} started: filesystem store at ${dataDir}, auth open, listening on ${url}`)
  t.equal(open.logs.filter(e => e.version !== undefined).length, 1, 'exactly one such line')
  open.child.kill('SIGTERM')
  t.equal(await open.exited, 0)

  const withUsers = spawnBerth(t, { BERTH_DATA_DIR: dataDir, BERTH_ADMIN_USER: 'admin', BERTH_ADMIN_PASSWORD: 'a long enough password' })
  const usersUrl = await withUsers.url()
  t.match(await withUsers.waitForLog(e => e.version !== undefined), { auth: 'users', address: usersUrl, location: dataDir })
})

t.test('leftovers of a crash are removed at start-up; what a live process may use is kept', async t => {
  const dataDir = tempDir(t)
  const hourAndMore = new Date(Date.now() - 2 * 3600_000)
  const minuteAgo = new Date(Date.now() - 60_000)
  // "Just now", however long the server takes to start on a busy machine.
  const justNow = new Date(Date.now() + 10 * 60_000)
  const file = (relative: string, mtime?: Date): string => {
    const full = path.join(dataDir, relative)
    mkdirSync(path.dirname(full), { recursive: true })
    writeFileSync(full, 'leftover')
    if (mtime !== undefined) utimesSync(full, mtime, mtime)
    return relative
  }
  const uploadId = (n: number): string => `0000000${n}-0000-4000-8000-000000000000`
  const removed = [
    file('tmp/old-temp-file', hourAndMore),
    file(`locks/${'a'.repeat(64)}`, minuteAgo), // older than the lock timeout every contender applies
    file(`objects/uploads/${uploadId(1)}/data~`, hourAndMore) // a single-request upload that died
  ]
  const kept = [
    file('tmp/fresh-temp-file', justNow), // a replica on the same directory may be writing it
    file(`locks/${'b'.repeat(64)}`, justNow), // held right now
    file(`objects/uploads/${uploadId(2)}/data~`, justNow), // a single-request upload in progress elsewhere
    file(`objects/uploads/${uploadId(3)}/state~`, hourAndMore), // a session a client may still resume
    file(`objects/uploads/${uploadId(3)}/data~`, hourAndMore),
    file('objects/blobs/sha256/ab/abcdef~', hourAndMore)
  ]
  const berth = spawnBerth(t, { BERTH_DATA_DIR: dataDir })
  await berth.url()
  for (const relative of removed) t.notOk(existsSync(path.join(dataDir, relative)), `removed ${relative}`)
  t.notOk(existsSync(path.join(dataDir, `objects/uploads/${uploadId(1)}`)), 'with its directory')
  for (const relative of kept) t.ok(existsSync(path.join(dataDir, relative)), `kept ${relative}`)
  const report = await berth.waitForLog(e => e.tempFiles !== undefined)
  t.match(report, { level: 30, tempFiles: 1, lockFiles: 1, uploads: 1 })
  t.match(report.msg, dataDir)
})
