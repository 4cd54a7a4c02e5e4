// Real Chromium for the web UI tests: Debian's /usr/bin/chromium (.ci/run installs it), driven by playwright-core,
// headless. The browser runs as a child of this process that is killed with it (killWithThisProcess), and closed
// when the test ends. The UI is built first (npm run build:ui), as `npm run build` would.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { chromium, type Browser, type BrowserContext } from 'playwright-core'
import type { Test } from 'tap'
import { killWithThisProcess } from '../helpers/server-process.js'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const root = fileURLToPath(new URL('../../', import.meta.url))
/** Where the README's screenshots live: a run writes them there only when BERTH_UI_SCREENSHOTS=1. */
export const SCREENSHOTS = path.join(root, 'docs', 'screenshots')

export async function buildUi (): Promise<void> {
  await promisify(execFile)(process.execPath, [path.join(root, 'scripts', 'build-ui.mjs')], { cwd: root })
}

export async function launchBrowser (t: Test): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`)
  const server = await chromium.launchServer({
    executablePath: CHROMIUM,
    headless: true,
    // Containers often run as root without user namespaces; /dev/shm may be small.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu']
  })
  const child = server.process()
  killWithThisProcess(child)
  const browser = await chromium.connect(server.wsEndpoint())
  t.teardown(async () => {
    await browser.close().catch(() => {})
    await server.close()
  })
  return browser
}

/** A fresh browser profile (cookies, storage) for one user. */
export async function newContext (browser: Browser, viewport = { width: 1280, height: 900 }): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport, locale: 'en-GB', timezoneId: 'UTC' })
  context.setDefaultTimeout(30_000)
  return context
}

/**
 * Where this run saves its screenshots. They show the random port and the current time, so an ordinary run
 * keeps them in the test's own directory; BERTH_UI_SCREENSHOTS=1 refreshes the README's copies.
 */
export async function screenshotDir (t: Test): Promise<string> {
  if (process.env.BERTH_UI_SCREENSHOTS === '1') {
    await mkdir(SCREENSHOTS, { recursive: true })
    return SCREENSHOTS
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-ui-screenshots-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}
