// The CNR package index as a projection of the registry's events: whoever changes a tag (/v2 clients such as
// helm, oras or crane, the CNR API itself, /packages, the CLI, a sync or a GC), the tag's release is re-read
// and the package's index record follows. Listeners run before the write's response goes out, so a client
// that lists right after pushing sees its push; a failure is logged by the events and repaired by the next
// write to the package, or by rebuild().
import type { Catalog } from '../registry/catalog.js'
import type { EventOf, RegistryEvents } from '../registry/events.js'
import type { CnrService } from './service.js'

/** CNR packages are the repositories of exactly two components, `<namespace>/<package>`. */
export function isPackageRepository (name: string): boolean {
  return name.split('/').length === 2
}

export interface RebuildReport {
  /** Repositories read from the catalog. */
  repositories: number
  /** Package repositories whose index record was re-derived. */
  packages: number
  /** Package repositories that could not be re-derived (the error went to `onError`). */
  failed: string[]
}

const CATALOG_PAGE = 1000

export function createIndexProjector (service: CnrService, catalog: Catalog) {
  async function tagChanged (event: EventOf<'tag-set' | 'tag-deleted'>): Promise<void> {
    if (isPackageRepository(event.repository)) await service.syncTags(event.repository, [event.tag])
  }

  return {
    /** Keeps the index current from now on; returns the unsubscribe function. */
    subscribe (events: RegistryEvents): () => void {
      const off = [events.on('tag-set', tagChanged), events.on('tag-deleted', tagChanged)]
      return () => { for (const unsubscribe of off) unsubscribe() }
    },

    /**
     * Re-derives every package's index record from the store (after a crash between a write and its event,
     * or a lost or damaged index), walking the catalog a page at a time. A package that fails is reported and
     * skipped, so one damaged package does not stop the rest.
     */
    async rebuild (onError: (name: string, err: unknown) => void = () => {}): Promise<RebuildReport> {
      const report: RebuildReport = { repositories: 0, packages: 0, failed: [] }
      let last: string | undefined
      for (;;) {
        const page = await catalog.list({ limit: CATALOG_PAGE, last })
        for (const name of page.items) {
          report.repositories++
          if (!isPackageRepository(name)) continue
          try {
            await service.syncAll(name)
            report.packages++
          } catch (err) {
            report.failed.push(name)
            onError(name, err)
          }
        }
        if (!page.truncated || page.items.length === 0) return report
        last = page.items.at(-1)
      }
    }
  }
}

export type IndexProjector = ReturnType<typeof createIndexProjector>
