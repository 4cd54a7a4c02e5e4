// The web UI in real Chromium against a real Berth process with authentication on. alice owns the `alice`
// namespace and pushed everything (seed.ts); carol may only read it (a namespace policy). The tests sign in
// and out, browse every kind of page, page through thousands of tags, delete as alice, and check that carol is
// offered no delete action and that the session cannot be used for writes without the CSRF token. Screenshots
// of the main pages are saved (to docs/screenshots/, which the README shows, with BERTH_UI_SCREENSHOTS=1).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import type { Browser, Page } from 'playwright-core'
import { createPolicies } from '../../src/auth/policy.js'
import { createUsers } from '../../src/auth/users.js'
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js'
import { runBerth } from '../helpers/cli.js'
import { startServer, type ServerProcess } from '../helpers/server-process.js'
import { buildUi, launchBrowser, newContext, screenshotDir } from './browser.js'
import { MANY_TAGS, PASSWORDS, seed, type Seeded } from './seed.js'

let server: ServerProcess
let seeded: Seeded
let browser: Browser
let shots: string
let ui: string
t.before(async () => {
  const dataDir = t.testdir()
  // The clients' files (images, charts, their HOME) live apart from the store.
  const clientDir = mkdtempSync(path.join(tmpdir(), 'berth-ui-clients-'))
  t.teardown(() => { rmSync(clientDir, { recursive: true, force: true }) })
  await buildUi()
  const driver = new FilesystemDriver({ root: dataDir })
  await driver.init()
  await createUsers(driver, { cacheTtlMs: 0 }).add('alice', PASSWORDS.alice)
  await createUsers(driver, { cacheTtlMs: 0 }).add('carol', PASSWORDS.carol)
  const policies = createPolicies(driver, { cacheTtlMs: 0, defaultVisibility: 'private' })
  await policies.grant('alice', 'carol', 'read')
  await policies.grant('packages', 'alice', 'write') // /packages files are repositories packages/<name>
  await policies.grant('packages', 'carol', 'read')
  await driver.close()
  const quota = await runBerth(['quota', 'set', 'alice', '1GiB'], { BERTH_DATA_DIR: dataDir })
  if (quota.code !== 0) throw new Error(`berth quota set: ${quota.stderr}`)
  server = await startServer(t, { BERTH_DATA_DIR: dataDir, BERTH_ADMIN_USER: 'root', BERTH_ADMIN_PASSWORD: 'root-password-1' })
  seeded = await seed(server, clientDir)
  browser = await launchBrowser(t)
  shots = await screenshotDir(t)
  ui = `${server.url}/ui/`
})

async function signIn (page: Page, user: keyof typeof PASSWORDS): Promise<void> {
  await page.goto(`${ui}#/signin`)
  await page.getByLabel('User name').fill(user)
  await page.getByLabel('Password').fill(PASSWORDS[user])
  await page.getByLabel('Password').press('Enter') // the keyboard is enough
  await page.getByText(`Signed in as ${user}`).waitFor()
}

