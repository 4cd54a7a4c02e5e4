// The web UI's server side without a browser: the redirect of /, the headers of /ui/, sign-in through the token
// endpoint into an HttpOnly cookie, the cookie standing in for a token on API reads, and CSRF on writes.
import t from 'tap'
import { loadSigningKey } from '../../src/auth/keys.js'
import { createSignOuts } from '../../src/auth/sign-outs.js'
import { createTokens } from '../../src/auth/tokens.js'
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js'
import { buildTestApp } from '../helpers/app.js'
import { CONTENT_SECURITY_POLICY } from '../../src/ui/index.js'
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
