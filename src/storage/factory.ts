// Builds the configured storage driver. A bad configuration fails here, at startup.
import type { StorageConfig } from '../config.js'
import type { StorageDriver } from './driver.js'
import { FilesystemDriver } from './drivers/filesystem.js'

export async function createDriver (config: StorageConfig): Promise<StorageDriver> {
  switch (config.driver) {
    case 'filesystem': {
      const driver = new FilesystemDriver({ root: config.root })
      await driver.init()
      return driver
    }
  }
}