t.test('the server: / sends browsers to /ui/ only, the UI has a CSP and no inline script', async t => {
  const browserAsk = await fetch(`${server.url}/`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' }, redirect: 'manual' })
  t.equal(browserAsk.status, 302)
  t.equal(browserAsk.headers.get('location'), '/ui/')
  const apiAsk = await fetch(`${server.url}/`, { headers: { accept: 'application/json' }, redirect: 'manual' })
  t.equal(apiAsk.status, 404, 'API clients get what they got before')
  t.match(await apiAsk.json(), { errors: [{ code: 'NOT_FOUND' }] })
  const page = await fetch(ui)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-security-policy'), /script-src 'self'(;|$)/)
  t.notMatch(page.headers.get('content-security-policy'), /unsafe-inline|unsafe-eval/)
  const html = await page.text()
  t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file')
  t.notMatch(html, /https?:\/\//, 'nothing is fetched from elsewhere')
})

t.test('signing in and out', async t => {
  const context = await newContext(browser)
  const page = await context.newPage()
  await page.goto(`${server.url}/`)
  t.equal(new URL(page.url()).pathname, '/ui/', 'opening / lands on the UI')
  await page.getByText('You are browsing anonymously').waitFor()
  await page.getByRole('alert').getByText('Sign in to see this page.').waitFor()
  t.equal(await page.getByRole('list', { name: 'repositories' }).count(), 0, 'anonymous sees no private repository')

  await page.goto(`${ui}#/signin`)
  await page.getByLabel('User name').fill('alice')
  await page.getByLabel('Password').fill('wrong-password')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('alert').getByText('invalid username or password').waitFor()

  await signIn(page, 'alice')
  await page.getByRole('link', { name: 'alice/app' }).waitFor()
  const cookies = await context.cookies()
  const session = cookies.find(c => c.name === 'berth_session')
  t.ok(session, 'a session cookie is set')
  t.equal(session?.httpOnly, true, 'HttpOnly')
  t.equal(session?.sameSite, 'Strict', 'SameSite=Strict')
  t.notMatch(await page.evaluate(() => document.cookie), /berth_session/, 'scripts cannot read the session')
  t.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0, 'nothing in web storage')
  await page.screenshot({ path: path.join(shots, 'repositories.png') })

  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.getByRole('heading', { name: 'Sign in' }).waitFor()
  t.notOk((await context.cookies()).find(c => c.name === 'berth_session' && c.value !== ''), 'the session cookie is gone')
  const status = await page.evaluate(async () => (await fetch('/v2/_catalog')).status)
  t.equal(status, 401, 'signed out, the API refuses the browser')
  const replayed = await fetch(`${server.url}/v2/_catalog`, { headers: { cookie: `berth_session=${session?.value ?? ''}` } })
  t.equal(replayed.status, 401, 'a copy of the old cookie is refused too: signing out revoked the session')
  await context.close()
})

t.test('a session that ends while a page is open: the user signs in again and is back where they were', async t => {
  const context = await newContext(browser)
  const page = await context.newPage()
  await signIn(page, 'alice')
  await page.goto(`${ui}#/cnr`)
  await page.getByRole('heading', { name: 'CNR packages' }).waitFor()
  // Signed out elsewhere (another tab, or an administrator's cleanup): the token in this browser is revoked.
  const session = (await context.cookies()).find(c => c.name === 'berth_session')?.value ?? ''
  const csrf = 'csrf-of-another-tab-000000'
  const revoked = await fetch(`${ui}api/session`, { method: 'DELETE', headers: { cookie: `berth_session=${session}; berth_csrf=${csrf}`, 'x-berth-csrf': csrf } })
  t.equal(revoked.status, 204)
  await page.getByRole('link', { name: 'Package files' }).click()
  const notice = page.getByRole('alert').filter({ hasText: 'Your session has ended.' })
  await notice.waitFor()
  t.equal(await page.getByText('Signed in as alice').count(), 0, 'the header no longer claims a user')
  await notice.getByRole('link', { name: 'Sign in again' }).click()
  await page.getByLabel('User name').fill('alice')
  await page.getByLabel('Password').fill(PASSWORDS.alice)
  await page.getByLabel('Password').press('Enter')
  await page.getByText('Signed in as alice').waitFor()
  t.equal(new URL(page.url()).hash, '#/files', 'back on the page the session ended on')
  t.equal(await notice.count(), 0)
  await context.close()
})

t.test('browsing as alice: repositories, tags paged, manifests, index, referrers', async t => {
  const context = await newContext(browser)
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url })
  const page = await context.newPage()
  await signIn(page, 'alice')

  const list = page.getByRole('list', { name: 'repositories' })
  await list.getByRole('link', { name: 'alice/app' }).waitFor()
  t.same(await list.getByRole('link').allTextContents(), ['alice/app', 'alice/charts/webchart', 'alice/many', 'alice/stack', 'packages/agent', 'packages/tool'], 'the catalog, in order')
  const searched = page.waitForResponse(r => r.url().includes('/ui/api/repositories?') && r.url().includes('q=many'))
  await page.getByLabel('Search repositories').fill('many')
  t.same((await (await searched).json() as { repositories: string[] }).repositories, ['alice/many'], 'the server searches the catalog')
  await page.waitForFunction(() => document.querySelectorAll('[aria-label=repositories] a').length === 1)
  t.same(await list.getByRole('link').allTextContents(), ['alice/many'], 'the search box filters the catalog')

  // Thousands of tags, 100 a page.
  await list.getByRole('link', { name: 'alice/many' }).click()
  const tags = page.getByRole('table', { name: 'tags' })
  await tags.getByRole('link', { name: 't00000' }).waitFor()
  t.equal(await tags.locator('tbody tr').count(), 100)
  t.equal(await tags.locator('tbody tr').last().locator('td').first().textContent(), 't00099')
  t.match(await tags.locator('tbody tr').first().textContent(), /sha256:[0-9a-f]{12}…/, 'digest shown')
  const pushed = tags.locator('tbody tr').first().locator('time')
  t.match(await pushed.textContent(), /ago|now/, 'push time shown for people')
  const pushedAt = Date.parse(await pushed.getAttribute('datetime') ?? '')
  t.ok(pushedAt > Date.now() - 3_600_000 && pushedAt <= Date.now() + 60_000, 'when the seed pushed it')
  await page.screenshot({ path: path.join(shots, 'tags.png') })
  const pages = Math.ceil(MANY_TAGS / 100)
  for (let p = 2; p <= pages; p++) {
    await page.getByRole('button', { name: 'Next →' }).click()
    await tags.getByRole('link', { name: `t${String((p - 1) * 100).padStart(5, '0')}` }).waitFor()
    if (p === 3) {
      await page.getByRole('button', { name: '← Previous' }).click()
      await tags.getByRole('link', { name: 't00100' }).waitFor()
      await page.getByRole('button', { name: 'Next →' }).click()
      await tags.getByRole('link', { name: 't00200' }).waitFor()
    }
    if (p === 5) break // enough to show that paging works
  }
  t.equal(await page.getByText('Page 5').count(), 1)
  t.equal(await tags.locator('tbody tr').count(), 100)

  // An image: config, layers, annotations, referrers grouped by kind, commands to copy.
  await page.goto(`${ui}#/manifest/alice/app/v1`)
  await page.getByRole('heading', { name: 'Layers' }).waitFor()
  t.equal(await page.getByRole('table', { name: 'layers' }).locator('tbody tr').count(), 1)
  await page.getByText('The web UI test image').waitFor()
  await page.getByText(seeded.imageDigest, { exact: true }).waitFor()
  // What cosign, notation and oras stored for v1, each under its kind, with its digest: cosign's signature
  // (found by its sha256-<hex>.sig tag), Notation's signature, the SBOM and cosign's attestation (OCI referrers).
  const referrers: Array<[string, string]> = [
    ['Signatures (cosign)', seeded.signatures.cosign], ['Signatures (Notation)', seeded.signatures.notation],
    ['SBOMs', seeded.sbom], ['Attestations', seeded.attestation]
  ]
  await page.getByRole('region', { name: 'Attestations' }).waitFor()
  t.same(await page.locator('section.referrers').evaluateAll(sections => sections.map(s => s.getAttribute('aria-label'))),
    referrers.map(([kind]) => kind), 'one group per kind, in order')
  for (const [kind, digest] of referrers) {
    const items = page.getByRole('region', { name: kind }).getByRole('listitem')
    t.equal(await items.count(), 1, `one in ${kind}`)
    t.equal(await items.getByRole('link').locator('code').getAttribute('title'), digest, `${kind}: its manifest digest`)
  }
  t.match(await page.getByRole('region', { name: 'Signatures (cosign)' }).textContent(), /cosign tag sha256-[0-9a-f]{12}…\.sig/)
  t.match(await page.getByRole('region', { name: 'Attestations' }).textContent(), /https:\/\/slsa\.dev\/provenance\/v0\.2/, 'the predicate type')
  const pull = page.locator('.command code').first()
  t.equal(await pull.textContent(), `docker pull ${server.host}/alice/app:v1`)
  t.ok((await page.locator('.command code').allTextContents()).some(c => c.startsWith(`oras pull --plain-http ${server.host}/alice/app@sha256:`)))
  t.ok((await page.locator('.command code').allTextContents()).some(c => c.startsWith('crane --insecure pull ')))
  await page.locator('.command').first().getByRole('button').click()
  await page.locator('.command').first().getByRole('button', { name: /Copy/ }).getByText('Copied').waitFor()
  t.equal(await page.evaluate(async () => await navigator.clipboard.readText()), `docker pull ${server.host}/alice/app:v1`, 'the copy button copies')
  await page.screenshot({ path: path.join(shots, 'manifest.png'), fullPage: true })

  // Each referrer is a manifest page of its own, linked back to its subject.
  for (const [kind, digest] of referrers) {
    await page.goto(`${ui}#/manifest/alice/app/v1`)
    await page.getByRole('region', { name: kind }).getByRole('link').click()
    await page.getByText(digest, { exact: true }).waitFor()
    const subject = page.locator('.facts div', { hasText: 'Refers to' }).getByRole('link')
    t.equal(await subject.getAttribute('href'), `#/manifest/alice/app/${seeded.imageDigest}`, `${kind}: the page links back to v1`)
  }

  // The index: its platforms, each linked.
  await page.goto(`${ui}#/manifest/alice/app/multi`)
  const platforms = page.getByRole('table', { name: 'platforms' })
  await platforms.waitFor()
  t.same((await platforms.locator('tbody tr td:first-child').allTextContents()).sort(), ['linux/amd64', 'linux/arm64'])
  await page.screenshot({ path: path.join(shots, 'index.png'), fullPage: true })

  // The helm chart pushed by helm.
  await page.goto(`${ui}#/manifest/alice/charts/webchart/0.1.0`)
  await page.getByText(`helm pull --plain-http oci://${server.host}/alice/charts/webchart --version 0.1.0`).waitFor()

  // A phone-sized window.
  await page.setViewportSize({ width: 390, height: 844 })
  await page.goto(`${ui}#/manifest/alice/app/v1`)
  await page.getByRole('heading', { name: 'Layers' }).waitFor()
  // Wide tables scroll inside their own box; nothing else may stick out of the window.
  const sticking = await page.evaluate(() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && e.closest('.table-wrap') === null && e.closest('dialog') === null)
    .map(e => `${e.tagName.toLowerCase()}.${e.className}: ${(e.textContent ?? '').slice(0, 40)}`))
  t.same(sticking, [], 'no sideways scrolling on a phone')
  await page.screenshot({ path: path.join(shots, 'manifest-phone.png') })
  await context.close()
})

