// The web UI's server side without a browser: the redirect of /, the headers of /ui/, sign-in through the token
// endpoint into an HttpOnly cookie, the cookie standing in for a token on API reads, and CSRF on writes.
import { createHash } from 'node:crypto'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { loadSigningKey } from '../../src/auth/keys.js'
import { createSignOuts } from '../../src/auth/sign-outs.js'
import { createTokens } from '../../src/auth/tokens.js'
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js'
import { paths } from '../../src/storage/paths.js'
import { buildTestApp } from '../helpers/app.js'
import { mapLimit } from '../../src/util/map-limit.js'
import { pushBlob, pushImage, type Image, type Pushed } from '../oci/helpers.js'
import { CATALOG_SCAN_LIMIT, CONTENT_SECURITY_POLICY } from '../../src/ui/index.js'
import { buildUi } from './browser.js'

const ADMIN = { BERTH_ADMIN_USER: 'root', BERTH_ADMIN_PASSWORD: 'root-password-1' }

t.before(async () => { await buildUi() })

/** The name=value pairs of a response's Set-Cookie headers. */
function cookiesOf (header: string | string[] | undefined): Record<string, { value: string, attributes: string }> {
  const out: Record<string, { value: string, attributes: string }> = {}
  for (const line of header === undefined ? [] : Array.isArray(header) ? header : [header]) {
    const [pair = '', ...attributes] = line.split(';')
    const eq = pair.indexOf('=')
    out[pair.slice(0, eq).trim()] = { value: pair.slice(eq + 1), attributes: attributes.join(';') }
  }
  return out
}

