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

    /**
     * Every repository in `namespace` (the repository of that name and those under `<namespace>/`), or every
     * repository when `namespace` is undefined; in name order, one listing page at a time.
     */
    async * names (namespace?: string): AsyncGenerator<string> {
      if (namespace !== undefined && await driver.stat(paths.catalogEntry(namespace)) !== undefined) yield namespace
      const prefix = namespace === undefined ? paths.catalogPrefix : paths.catalogNamespacePrefix(namespace)
      let startAfter: string | undefined
      for (;;) {
        const page = await driver.list(prefix, { limit: 1000, startAfter })
        yield * page.keys.map(paths.nameFromCatalogKey)
        if (!page.truncated || page.keys.length === 0) return
        startAfter = page.keys.at(-1)
      }
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
