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
