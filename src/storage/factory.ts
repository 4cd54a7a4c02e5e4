// Builds the configured storage driver. A bad configuration fails here, at startup. The S3 driver and its client
// library (about 30 MiB of RSS) are loaded only when the store is S3.
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
    case 's3': {
      const { S3Driver } = await import('./drivers/s3/index.js')
      const { endpoint, accessKey, secretKey, bucket, region, timeoutMs, publicEndpoint } = config.s3
      const driver = new S3Driver({
        endpoint, accessKey, secretKey, bucket, region, timeoutMs, ...(publicEndpoint === undefined ? {} : { publicEndpoint })
      })
      try {
        await driver.init() // reaches the endpoint, checks the credentials, creates the bucket when missing
      } catch (err) {
        await driver.close()
        throw err
      }
      return driver
    }
  }
}
