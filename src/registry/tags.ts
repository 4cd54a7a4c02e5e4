// Tags: one small record per tag, plus a reverse index so deleting a manifest finds its tags
// without reading every tag of the repository. Every tag write and delete is told as a registry event.
import { DEFAULT_GC_GRACE_MS, createMarks, type Marks } from '../gc/marks.js'
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import type { RegistryEvents } from './events.js'
import { allowAll, tagImmutable, type WritePolicies } from './guard.js'
import type { Page, PageRequest } from './pagination.js'
import { readRecord, writeRecord } from './records.js'

export interface TagRecord {
  digest: string
  mediaType: string
  size: number
}

export function createTags (driver: StorageDriver, events: RegistryEvents,
  { marks = createMarks(driver, { graceMs: DEFAULT_GC_GRACE_MS }), guard = allowAll }: WritePolicies = {}) {
  const tags = {
    async get (name: string, tag: string): Promise<TagRecord | undefined> {
      return await readRecord<TagRecord>(driver, paths.tag(name, tag))
    },

    /** A tag's record and when it was last written (a push or a move): the store's modification time of it. */
    async stat (name: string, tag: string): Promise<(TagRecord & { writtenAt: Date }) | undefined> {
      const [record, info] = await Promise.all([tags.get(name, tag), driver.stat(paths.tag(name, tag))])
      return record === undefined || info === undefined ? undefined : { ...record, writtenAt: info.modifiedAt }
    },

    /**
     * Throws tag-immutable when an immutable-tag rule forbids the change of `tag`: pointing it at digest `next`,
     * 'delete', or 'replace' (new content whose digest is not known yet). Pointing a tag at the digest it already
     * names is always allowed (a re-push); so is creating it. `current` saves a read (null: known absent).
     */
    async assertChangeable (name: string, tag: string, next: string, current?: TagRecord | null): Promise<void> {
      const rule = (await guard.immutableRules(name))?.(tag)
      if (rule === undefined) return
      const record = current === null ? undefined : current ?? await tags.get(name, tag)
      if (record === undefined || record.digest === next) return
      throw tagImmutable(name, tag, rule, record.digest, next === 'delete' ? 'deleted' : 'moved')
    },

    async set (name: string, tag: string, record: TagRecord): Promise<void> {
      await marks.refresh(record.digest) // an untagged manifest a collection is deleting is not tagged meanwhile
      const previous = await tags.get(name, tag)
      await tags.assertChangeable(name, tag, record.digest, previous ?? null)
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
      await tags.assertChangeable(name, tag, 'delete', record)
      await driver.delete(paths.tag(name, tag))
      await driver.delete(paths.taggedEntry(name, record.digest, tag))
      await events.emit('tag-deleted', { repository: name, tag, digest: record.digest })
      return true
    },

    /** Throws tag-immutable when an immutable tag names `digest` (before the manifest may be deleted). */
    async assertNoImmutableTag (name: string, digest: string): Promise<void> {
      const rules = await guard.immutableRules(name)
      if (rules === undefined) return
      const prefix = paths.taggedPrefix(name, digest)
      for (let startAfter: string | undefined; ;) {
        const page = await driver.list(prefix, { limit: 1000, startAfter })
        for (const key of page.keys) {
          const tag = key.slice(prefix.length)
          const rule = rules(tag)
          if (rule !== undefined && (await tags.get(name, tag))?.digest === digest) throw tagImmutable(name, tag, rule, digest, 'deleted')
        }
        if (!page.truncated || page.keys.length === 0) return
        startAfter = page.keys.at(-1)
      }
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
