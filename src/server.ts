#!/usr/bin/env node
// Process entry: read the configuration, open the store, build the app, listen, and shut down cleanly on signals.
// A configuration or environment error is one line on stderr naming the variable, and exit status 2.
// With BERTH_WORKERS above 1 this process only supervises the workers that serve (src/workers.ts), and loads
// nothing else: the app's modules are imported by the workers alone.
import cluster from 'node:cluster'
import { ConfigError, loadConfig } from './config.js'

async function main (): Promise<void> {
  const config = loadConfig()
  if (config.workers > 1 && cluster.isPrimary) {
    const { superviseWorkers } = await import('./workers.js')
    await superviseWorkers(config)
    return
  }
  const { buildApp } = await import('./app.js')
  const { createBerth } = await import('./compose.js')
  const { handleShutdown } = await import('./lifecycle.js')
  const { listen, logStarted, openStore } = await import('./startup.js')
  const { openBindRefusal } = await import('./open-bind.js')
  const berth = await createBerth(config, { driver: await openStore(config.storage) })
  const app = await buildApp(berth)
  const refusal = openBindRefusal({ host: config.host, allowOpen: config.allowOpen, hasUsers: await berth.auth.enabled() })
  if (refusal !== undefined) {
    process.stderr.write(`${refusal}\n`)
    await app.close()
    process.exit(2)
  }
  const purge = setInterval(() => {
    berth.registry.uploads.purgeExpired()
      .then(n => { if (n > 0) app.log.info({ purged: n }, 'purged expired upload sessions') })
      .catch(err => { app.log.warn({ err }, 'purging expired uploads failed') })
  }, 3600_000)
  purge.unref()
  handleShutdown(app, { timeoutMs: config.shutdownTimeoutMs, onShutdown: () => { clearInterval(purge) } })
  await listen(app, config)
  // One start-up line per server, not per worker: the first worker says it (src/workers.ts).
  if (cluster.isPrimary || cluster.worker?.id === 1) await logStarted(app, config)
}

main().catch(err => {
  if (err instanceof ConfigError) {
    process.stderr.write(`berth: configuration error: ${err.message}\n`)
    process.exit(2)
  }
  process.stderr.write(`berth: failed to start: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