t.test('CNR packages, package files and storage as alice', async t => {
  const context = await newContext(browser)
  const page = await context.newPage()
  await signIn(page, 'alice')

  await page.getByRole('link', { name: 'CNR packages' }).click()
  const packages = page.getByRole('table', { name: 'packages' })
  await packages.getByRole('link', { name: 'alice/stack' }).waitFor()
  await page.getByLabel('Search packages').fill('nothing-like-this')
  await page.getByText('No packages match').waitFor()
  await page.getByLabel('Search packages').fill('stack')
  await packages.getByRole('link', { name: 'alice/stack' }).click()

  const releases = page.getByRole('table', { name: 'helm releases' })
  await releases.waitFor()
  t.same(await releases.locator('tbody tr td:first-child').allTextContents(), ['1.1.0', '1.0.0'])
  t.equal(await releases.locator('tbody tr').first().locator('.badge').textContent(), 'stable', 'the channel is shown on its current release')
  t.same(await page.getByRole('table', { name: 'deleted releases' }).locator('tbody tr td:first-child').allTextContents(), ['0.9.0'])
  t.equal(await page.getByRole('table', { name: 'channels' }).locator('tbody tr td').nth(1).textContent(), '1.1.0')
  const href = await releases.locator('tbody tr').first().getByRole('link', { name: 'tarball' }).getAttribute('href')
  const download = await context.request.get(new URL(href ?? '', page.url()).toString())
  t.equal(download.status(), 200)
  t.same(Buffer.from(await download.body()), seeded.chartTarball, 'the download link gives the pushed tarball')
  await page.screenshot({ path: path.join(shots, 'cnr-package.png'), fullPage: true })

  await page.getByRole('link', { name: 'Package files' }).click()
  const files = page.getByRole('table', { name: 'package files' })
  await files.getByRole('link', { name: 'tool-1.2.0.tar.gz' }).waitFor()
  t.same(await files.locator('tbody tr td:nth-child(3)').allTextContents(), ['agent-0.3.0.tar.gz', 'tool-1.2.0.tar.gz', 'tool-1.1.0.tar.gz'])
  const fileHref = await files.getByRole('link', { name: 'tool-1.2.0.tar.gz' }).getAttribute('href')
  t.same(Buffer.from(await (await context.request.get(new URL(fileHref ?? '', page.url()).toString())).body()), seeded.packageFile)
  await page.screenshot({ path: path.join(shots, 'package-files.png') })

  await page.getByRole('link', { name: 'Storage' }).click()
  const storage = page.getByRole('table', { name: 'storage' })
  await storage.waitFor()
  t.match(await storage.locator('tbody tr').first().textContent(), /^alice\d+(\.\d)? (B|KiB|MiB)live1\.0 GiB/, 'a quota namespace: live')
  t.equal(await storage.locator('tbody tr').count(), 1, 'packages has no quota and was not measured yet')
  t.equal(await page.getByLabel('Measure a namespace').count(), 0, 'only admins measure by name')

  // An admin measures packages by name; alice then sees it as measured, and measures it again.
  const admin = await newContext(browser)
  const adminPage = await admin.newPage()
  await adminPage.goto(`${ui}#/signin`)
  await adminPage.getByLabel('User name').fill('root')
  await adminPage.getByLabel('Password').fill('root-password-1')
  await adminPage.getByLabel('Password').press('Enter')
  await adminPage.getByText('Signed in as root').waitFor()
  await adminPage.getByRole('link', { name: 'Storage' }).click()
  await adminPage.getByLabel('Measure a namespace').fill('packages')
  await adminPage.getByLabel('Measure a namespace').press('Enter')
  await adminPage.getByRole('table', { name: 'storage' }).getByRole('cell', { name: 'packages', exact: true }).waitFor()
  await admin.close()

  await page.reload()
  await storage.waitFor()
  const measured = storage.locator('tbody tr').nth(1)
  t.match(await measured.textContent(), /^packages\d+(\.\d)? (B|KiB)measured .+Measure againnone—$/, 'a namespace without a quota: what it stored when measured')
  await measured.getByRole('button', { name: 'Measure packages again' }).click()
  await measured.getByRole('button', { name: 'Measure packages again' }).and(page.locator(':enabled')).waitFor()
  t.match(await measured.textContent(), /^packages\d+(\.\d)? (B|KiB)measured .+Measure again/)
  await page.screenshot({ path: path.join(shots, 'storage.png') })
  await context.close()
})

