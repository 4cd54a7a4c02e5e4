#!/usr/bin/env node
// Process entry: read the configuration, build the app, listen, and shut down cleanly on signals.
import { ConfigError, loadConfig } from './config.js'
import { buildApp } from './app.js'
import { openBindRefusal } from './open-bind.js'

async function main (): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`berth: configuration error: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  const app = await buildApp({ config })
  const refusal = openBindRefusal({ host: config.host, allowOpen: config.allowOpen, hasUsers: await app.auth.enabled() })
  if (refusal !== undefined) {
    process.stderr.write(`${refusal}\n`)
    await app.close()
    process.exit(2)
  }
  const purge = setInterval(() => {
    app.registry.uploads.purgeExpired()
      .then(n => { if (n > 0) app.log.info({ purged: n }, 'purged expired upload sessions') })
      .catch(err => { app.log.warn({ err }, 'purging expired uploads failed') })
  }, 3600_000)
  purge.unref()

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.log.info({ signal }, 'shutting down')
      clearInterval(purge)
      app.close().then(() => process.exit(0), () => process.exit(1))
    })
  }
  await app.listen({ host: config.host, port: config.port })
}

main().catch(err => {
  process.stderr.write(`berth: failed to start: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
