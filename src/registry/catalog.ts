// The repository catalog: one marker per repository, so a page of names is one prefix listing.
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import type { RegistryEvents } from './events.js'
import type { Page, PageRequest } from './pagination.js'

export function createCatalog (driver: StorageDriver, events: RegistryEvents) {
  // Markers are immutable once written, so a process may remember the ones it has seen.
  const known = new Set<string>()
  return {
    async ensure (name: string): Promise<void> {
      if (known.has(name)) return
      const created = await driver.createIfAbsent(paths.catalogEntry(name), Buffer.from('{}'))
      known.add(name)
      if (created) await events.emit('repository-created', { repository: name })
    },

    async exists (name: string): Promise<boolean> {
      return await driver.stat(paths.catalogEntry(name)) !== undefined
    },

    async list ({ limit, last }: PageRequest): Promise<Page<string>> {
      const page = await driver.list(paths.catalogPrefix, {
        limit,
        startAfter: last === undefined ? undefined : paths.catalogEntry(last)
      })
      return { items: page.keys.map(paths.nameFromCatalogKey), truncated: page.truncated }
    }
  }
}

export type Catalog = ReturnType<typeof createCatalog>
