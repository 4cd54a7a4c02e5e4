// The web UI's server side without a browser: the redirect of /, the headers of /ui/, sign-in through the token
// endpoint into an HttpOnly cookie, the cookie standing in for a token on API reads, and CSRF on writes.
import t from 'tap'
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
