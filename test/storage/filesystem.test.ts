import t from 'tap'
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js'
import { runDriverSuite } from './driver-suite.js'

runDriverSuite(t, async () => {
  const driver = new FilesystemDriver({ root: t.testdir() })
  await driver.init()
  return driver
})
