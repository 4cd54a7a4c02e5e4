// Tags: one small record per tag, plus a reverse index so deleting a manifest finds its tags
// without reading every tag of the repository. Every tag write and delete is told as a registry event.
import { createMarks, type Marks } from '../gc/marks.js'
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import type { RegistryEvents } from './events.js'
import type { Page, PageRequest } from './pagination.js'
import { readRecord, writeRecord } from './records.js'

export interface TagRecord {
  digest: string
  mediaType: string
  size: number
}

export function createTags (driver: StorageDriver, events: RegistryEvents, marks: Marks = createMarks(driver, { graceMs: 24 * 3600_000 })) {
  const tags = {
    async get (name: string, tag: string): Promise<TagRecord | undefined> {
      return await readRecord<TagRecord>(driver, paths.tag(name, tag))
    },

    async set (name: string, tag: string, record: TagRecord): Promise<void> {
      await marks.refresh(record.digest) // an untagged manifest a collection is deleting is not tagged meanwhile
      const previous = await tags.get(name, tag)
      // The reverse entry is written first, so a manifest delete always finds every tag that may point at it.
      await driver.write(paths.taggedEntry(name, record.digest, tag), Buffer.alloc(0))
      await writeRecord(driver, paths.tag(name, tag), record)
      if (previous !== undefined && previous.digest !== record.digest) {
        await driver.delete(paths.taggedEntry(name, previous.digest, tag))
      }
      await events.emit('tag-set', { repository: name, tag, digest: record.digest, mediaType: record.mediaType, size: record.size })
    },

    /** Deletes a tag. Returns false when there was none. */
    async delete (name: string, tag: string): Promise<boolean> {
      const record = await tags.get(name, tag)
      if (record === undefined) return false
      await driver.delete(paths.tag(name, tag))
      await driver.delete(paths.taggedEntry(name, record.digest, tag))
      await events.emit('tag-deleted', { repository: name, tag, digest: record.digest })
      return true
    },

    /** Deletes every tag that points at `digest`. */
    async deleteAllFor (name: string, digest: string): Promise<void> {
      const prefix = paths.taggedPrefix(name, digest)
      for (;;) {
        const page = await driver.list(prefix, { limit: 1000 })
        for (const key of page.keys) {
          const tag = key.slice(prefix.length)
          const record = await tags.get(name, tag)
          const named = record?.digest === digest
          if (named) await driver.delete(paths.tag(name, tag))
          await driver.delete(key)
          if (named) await events.emit('tag-deleted', { repository: name, tag, digest })
        }
        if (!page.truncated) return
      }
    },

    /** A page of tag names in byte (ASCII) order. */
    async list (name: string, { limit, last }: PageRequest): Promise<Page<string>> {
      const page = await driver.list(paths.tagsPrefix(name), {
        limit,
        startAfter: last === undefined ? undefined : paths.tag(name, last)
      })
      return { items: page.keys.map(key => paths.tagFromKey(name, key)), truncated: page.truncated }
    }
  }
  return tags
}

export type Tags = ReturnType<typeof createTags>