t.test('carol may read alice\'s namespace: she sees it all and no delete action; writes need the CSRF token', async t => {
  const context = await newContext(browser)
  const page = await context.newPage()
  await signIn(page, 'carol')
  await page.getByRole('link', { name: 'alice/app' }).click()
  const tags = page.getByRole('table', { name: 'tags' })
  await tags.getByRole('link', { name: 'v1' }).waitFor()
  t.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0, 'no delete for tags')
  await page.goto(`${ui}#/manifest/alice/app/v1`)
  await page.getByRole('heading', { name: 'Layers' }).waitFor()
  t.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0, 'no delete for the manifest')
  await page.goto(`${ui}#/cnr/alice/stack`)
  await page.getByRole('table', { name: 'helm releases' }).waitFor()
  t.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0, 'no delete for releases or channels')
  await page.goto(`${ui}#/files`)
  await page.getByRole('table', { name: 'package files' }).waitFor()
  t.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0, 'no delete for package files')
  const denied = await page.evaluate(async () => (await fetch('/v2/alice/app/manifests/v2', { method: 'DELETE' })).status)
  t.equal(denied, 401, 'a write without the CSRF token is anonymous, and refused')
  await context.close()

  const signedOut = await newContext(browser)
  const anonymous = await signedOut.newPage()
  await anonymous.goto(ui)
  await anonymous.getByRole('alert').getByText('Sign in to see this page.').waitFor()
  await signedOut.close()
})

