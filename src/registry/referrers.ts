// Referrers: manifests whose `subject` names another manifest. One record per (subject, referrer), so the
// referrers of a subject are one prefix listing.
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import { mapLimit } from '../util/map-limit.js'
import type { Descriptor } from '../types/generated/index.js'
import type { Page, PageRequest } from './pagination.js'
import { readRecord, writeRecord } from './records.js'

export function createReferrers (driver: StorageDriver) {
  return {
    async add (name: string, subject: string, descriptor: Descriptor): Promise<void> {
      await writeRecord(driver, paths.referrer(name, subject, descriptor.digest), descriptor)
    },

    async remove (name: string, subject: string, referrer: string): Promise<void> {
      await driver.delete(paths.referrer(name, subject, referrer))
    },

    /** A page of referrer descriptors of `subject`; `last` is the digest of the last referrer already seen. */
    async list (name: string, subject: string, { limit, last }: PageRequest): Promise<Page<Descriptor> & { last?: string }> {
      const page = await driver.list(paths.referrersPrefix(name, subject), {
        limit,
        startAfter: last === undefined ? undefined : paths.referrer(name, subject, last)
      })
      const records = await mapLimit(page.keys, 16, async key => await readRecord<Descriptor>(driver, key))
      const items = records.filter((d): d is Descriptor => d !== undefined)
      return { items, truncated: page.truncated, last: items.at(-1)?.digest }
    }
  }
}

export type Referrers = ReturnType<typeof createReferrers>
