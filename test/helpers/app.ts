// Builds a Berth app on a fresh filesystem store for one test, closed when the test ends. `app.berth` holds
// the services it was built from (compose.ts).
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig, type Config } from '../../src/config.js'

export async function buildTestApp (t: Test, env: Record<string, string> = {}): Promise<{ app: FastifyInstance, config: Config }> {
  const config = loadConfig({ BERTH_DATA_DIR: t.testdir(), LOG_LEVEL: 'silent', ...env })
  const app = await buildApp(await createBerth(config))
  t.teardown(async () => { await app.close() })
  return { app, config }
}