t.test('deleting as alice, after confirming', async t => {
  const context = await newContext(browser)
  const page = await context.newPage()
  await signIn(page, 'alice')
  const exists = async (p: string): Promise<number> => (await fetch(`${server.url}${p}`, {
    method: 'HEAD', headers: { authorization: `Basic ${Buffer.from(`alice:${PASSWORDS.alice}`).toString('base64')}` }
  })).status

  // A tag: cancelling keeps it, confirming deletes it.
  await page.goto(`${ui}#/repo/alice/app`)
  const row = page.getByRole('table', { name: 'tags' }).getByRole('row', { name: /^v2 / })
  await row.waitFor()
  await row.getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('dialog').getByText('Delete tag alice/app:v2?').waitFor()
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click()
  t.equal(await exists('/v2/alice/app/manifests/v2'), 200, 'cancelled: still there')
  await row.getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Yes, delete' }).click()
  await row.waitFor({ state: 'detached' })
  t.equal(await exists('/v2/alice/app/manifests/v2'), 404, 'the tag is gone')
  t.equal(await exists('/v2/alice/app/manifests/arm'), 200, 'its manifest is still tagged arm')

  // A CNR channel and a release.
  await page.goto(`${ui}#/cnr/alice/stack`)
  const channels = page.getByRole('table', { name: 'channels' })
  await channels.getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Yes, delete' }).click()
  await page.getByText('No channels.').waitFor()
  const releases = page.getByRole('table', { name: 'helm releases' })
  await releases.getByRole('row', { name: /^1\.0\.0 / }).getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('dialog', { name: /1\.0\.0/ }).getByRole('button', { name: 'Yes, delete' }).click()
  await page.getByRole('table', { name: 'deleted releases' }).getByRole('cell', { name: '1.0.0', exact: true }).waitFor()
  const cnrReleases = await (await fetch(`${server.url}/cnr/api/v1/packages/alice/stack`, {
    headers: { authorization: `Basic ${Buffer.from(`alice:${PASSWORDS.alice}`).toString('base64')}` }
  })).json() as Array<{ release: string }>
  t.same(cnrReleases.map(r => r.release), ['1.1.0'])

  // A package file.
  await page.goto(`${ui}#/files`)
  await page.getByRole('row', { name: /tool-1\.1\.0\.tar\.gz/ }).getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('dialog', { name: /tool-1\.1\.0/ }).getByRole('button', { name: 'Yes, delete' }).click()
  await page.getByRole('link', { name: 'tool-1.1.0.tar.gz' }).waitFor({ state: 'detached' })
  t.equal(await exists('/packages/tool-1.1.0.tar.gz'), 404)

  // A manifest by digest (the index), from its page.
  await page.goto(`${ui}#/manifest/alice/app/multi`)
  await page.getByRole('table', { name: 'platforms' }).waitFor()
  await page.locator('.page-head').getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Yes, delete' }).click()
  await page.getByRole('table', { name: 'tags' }).waitFor()
  t.equal(await exists('/v2/alice/app/manifests/multi'), 404, 'the index is gone')
  await context.close()
})
