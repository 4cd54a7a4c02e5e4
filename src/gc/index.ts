// Garbage collection as one process sees it: on-demand runs (the CLI, tests), the background schedule (one
// replica at a time, under the lease in the store), retention policies, and the run reports for metrics.
import type { Logger } from 'pino'
import type { Registry } from '../registry/index.js'
import { createCollector, CollectionStopped, type CollectOptions, type GcReport } from './collector.js'
import { acquireLease } from './lease.js'
import { createRetention } from './retention.js'

export interface GcConfig {
  /** Between two background runs; 0: no background runs (BERTH_GC_INTERVAL_SECONDS). */
  intervalMs: number
  /** Nothing written or referenced more recently is deleted (BERTH_GC_GRACE_SECONDS). */
  graceMs: number
}

export type { GcReport, Deletion, DeletionKind } from './collector.js'

export function createGc (registry: Registry, config: GcConfig, log: Logger) {
  const retention = createRetention(registry.driver)
  const collector = createCollector(registry, retention)
  const listeners: Array<(report: GcReport) => void> = []
  let timer: NodeJS.Timeout | undefined
  let stopping: AbortController | undefined
  let running: Promise<unknown> = Promise.resolve()

  const tell = (report: GcReport): void => {
    for (const listener of listeners) {
      try { listener(report) } catch (err) { log.warn({ err }, 'a garbage-collection listener failed') }
    }
  }

  const gc = {
    retention,

    /** Tells `listener` of every finished run of this process (metrics); returns the unsubscribe function. */
    onRun (listener: (report: GcReport) => void): () => void {
      listeners.push(listener)
      return () => { listeners.splice(listeners.indexOf(listener), 1) }
    },

    /**
     * One run now. With `lease` (the default for real runs), only when no other replica is collecting:
     * undefined when one is. A dry run takes no lease: it deletes nothing.
     */
    async run (options: Partial<CollectOptions> & { lease?: boolean } = {}): Promise<GcReport | undefined> {
      const dryRun = options.dryRun ?? false
      const held = (options.lease ?? !dryRun) ? await acquireLease(registry.driver) : undefined
      if ((options.lease ?? !dryRun) && held === undefined) return undefined
      try {
        const report = await collector.collect({
          graceMs: config.graceMs,
          ...options,
          dryRun,
          mayContinue: held === undefined ? options.mayContinue : () => held.held() && (options.mayContinue?.() ?? true)
        })
        tell(report)
        return report
      } finally {
        await held?.release()
      }
    },

    /** Starts background runs, the first one interval after now. Idempotent; stopped by close(). */
    start (): void {
      if (config.intervalMs <= 0 || timer !== undefined) return
      stopping = new AbortController()
      const signal = stopping.signal
      const tick = (): void => {
        const done = gc.run({ signal }).then(report => {
          if (report === undefined) log.debug('garbage collection: another replica holds the lease')
          else log.info({ gc: report }, 'garbage collection finished')
        }, (err: unknown) => {
          if (!(err instanceof CollectionStopped)) log.warn({ err }, 'garbage collection failed; the next run retries')
        })
        running = done
        void done.then(() => {
          if (!signal.aborted) { timer = setTimeout(tick, config.intervalMs); timer.unref() }
        })
      }
      timer = setTimeout(tick, config.intervalMs)
      timer.unref()
    },

    /** Stops background runs; a run in progress stops at its next step. */
    async close (): Promise<void> {
      clearTimeout(timer)
      stopping?.abort()
      await running
    }
  }
  return gc
}

export type Gc = ReturnType<typeof createGc>