t.test('/ redirects browsers only; /ui/ has a CSP; a missing file is a 404', async t => {
  const { app } = await buildTestApp(t, ADMIN)
  const browser = await app.inject({ url: '/', headers: { accept: 'text/html,*/*;q=0.8' } })
  t.equal(browser.statusCode, 302)
  t.equal(browser.headers.location, '/ui/')
  for (const accept of [undefined, 'application/json', '*/*']) {
    const api = await app.inject({ url: '/', headers: accept === undefined ? {} : { accept } })
    t.equal(api.statusCode, 404, `Accept ${String(accept)}: as before`)
    t.match(api.json(), { errors: [{ code: 'NOT_FOUND' }] })
  }
  const page = await app.inject({ url: '/ui/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.equal(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY)
  t.equal(page.headers['x-content-type-options'], 'nosniff')
  const script = await app.inject({ url: '/ui/app.js' })
  t.match(script.headers['content-type'], /^text\/javascript/)
  t.equal((await app.inject({ url: '/ui/app.js', headers: { 'if-none-match': String(script.headers.etag) } })).statusCode, 304)
  t.equal((await app.inject({ url: '/ui/..%2fpackage.json' })).statusCode, 404)
  t.equal((await app.inject({ url: '/ui/api/nothing' })).statusCode, 404)
})

t.test('sign-in sets an HttpOnly SameSite=Strict cookie; the cookie reads, and writes only with the CSRF header', async t => {
  const { app } = await buildTestApp(t, ADMIN)
  const first = await app.inject({ url: '/ui/api/session' })
  t.same(first.json(), { authEnabled: true, user: null })
  const csrf = cookiesOf(first.headers['set-cookie']).berth_csrf?.value ?? ''
  t.match(csrf, /^[A-Za-z0-9_-]{20,}$/)

  const body = { username: 'root', password: 'root-password-1' }
  const noCsrf = await app.inject({ method: 'POST', url: '/ui/api/session', cookies: { berth_csrf: csrf }, payload: body })
  t.equal(noCsrf.statusCode, 403, 'sign-in needs the CSRF header too')
  const wrong = await app.inject({ method: 'POST', url: '/ui/api/session', cookies: { berth_csrf: csrf }, headers: { 'x-berth-csrf': csrf }, payload: { ...body, password: 'nope' } })
  t.equal(wrong.statusCode, 401)
  t.same(wrong.json(), { message: 'invalid username or password' })

  const signIn = await app.inject({ method: 'POST', url: '/ui/api/session', cookies: { berth_csrf: csrf }, headers: { 'x-berth-csrf': csrf }, payload: body })
  t.equal(signIn.statusCode, 200)
  t.same(signIn.json(), { user: { username: 'root', admin: true } })
  const session = cookiesOf(signIn.headers['set-cookie']).berth_session
  t.ok(session, 'a session cookie')
  t.match(session?.attributes, /HttpOnly/)
  t.match(session?.attributes, /SameSite=Strict/)
  t.match(session?.attributes, /Path=\//)
  t.notMatch(JSON.stringify(signIn.json()), /eyJ/, 'the token is not in the body')
  const cookies = { berth_csrf: csrf, berth_session: session?.value ?? '' }

  t.equal((await app.inject({ url: '/v2/_catalog' })).statusCode, 401, 'without the cookie: refused')
  const catalog = await app.inject({ url: '/v2/_catalog', cookies })
  t.equal(catalog.statusCode, 200, 'with it: the user\'s rights')
  t.same(catalog.json(), { repositories: [] })
  t.match((await app.inject({ url: '/ui/api/access?repository=a/b', cookies })).json(), { pull: true, push: true, delete: true })

  const put = (headers: Record<string, string>) => app.inject({ method: 'PUT', url: '/packages/tool-1.0.0.tar.gz', cookies, headers, payload: 'x' })
  const refused = await put({})
  t.equal(refused.statusCode, 401, 'a write without the CSRF header is anonymous')
  t.match(refused.headers['content-type'], /^text\/plain/, 'refused in the /packages dialect')
  t.equal((await put({ 'x-berth-csrf': 'not-the-token-at-all-000' })).statusCode, 401, 'a wrong CSRF header too')
  t.equal((await put({ 'x-berth-csrf': csrf })).statusCode, 200, 'with it, the write is the user\'s')
  t.equal((await app.inject({ url: '/packages/tool-1.0.0.tar.gz', cookies })).body, 'x')

  const token = await app.inject({ url: '/v2/token?scope=repository:a/b:pull', cookies })
  t.match(token.json(), { token: String }, 'the token endpoint is anonymous for a cookie')
  const claims = JSON.parse(Buffer.from((token.json() as { token: string }).token.split('.')[1] ?? '', 'base64url').toString()) as { sub?: string }
  t.equal(claims.sub, undefined, 'a cookie is never exchanged for a token')

  const signOut = await app.inject({ method: 'DELETE', url: '/ui/api/session', cookies, headers: { 'x-berth-csrf': csrf } })
  t.equal(signOut.statusCode, 204)
  t.match(cookiesOf(signOut.headers['set-cookie']).berth_session, { value: '', attributes: /Max-Age=0/ })
})

/** The claims of a JWT (not verified: the server checks them; the test reads what it issued). */
function claimsOf (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>
}

t.test('a session is its own token kind; signing out revokes it on every replica sharing the store', async t => {
  const dir = t.testdir()
  const env = { ...ADMIN, BERTH_DATA_DIR: dir, BERTH_UI_SESSION_TTL_SECONDS: '3600' }
  const { app } = await buildTestApp(t, env)
  const { app: replica } = await buildTestApp(t, env)
  const csrf = 'csrf-token-of-this-test-000'
  const signIn = await app.inject({ method: 'POST', url: '/ui/api/session', cookies: { berth_csrf: csrf }, headers: { 'x-berth-csrf': csrf }, payload: { username: 'root', password: 'root-password-1' } })
  t.equal(signIn.statusCode, 200)
  const session = cookiesOf(signIn.headers['set-cookie']).berth_session
  t.match(session?.attributes, /Max-Age=3600/, 'the cookie lives as long as the session')
  const claims = claimsOf(session?.value ?? '')
  t.match(claims, { use: 'identity', session: true, sub: 'root' })
  t.equal(Number(claims.exp) - Number(claims.iat), 3600, 'BERTH_UI_SESSION_TTL_SECONDS, not the refresh-token lifetime')
  const cookies = { berth_csrf: csrf, berth_session: session?.value ?? '' }
  t.equal((await replica.inject({ url: '/v2/_catalog', cookies })).statusCode, 200, 'the other replica honours it')

  // A copy of the cookie, kept by someone else, is what signing out must defeat.
  const copied = { ...cookies }
  const signOut = await app.inject({ method: 'DELETE', url: '/ui/api/session', cookies, headers: { 'x-berth-csrf': csrf } })
  t.equal(signOut.statusCode, 204)
  for (const [label, server] of [['this replica', app], ['the other replica', replica]] as const) {
    const catalog = await server.inject({ url: '/v2/_catalog', cookies: copied })
    t.equal(catalog.statusCode, 401, `${label}: the signed-out cookie no longer reads`)
    t.match(catalog.json(), { errors: [{ code: 'UNAUTHORIZED', message: /signed out/ }] })
    const bearer = await server.inject({ url: '/v2/_catalog', headers: { authorization: `Bearer ${copied.berth_session}` } })
    t.equal(bearer.statusCode, 401, `${label}: nor as a Bearer token`)
    const asked = await server.inject({ url: '/ui/api/session', cookies: copied })
    t.same(asked.json(), { authEnabled: true, user: null })
    t.match(cookiesOf(asked.headers['set-cookie']).berth_session, { value: '', attributes: /Max-Age=0/ }, `${label}: the dead cookie is cleared`)
  }
  t.same((await app.berth.driver.list('auth/signed-out/', { limit: 10 })).keys, [`auth/signed-out/${new Date(Number(claims.exp) * 1000).toISOString().slice(0, 13)}/${String(claims.jti)}`],
    'one record, filed under the hour its token expires')
})

t.test('a session in use is renewed in place past half its lifetime; a refresh-token cookie becomes a session', async t => {
  const dir = t.testdir()
  const { app } = await buildTestApp(t, { ...ADMIN, BERTH_DATA_DIR: dir, BERTH_UI_SESSION_TTL_SECONDS: '3600' })
  const root = await app.berth.auth.users.get('root')
  if (root === undefined) throw new Error('no admin')
  // Tokens signed with the store's key by a clock 40 minutes behind: 20 minutes of a 60-minute session left.
  const behind = createTokens({ key: async () => await loadSigningKey(app.berth.driver), service: 'berth', accessTtlSeconds: 300, identityTtlSeconds: 3600, now: () => Date.now() - 40 * 60_000 })
  const old = (await behind.issueSession(root, 3600)).token
  const renewed = await app.inject({ url: '/ui/api/session', cookies: { berth_session: old } })
  t.same(renewed.json(), { authEnabled: true, user: { username: 'root', admin: true } })
  const fresh = cookiesOf(renewed.headers['set-cookie']).berth_session
  t.ok(fresh !== undefined && fresh.value !== old, 'a new session token in the same cookie')
  const claims = claimsOf(fresh?.value ?? '')
  t.match(claims, { session: true, sub: 'root' })
  t.ok(Number(claims.exp) * 1000 - Date.now() > 55 * 60_000, 'good for the whole lifetime again')

  const young = (await app.berth.auth.tokens.issueSession(root, 3600)).token
  const kept = await app.inject({ url: '/ui/api/session', cookies: { berth_session: young } })
  t.equal(cookiesOf(kept.headers['set-cookie']).berth_session, undefined, 'a session in its first half is left as it is')

  const refresh = (await app.berth.auth.tokens.issueIdentity(root)).token
  const upgraded = await app.inject({ url: '/ui/api/session', cookies: { berth_session: refresh } })
  t.match(claimsOf(cookiesOf(upgraded.headers['set-cookie']).berth_session?.value ?? ''), { session: true }, 'a cookie from before sessions existed becomes one')
})

t.test('sign-out records are swept once the tokens they revoke have expired', async t => {
  const driver = new FilesystemDriver({ root: t.testdir() })
  await driver.init()
  let clock = Date.parse('2026-12-02T10:30:00Z')
  const signOuts = createSignOuts(driver, () => clock)
  await signOuts.signOut('first', Date.parse('2026-12-02T11:10:00Z'))
  await signOuts.signOut('second', Date.parse('2026-12-02T14:10:00Z'))
  await signOuts.signOut('gone', Date.parse('2026-12-02T10:00:00Z'))
  t.same((await driver.list('auth/signed-out/', { limit: 10 })).keys, ['auth/signed-out/2026-12-02T11/first', 'auth/signed-out/2026-12-02T14/second'], 'an expired token needs no record')
  t.equal(await signOuts.isSignedOut('first', Date.parse('2026-12-02T11:10:00Z')), true)
  t.equal(await signOuts.isSignedOut('other', Date.parse('2026-12-02T11:10:00Z')), false)
  clock = Date.parse('2026-12-02T12:05:00Z')
  await signOuts.signOut('third', Date.parse('2026-12-02T12:50:00Z'))
  t.same((await driver.list('auth/signed-out/', { limit: 10 })).keys, ['auth/signed-out/2026-12-02T12/third', 'auth/signed-out/2026-12-02T14/second'], 'the next sign-out swept the expired hour')
})

t.test('a script\'s 401 from /packages has no Basic challenge, which would open the browser\'s password dialog', async t => {
  const { app } = await buildTestApp(t, ADMIN)
  const put = { method: 'PUT' as const, url: '/packages/tool-1.0.0.tar.gz', payload: 'x' }
  const plain = await app.inject(put)
  t.equal(plain.statusCode, 401)
  t.match(plain.headers['www-authenticate'], /^Basic realm=/, 'clients such as curl are still challenged')
  const script = await app.inject({ ...put, headers: { 'x-requested-with': 'XMLHttpRequest' } })
  t.equal(script.statusCode, 401)
  t.equal(script.headers['www-authenticate'], undefined)
  t.match(script.body, /^401 /, 'the same plain-text error')
})

const PASSWORD = 'a-long-password-1'
type Cookies = Record<string, string>

/** Signs in through /ui/api/session as a browser would; the cookies it holds afterwards. */
async function signIn (app: FastifyInstance, username: string): Promise<Cookies> {
  const first = await app.inject({ url: '/ui/api/session' })
  const csrf = cookiesOf(first.headers['set-cookie']).berth_csrf?.value ?? ''
  const answer = await app.inject({ method: 'POST', url: '/ui/api/session', cookies: { berth_csrf: csrf }, headers: { 'x-berth-csrf': csrf }, payload: { username, password: PASSWORD } })
  if (answer.statusCode !== 200) throw new Error(`sign-in as ${username}: ${answer.statusCode} ${answer.body}`)
  return { berth_csrf: csrf, berth_session: cookiesOf(answer.headers['set-cookie']).berth_session?.value ?? '' }
}

/**
 * alice/app (tags v1..v3) and alice/lib, bob/private, pushed while the registry is open, and with `filler`
 * 1,200 empty repositories filler/r0000.. (catalog entries only); then users root (admin), alice and bob, and
 * a quota on alice.
 */
async function world (t: Test, { filler = false } = {}): Promise<{ app: FastifyInstance, pushed: Record<string, Pushed & Image>, as: Record<'root' | 'alice' | 'bob' | 'anonymous', Cookies> }> {
  const { app } = await buildTestApp(t, { BERTH_AUTH_CACHE_SECONDS: '0' })
  const pushed: Record<string, Pushed & Image> = {}
  for (const tag of ['v1', 'v2', 'v3']) pushed[`alice/app:${tag}`] = await pushImage(app, 'alice/app', tag)
  pushed['alice/lib:1.0'] = await pushImage(app, 'alice/lib', '1.0')
  pushed['bob/private:v1'] = await pushImage(app, 'bob/private', 'v1', 'bob')
  await pushBlob(app, 'bob/private', Buffer.alloc(1000, 3))
  if (filler) {
    const names = Array.from({ length: 1200 }, (_, i) => `filler/r${String(i).padStart(4, '0')}`)
    await mapLimit(names, 16, async name => await app.berth.registry.driver.write(paths.catalogEntry(name), Buffer.from('{}')))
  }
  await app.berth.governance.setQuota('alice', 1_000_000, app.berth.registry.catalog, async () => {})
  await app.berth.auth.users.add('root', PASSWORD, { admin: true })
  for (const user of ['alice', 'bob']) await app.berth.auth.users.add(user, PASSWORD)
  return { app, pushed, as: { root: await signIn(app, 'root'), alice: await signIn(app, 'alice'), bob: await signIn(app, 'bob'), anonymous: {} } }
}

t.test('/ui/api/tags: a page of tags with digest, type, size and push time, refused as /v2 tags/list refuses', async t => {
  const { app, pushed, as } = await world(t)
  const tags = async (cookies: Cookies, query: string) => await app.inject({ url: `/ui/api/tags?${query}`, cookies })

  const first = await tags(as.alice, 'repository=alice/app&n=2')
  t.equal(first.statusCode, 200)
  t.equal(first.headers['cache-control'], 'no-store')
  const body = first.json() as { repository: string, tags: Array<{ tag: string, digest: string, mediaType: string, size: number, pushedAt: string }>, next: string | null }
  t.equal(body.repository, 'alice/app')
  t.same(body.tags.map(r => r.tag), ['v1', 'v2'])
  t.equal(body.next, 'v2', 'the cursor for the next page')
  for (const row of body.tags) {
    const image = pushed[`alice/app:${row.tag}`]
    t.match(row, { digest: image?.digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: image?.bytes.length })
    const stat = await app.berth.registry.driver.stat(paths.tag('alice/app', row.tag))
    t.ok(stat !== undefined && Math.abs(Date.parse(row.pushedAt) - stat.modifiedAt.getTime()) < 1000, `${row.tag}: pushed when its tag record was written`)
  }
  const rest = (await tags(as.alice, 'repository=alice/app&n=2&last=v2')).json() as typeof body
  t.same(rest.tags.map(r => r.tag), ['v3'])
  t.equal(rest.next, null, 'the last page')

  // Moving a tag is a push: the time and digest follow it.
  const before = Date.parse(body.tags[0]?.pushedAt ?? '')
  await new Promise(resolve => setTimeout(resolve, 20))
  await app.berth.registry.tags.set('alice/app', 'v1', { digest: pushed['alice/app:v3']?.digest ?? '', mediaType: 'application/vnd.oci.image.manifest.v1+json', size: pushed['alice/app:v3']?.bytes.length ?? 0 })
  const moved = ((await tags(as.alice, 'repository=alice/app&n=1')).json() as typeof body).tags[0]
  t.equal(moved?.digest, pushed['alice/app:v3']?.digest)
  t.ok(Date.parse(moved?.pushedAt ?? '') > before, 'the push time moved on')

  // The same refusals as the API, and never a tag in them.
  for (const [who, repository, status] of [
    ['anonymous', 'alice/app', 401], ['bob', 'alice/app', 403], ['alice', 'alice/none', 404], ['bob', 'alice/none', 403], ['root', 'bob/private', 200]
  ] as const) {
    const ui = await tags(as[who], `repository=${repository}`)
    const api = await app.inject({ url: `/v2/${repository}/tags/list`, cookies: as[who] })
    t.equal(ui.statusCode, status, `${who} on ${repository}`)
    t.equal(api.statusCode, status, `${who} on ${repository}: as /v2`)
    if (status !== 200) t.same(Object.keys(ui.json() as object), ['message'], 'an error body only')
  }
  t.equal((await tags(as.alice, '')).statusCode, 400, 'repository is required')
  t.equal((await tags(as.alice, 'repository=Not%20A%20Name')).statusCode, 400)
  t.equal((await tags(as.alice, 'repository=alice/app&n=many')).statusCode, 400)
  t.same((await tags(as.alice, 'repository=alice/app&n=2&n=3')).json(), { message: 'n must be given once' })
})

t.test('/ui/api/repositories: a server-side search that pages, reads a bounded part of the catalog, and lists only what the user may pull', async t => {
  const { app, as } = await world(t, { filler: true })
  // A search that reads the catalog to its end stops after CATALOG_SCAN_LIMIT entries (alice/app, alice/lib,
  // bob/private, then fillers), with a cursor there.
  const scanEnd = `filler/r${String(CATALOG_SCAN_LIMIT - 4).padStart(4, '0')}`
  const search = async (cookies: Cookies, query: string) => {
    const res = await app.inject({ url: `/ui/api/repositories?${query}`, cookies })
    t.equal(res.statusCode, 200, query)
    return res.json() as { repositories: string[], next: string | null }
  }
  t.same(await search(as.alice, 'q=LIB'), { repositories: ['alice/lib'], next: scanEnd }, 'case-insensitive; only what alice may pull')
  t.same(await search(as.alice, 'q=private'), { repositories: [], next: scanEnd }, 'bob\'s repository is not found')
  t.same(await search(as.bob, 'q=private'), { repositories: ['bob/private'], next: scanEnd })
  t.same(await search(as.bob, `q=private&last=${scanEnd}`), { repositories: [], next: null }, 'the rest of the catalog, to its end')

  // Paging: n names, then on from the cursor.
  t.same(await search(as.alice, 'n=1'), { repositories: ['alice/app'], next: 'alice/app' })
  t.same(await search(as.alice, 'n=1&last=alice/app'), { repositories: ['alice/lib'], next: 'alice/lib' })
  t.same(await search(as.root, 'q=filler&n=3&last=filler/r0100'), { repositories: ['filler/r0101', 'filler/r0102', 'filler/r0103'], next: 'filler/r0103' })

  // A match far into the catalog: the first request stops after CATALOG_SCAN_LIMIT entries with a cursor.
  t.same(await search(as.root, 'q=R1150'), { repositories: [], next: scanEnd }, 'the first request reads part of the catalog')
  t.same(await search(as.root, `q=R1150&last=${scanEnd}`), { repositories: ['filler/r1150'], next: null }, 'the next request finds it and ends the catalog')

  const anonymous = await app.inject({ url: '/ui/api/repositories' })
  t.equal(anonymous.statusCode, 401, 'anonymous: refused, as /v2/_catalog')
  t.equal((await app.inject({ url: '/v2/_catalog' })).statusCode, 401)
  t.equal((await app.inject({ url: '/ui/api/repositories?n=0', cookies: as.alice })).statusCode, 400)
})

interface StorageRow { namespace: string, usedBytes: number, live: boolean, limitBytes?: number, measuredAt?: string }

t.test('/ui/api/storage: quota namespaces live, others once measured, only namespaces the user may read', async t => {
  const { app, pushed, as } = await world(t)
  const storage = async (cookies: Cookies) => ((await app.inject({ url: '/ui/api/storage', cookies })).json() as { namespaces: StorageRow[] }).namespaces
  const measure = async (cookies: Cookies, namespace: unknown, csrf = cookies.berth_csrf ?? '') =>
    await app.inject({ method: 'POST', url: '/ui/api/storage/measure', cookies, headers: { 'x-berth-csrf': csrf }, payload: { namespace } })
  const basic = (user: string) => `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString('base64')}`
  const pushAs = async (user: string, name: string, bytes: Buffer) => {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
    const res = await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/?digest=${digest}`, headers: { authorization: basic(user), 'content-type': 'application/octet-stream' }, payload: bytes })
    t.equal(res.statusCode, 201, `push to ${name}`)
  }
  const imageBytes = (image?: Image & Pushed): number => image === undefined ? 0 : image.config.size + image.layers.reduce((n, l) => n + l.size, 0) + image.bytes.length
  const aliceBytes = ['alice/app:v1', 'alice/app:v2', 'alice/app:v3', 'alice/lib:1.0'].reduce((n, ref) => n + imageBytes(pushed[ref]), 0)
  // bob/private: an image and a 1,000-byte blob, which bob/copy holds as well: it counts once.
  await pushAs('bob', 'bob/copy', Buffer.alloc(1000, 3))
  const bobBytes = imageBytes(pushed['bob/private:v1']) + 1000

  t.same(await storage(as.root), [{ namespace: 'alice', usedBytes: aliceBytes, live: true, limitBytes: 1_000_000 }], 'a namespace without a quota is not listed before it is measured')
  t.same(await storage(as.bob), [])
  t.same((await storage(as.alice)).map(n => n.namespace), ['alice'])
  t.same(await storage(as.anonymous), [])

  // Measuring: CSRF, a valid name, and the right to see the namespace.
  t.equal((await measure(as.bob, 'bob', 'not-the-token-at-all-000')).statusCode, 403, 'a wrong CSRF header')
  t.equal((await app.inject({ method: 'POST', url: '/ui/api/storage/measure', cookies: as.bob, payload: { namespace: 'bob' } })).statusCode, 403, 'no CSRF header')
  const bad = await measure(as.bob, 'Not A Namespace')
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { message: /invalid namespace "Not A Namespace"/ })
  t.equal((await measure(as.bob, 42)).statusCode, 400)
  t.equal((await measure(as.alice, 'bob')).statusCode, 403, 'alice may not read bob\'s namespace')
  const anonymous = await app.inject({ url: '/ui/api/session' })
  const anonymousCsrf = cookiesOf(anonymous.headers['set-cookie']).berth_csrf?.value ?? ''
  t.equal((await measure({ berth_csrf: anonymousCsrf }, 'bob')).statusCode, 403, 'anonymous')
  t.same(await storage(as.root), [{ namespace: 'alice', usedBytes: aliceBytes, live: true, limitBytes: 1_000_000 }], 'refused measurements measured nothing')

  const before = Date.now()
  const measured = await measure(as.bob, 'bob')
  t.equal(measured.statusCode, 200)
  const row = measured.json() as StorageRow
  t.same({ ...row, measuredAt: undefined }, { namespace: 'bob', usedBytes: bobBytes, live: false, measuredAt: undefined }, 'the bytes bob pushed, the shared blob once')
  t.ok(Date.parse(row.measuredAt ?? '') >= before - 1000, 'measuredAt: when it was measured')
  t.same(await storage(as.bob), [row], 'listed once measured')
  t.same(await storage(as.root), [{ namespace: 'alice', usedBytes: aliceBytes, live: true, limitBytes: 1_000_000 }, row])
  t.same((await storage(as.alice)).map(n => n.namespace), ['alice'])

  // A later push moves the quota namespace at once, and the snapshot only when measured again.
  await pushAs('bob', 'bob/private', Buffer.alloc(500, 4))
  await pushAs('alice', 'alice/app', Buffer.alloc(700, 5))
  t.same(await storage(as.root), [{ namespace: 'alice', usedBytes: aliceBytes + 700, live: true, limitBytes: 1_000_000 }, row], 'alice live, bob as measured')
  const again = (await measure(as.root, 'bob')).json() as StorageRow
  t.equal(again.usedBytes, bobBytes + 500, 'an admin measures any namespace')
  t.same((await measure(as.alice, 'alice')).json(), { namespace: 'alice', usedBytes: aliceBytes + 700, live: true, limitBytes: 1_000_000 }, 'a quota namespace is answered live')

  // Visibility follows namespace policies; a delete is seen at the next measurement.
  await app.berth.auth.policies.grant('bob', 'alice', 'read')
  t.same((await storage(as.alice)).map(n => n.namespace), ['alice', 'bob'], 'a namespace shared with alice')
  const deleted = await app.inject({ method: 'DELETE', url: `/v2/bob/private/manifests/${pushed['bob/private:v1']?.digest ?? ''}`, headers: { authorization: basic('bob') } })
  t.equal(deleted.statusCode, 202)
  t.equal(((await storage(as.bob))[0])?.usedBytes, bobBytes + 500, 'not moved by the delete')
  t.match((await measure(as.alice, 'bob')).json(), { namespace: 'bob', usedBytes: bobBytes + 500 - (pushed['bob/private:v1']?.bytes.length ?? 0), live: false }, 'alice may measure it now')
})
