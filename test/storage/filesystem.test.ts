import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js'
import { runDriverSuite } from './driver-suite.js'

runDriverSuite(t, async () => {
  const driver = new FilesystemDriver({ root: t.testdir() })
  await driver.init()
  return driver
})

t.test('listings kept sorted between calls see every change made since, by any process on the directory', async t => {
  const root = t.testdir()
  const reader = new FilesystemDriver({ root })
  const writer = new FilesystemDriver({ root }) // another replica sharing the directory
  await reader.init()
  const key = (i: number): string => `repositories/app/_tags/v${String(i).padStart(3, '0')}`
  for (let i = 0; i < 300; i += 2) await writer.write(key(i), Buffer.from('{}'))
  await sleep(1200) // long enough after the last change for the reader to keep its sorted listing
  const page = async (startAfter?: string): Promise<string[]> =>
    (await reader.list('repositories/app/_tags/', { limit: 3, startAfter })).keys
  t.same(await page(key(100)), [key(102), key(104), key(106)])
  t.same(await page(key(101)), [key(102), key(104), key(106)], 'starting after a key that does not exist')
  t.same(await page(key(100)), [key(102), key(104), key(106)], 'the same page from the kept listing')

  await writer.write(key(103), Buffer.from('{}'))
  t.same(await page(key(100)), [key(102), key(103), key(104)], 'a key another process added')
  await writer.delete(key(102))
  t.same(await page(key(100)), [key(103), key(104), key(106)], 'a key another process deleted')
  await sleep(1200)
  t.same(await page(key(100)), [key(103), key(104), key(106)])
  await writer.write(key(101), Buffer.from('{}'))
  t.same(await page(key(100)), [key(101), key(103), key(104)], 'a change right after the listing was kept')
  t.same(await page('repositories/app/_tags0'), [], 'a start past the prefix')
  t.same(await page('repositories/app/_tag'), [key(0), key(2), key(4)], 'a start before the prefix')
})

t.test('a delete keeps the top-level directories, which every new session and record is created under', async t => {
  // Pruning uploads/ when its last session went raced every session starting at that moment: a recursive mkdir
  // that found uploads/ existing and then gone failed with ENOTDIR (a 500 on a fresh store's first pushes).
  const root = t.testdir()
  const driver = new FilesystemDriver({ root })
  await driver.init()
  const body = (text: string): Readable => Readable.from([Buffer.from(text)])
  for (let round = 0; round < 20; round++) {
    const old = Array.from({ length: 4 }, (_, i) => `uploads/old-${round}-${i}/data`)
    for (const key of old) await driver.append(key, 0, body('old'))
    const fresh = Array.from({ length: 4 }, (_, i) => `uploads/new-${round}-${i}/data`)
    await Promise.all([
      ...old.map(async key => { await driver.deletePrefix(key.slice(0, -'data'.length)) }),
      ...fresh.map(async key => { t.equal(await driver.append(key, 0, body(key)), key.length) })
    ])
    for (const key of fresh) {
      t.equal((await driver.readAll(key)).toString(), key)
      await driver.deletePrefix(key.slice(0, -'data'.length))
    }
  }
  t.same((await driver.list('uploads/', { limit: 10 })).keys, [], 'every session is gone')
  t.ok((await stat(path.join(root, 'objects', 'uploads'))).isDirectory(), 'uploads/ itself stays')
  t.same(await readdir(path.join(root, 'objects', 'uploads')), [], 'and holds no empty session directory')
  await driver.write('repositories/app/_tags/v1', Buffer.from('{}'))
  await driver.delete('repositories/app/_tags/v1')
  t.same(await readdir(path.join(root, 'objects', 'repositories')), [], 'deeper empty directories are pruned')
})
