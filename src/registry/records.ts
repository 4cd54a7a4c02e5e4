// Small JSON records (links, tags, upload state) stored through the driver.
import { isNotFound, type StorageDriver } from '../storage/driver.js'

export async function readRecord<T> (driver: StorageDriver, key: string): Promise<T | undefined> {
  try {
    return JSON.parse((await driver.readAll(key)).toString('utf8')) as T
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}

export async function writeRecord (driver: StorageDriver, key: string, value: unknown): Promise<void> {
  await driver.write(key, encodeRecord(value))
}

export function encodeRecord (value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value))
}
