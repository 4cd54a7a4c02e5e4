// The Docker token endpoint (GET with Basic, the OAuth2 POST password and refresh_token grants), what the
// tokens grant, and what is refused: bad credentials, too many failures (429), expired, tampered, foreign and
// revoked tokens, and tokens used beyond their scope.
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { expectError, header } from '../oci/helpers.js'
import { PASSWORDS, basic, basicOf, buildAuthApp, challengeOf, claimsOf, dataDir, forge, rejectsWith, tokenFor } from './helpers.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

t.test('GET with Basic credentials: {token, access_token, expires_in, issued_at}, granting only what the user may do', async t => {
  const { app } = await buildAuthApp(t)
  await app.berth.auth.policies.grant('carol', 'alice', 'read')
  const query = new URLSearchParams({ service: 'berth', client_id: 'test' })
  for (const scope of ['repository:alice/app:pull,push', 'repository:bob/app:pull,push,delete', 'repository:carol/x:*', 'registry:catalog:*', 'unknown:thing:do']) {
    query.append('scope', scope)
  }
  const res = await app.inject({ method: 'GET', url: `/v2/token?${query.toString()}`, headers: { authorization: basicOf('alice') } })
  t.equal(res.statusCode, 200)
  t.equal(header(res, 'cache-control'), 'no-store')
  const body = res.json() as Record<string, unknown>
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_at', 'token'])
  t.equal(body.token, body.access_token)
  t.equal(body.expires_in, 300)
  t.match(body.issued_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
  t.ok(Math.abs(Date.parse(String(body.issued_at)) - Date.now()) < 5000)
  const claims = claimsOf(String(body.token))
  t.match(claims, { iss: 'berth', aud: 'berth', sub: 'alice', use: 'access' })
  t.equal((claims.exp as number) - (claims.iat as number), 300)
  t.same(claims.access, [
    { type: 'repository', name: 'alice/app', actions: ['pull', 'push'] },
    // bob/app: nothing granted, so no entry
    { type: 'repository', name: 'carol/x', actions: ['pull'] }, // '*' asked, read shared: pull only
    { type: 'registry', name: 'catalog', actions: ['*'] }
  ])

  const space = await app.inject({ method: 'GET', url: '/v2/token?service=berth&scope=repository%3Aalice%2Fa%3Apull+repository%3Aalice%2Fb%3Apush', headers: { authorization: basicOf('alice') } })
  t.same(claimsOf((space.json() as { token: string }).token).access, [
    { type: 'repository', name: 'alice/a', actions: ['pull'] }, { type: 'repository', name: 'alice/b', actions: ['push'] }
  ], 'space-separated scopes in one parameter')

  const admin = await tokenFor(app, 'root', ['repository:bob/app:*'])
  t.same(claimsOf(admin).access, [{ type: 'repository', name: 'bob/app', actions: ['pull', 'push', 'delete'] }], 'admins get everything asked')
})

t.test('GET without credentials: an anonymous token, granting pulls of public repositories only', async t => {
  const { app } = await buildAuthApp(t)
  await app.berth.auth.policies.setVisibility('alice/pub', 'public')
  const token = await tokenFor(app, undefined, ['repository:alice/pub:pull,push', 'repository:alice/app:pull'])
  const claims = claimsOf(token)
  t.equal(claims.sub, undefined)
  t.same(claims.access, [{ type: 'repository', name: 'alice/pub', actions: ['pull'] }])
})

t.test('GET: bad credentials, a wrong service, malformed scopes', async t => {
  const { app } = await buildAuthApp(t)
  expectError(t, await app.inject({ method: 'GET', url: '/v2/token?service=berth', headers: { authorization: basic('alice', 'wrong-password') } }), 401, 'UNAUTHORIZED', 'wrong password')
  expectError(t, await app.inject({ method: 'GET', url: '/v2/token?service=berth', headers: { authorization: basic('nobody', 'whatever-pw') } }), 401, 'UNAUTHORIZED', 'unknown user')
  expectError(t, await app.inject({ method: 'GET', url: '/v2/token?service=elsewhere', headers: { authorization: basicOf('alice') } }), 400, 'INVALID_REQUEST', 'another service')
  expectError(t, await app.inject({ method: 'GET', url: '/v2/token?scope=nonsense', headers: { authorization: basicOf('alice') } }), 400, 'INVALID_REQUEST', 'malformed scope')
  expectError(t, await app.inject({ method: 'GET', url: '/v2/token?scope=repository:UPPER/case:pull', headers: { authorization: basicOf('alice') } }), 400, 'INVALID_REQUEST', 'invalid name')
  const access = await tokenFor(app, 'alice', [])
  expectError(t, await app.inject({ method: 'GET', url: '/v2/token', headers: { authorization: `Bearer ${access}` } }), 401, 'UNAUTHORIZED', 'an access token buys no other token')
})

t.test('GET with offline_token=true also returns a refresh token (docker login)', async t => {
  const { app } = await buildAuthApp(t)
  const res = await app.inject({ method: 'GET', url: '/v2/token?service=berth&offline_token=true&client_id=docker', headers: { authorization: basicOf('alice') } })
  t.equal(res.statusCode, 200)
  const { refresh_token: refresh } = res.json() as { refresh_token: string }
  t.match(claimsOf(refresh), { sub: 'alice', use: 'identity' })
  const anonymous = await app.inject({ method: 'GET', url: '/v2/token?service=berth&offline_token=true' })
  t.equal((anonymous.json() as Record<string, unknown>).refresh_token, undefined, 'never for anonymous callers')
})

t.test('POST grant_type=password, then grant_type=refresh_token (the OAuth2 flow of oras, helm and crane)', async t => {
  const { app } = await buildAuthApp(t)
  const post = async (form: Record<string, string>) => await app.inject({ method: 'POST', url: '/v2/token', headers: FORM, payload: new URLSearchParams(form).toString() })

  const plain = await post({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice, service: 'berth', client_id: 'oras', scope: 'repository:alice/app:pull,push repository:bob/app:pull' })
  t.equal(plain.statusCode, 200)
  t.equal(header(plain, 'cache-control'), 'no-store')
  const body = plain.json() as Record<string, unknown>
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_at', 'token'], 'no refresh token unless asked for')
  t.same(claimsOf(String(body.access_token)).access, [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }])

  const offline = await post({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice, service: 'berth', client_id: 'oras', access_type: 'offline' })
  const refresh = (offline.json() as { refresh_token?: string }).refresh_token
  t.type(refresh, 'string', 'access_type=offline: a refresh token')

  const refreshed = await post({ grant_type: 'refresh_token', refresh_token: refresh ?? '', service: 'berth', client_id: 'crane', scope: 'repository:alice/app:push' })
  t.equal(refreshed.statusCode, 200)
  const token = (refreshed.json() as { access_token: string }).access_token
  t.match(claimsOf(token), { sub: 'alice', use: 'access', access: [{ type: 'repository', name: 'alice/app', actions: ['push'] }] })
  t.equal((await app.inject({ method: 'POST', url: '/v2/alice/app/blobs/uploads/', headers: { authorization: `Bearer ${token}` } })).statusCode, 202)

  expectError(t, await post({ grant_type: 'password', username: 'alice', password: 'wrong-password' }), 401, 'UNAUTHORIZED', 'bad password')
  expectError(t, await post({ grant_type: 'password', username: 'alice' }), 400, 'INVALID_REQUEST', 'no password')
  expectError(t, await post({ grant_type: 'refresh_token', refresh_token: 'garbage' }), 401, 'UNAUTHORIZED', 'garbage refresh token')
  expectError(t, await post({ grant_type: 'refresh_token', refresh_token: token }), 401, 'UNAUTHORIZED', 'an access token is not a refresh token')
  expectError(t, await post({ grant_type: 'refresh_token' }), 400, 'INVALID_REQUEST', 'no refresh token')
  expectError(t, await post({ grant_type: 'client_credentials' }), 400, 'INVALID_REQUEST', 'unsupported grant')
  expectError(t, await post({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice, service: 'elsewhere' }), 400, 'INVALID_REQUEST', 'another service')
  expectError(t, await app.inject({ method: 'POST', url: '/v2/token', headers: { 'content-type': 'application/json' }, payload: '{}' }), 400, 'INVALID_REQUEST', 'not a form')
})

t.test('repeated failed logins from one client are throttled with 429 and Retry-After, on every way in', async t => {
  const { app } = await buildAuthApp(t, { BERTH_LOGIN_MAX_FAILURES: '3', BERTH_LOGIN_WINDOW_SECONDS: '120' })
  const from = (ip: string) => ({ remoteAddress: ip })
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ method: 'GET', url: '/v2/token', headers: { authorization: basic('alice', `guess-${i}-guess`) }, ...from('10.0.0.1') })
    t.equal(res.statusCode, 401, `failure ${i + 1}`)
  }
  const blocked = await app.inject({ method: 'GET', url: '/v2/token', headers: { authorization: basicOf('alice') }, ...from('10.0.0.1') })
  expectError(t, blocked, 429, 'TOOMANYREQUESTS', 'even the right password waits')
  const retryAfter = Number(header(blocked, 'retry-after'))
  t.ok(retryAfter > 100 && retryAfter <= 120, `Retry-After ${retryAfter}`)
  expectError(t, await app.inject({ method: 'GET', url: '/v2/alice/x/tags/list', headers: { authorization: basicOf('alice') }, ...from('10.0.0.1') }), 429, 'TOOMANYREQUESTS', 'Basic on /v2')
  const form = new URLSearchParams({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice }).toString()
  expectError(t, await app.inject({ method: 'POST', url: '/v2/token', headers: FORM, payload: form, ...from('10.0.0.1') }), 429, 'TOOMANYREQUESTS', 'the password grant')
  await rejectsWith(t, app.berth.auth.cnrLogin('alice', PASSWORDS.alice, '10.0.0.1'), 'throttled', undefined, 'the CNR login')

  t.equal((await app.inject({ method: 'GET', url: '/v2/token', headers: { authorization: basicOf('alice') }, ...from('10.0.0.2') })).statusCode, 200, 'another client is not affected')
  // Failures on /v2 Basic and the password grant count as well.
  for (let i = 0; i < 3; i++) {
    await app.inject({ method: 'GET', url: '/v2/alice/x/tags/list', headers: { authorization: basic('bob', `guess-${i}-guess`) }, ...from('10.0.0.3') })
  }
  expectError(t, await app.inject({ method: 'GET', url: '/v2/token', headers: { authorization: basicOf('bob') }, ...from('10.0.0.3') }), 429, 'TOOMANYREQUESTS')
})

t.test('the throttle lets a client try again once its failures age out', async t => {
  const { LoginThrottle } = await import('../../src/auth/throttle.js')
  let now = 1_000_000
  const throttle = new LoginThrottle({ maxFailures: 2, windowMs: 60_000, now: () => now })
  throttle.fail('c')
  now += 30_000
  throttle.fail('c')
  t.equal(throttle.retryAfter('c'), 30)
  now += 30_001
  t.equal(throttle.retryAfter('c'), undefined, 'the first failure aged out')
  throttle.fail('c')
  t.equal(throttle.retryAfter('c'), 30)
  const small = new LoginThrottle({ maxFailures: 1, windowMs: 60_000, now: () => now, maxClients: 2 })
  for (const c of ['a', 'b', 'c']) small.fail(c)
  t.equal(small.retryAfter('a'), undefined, 'the least recent client is forgotten past maxClients')
  t.equal(small.retryAfter('c'), 60)
})

t.test('tokens are refused when expired, tampered with, signed by another key, for another service, or revoked', async t => {
  const { app } = await buildAuthApp(t)
  const use = async (token: string) => await app.inject({ method: 'POST', url: '/v2/alice/app/blobs/uploads/', headers: { authorization: `Bearer ${token}` } })
  const refused = (res: Awaited<ReturnType<typeof use>>, label: string, message: RegExp) => {
    const entry = expectError(t, res, 401, 'UNAUTHORIZED', label)
    t.match(entry.message, message, `${label}: says why`)
    t.match(challengeOf(res), { error: 'invalid_token', scope: 'repository:alice/app:pull,push' }, `${label}: challenge with error="invalid_token"`)
  }
  const good = await tokenFor(app, 'alice', ['repository:alice/app:pull,push'])
  t.equal((await use(good)).statusCode, 202, 'the genuine token works')
  const gen = (await app.berth.auth.users.get('alice'))?.gen
  const access = [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]

  const now = Math.floor(Date.now() / 1000)
  refused(await use(await forge(app, { use: 'access', access, gen, sub: 'alice' }, { issuedAt: now - 600, expiresAt: now - 60 })), 'expired', /expired/)
  refused(await use(await forge(app, { use: 'access', access, gen, sub: 'alice' }, { audience: 'another-registry' })), 'another service', /another service/)

  const [h, p, s] = good.split('.')
  const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: 'root' })).toString('base64url')}.${s}`
  refused(await use(tampered), 'tampered payload', /signature/)
  refused(await use(`${h}.${p}.${'A'.repeat(s?.length ?? 43)}`), 'bad signature', /signature/)
  const { SignJWT } = await import('jose')
  const foreign = await new SignJWT({ use: 'access', access, gen, sub: 'alice' }).setProtectedHeader({ alg: 'HS256' })
    .setIssuer('berth').setAudience('berth').setIssuedAt().setExpirationTime('5m').sign(new Uint8Array(32).fill(7))
  refused(await use(foreign), 'signed with another key', /signature/)
  const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`
  refused(await use(none), 'alg none', /malformed|signature/)
  refused(await use('not-a-jwt'), 'garbage', /malformed/)

  await app.berth.auth.users.setPassword('alice', 'a-new-password-2')
  refused(await use(good), 'revoked by a new password', /revoked/)
  const res = await app.inject({ method: 'GET', url: '/v2/token?scope=repository:alice/app:push', headers: { authorization: basic('alice', 'a-new-password-2') } })
  const fresh = (res.json() as { token: string }).token
  t.equal((await use(fresh)).statusCode, 202, 'a token issued after the new password works')
  await app.berth.auth.users.delete('alice')
  refused(await use(fresh), 'revoked by deleting the user', /revoked/)
})

t.test('a token is never honoured beyond its scope, nor beyond what its user may do now', async t => {
  const { app } = await buildAuthApp(t)
  await app.berth.auth.policies.grant('alice', 'bob', 'write')
  const pullOnly = await tokenFor(app, 'alice', ['repository:alice/app:pull'])
  const push = await app.inject({ method: 'POST', url: '/v2/alice/app/blobs/uploads/', headers: { authorization: `Bearer ${pullOnly}` } })
  expectError(t, push, 401, 'UNAUTHORIZED', 'push with a pull token')
  t.match(challengeOf(push), { error: 'insufficient_scope', scope: 'repository:alice/app:pull,push' }, 'the challenge asks for the missing scope')
  const elsewhere = await app.inject({ method: 'GET', url: '/v2/alice/other/tags/list', headers: { authorization: `Bearer ${pullOnly}` } })
  expectError(t, elsewhere, 401, 'UNAUTHORIZED', 'another repository')
  t.match(challengeOf(elsewhere), { error: 'insufficient_scope', scope: 'repository:alice/other:pull' })

  // A token whose claims are wider than what its user may do (issued before a policy change, or by a key
  // that leaked): the user's current permissions win, and the answer is 403.
  const bobPush = await tokenFor(app, 'bob', ['repository:alice/app:pull,push'])
  t.same(claimsOf(bobPush).access, [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }])
  t.equal((await app.inject({ method: 'POST', url: '/v2/alice/app/blobs/uploads/', headers: { authorization: `Bearer ${bobPush}` } })).statusCode, 202)
  await app.berth.auth.policies.revoke('alice', 'bob')
  expectError(t, await app.inject({ method: 'POST', url: '/v2/alice/app/blobs/uploads/', headers: { authorization: `Bearer ${bobPush}` } }), 403, 'DENIED', 'after the policy change')
  const wide = await forge(app, { use: 'access', sub: 'bob', gen: (await app.berth.auth.users.get('bob'))?.gen, access: [{ type: 'repository', name: 'root/secret', actions: ['*'] }] })
  expectError(t, await app.inject({ method: 'DELETE', url: `/v2/root/secret/manifests/sha256:${'a'.repeat(64)}`, headers: { authorization: `Bearer ${wide}` } }), 403, 'DENIED', 'claims wider than the user')
})

t.test('identity tokens (refresh tokens, the CNR login token) work as Bearer credentials on /v2', async t => {
  const { app } = await buildAuthApp(t)
  const { token } = await app.berth.auth.cnrLogin('alice', PASSWORDS.alice, '127.0.0.1')
  t.match(token, /^Bearer ey/)
  t.equal((await app.inject({ method: 'POST', url: '/v2/alice/app/blobs/uploads/', headers: { authorization: token } })).statusCode, 202)
  expectError(t, await app.inject({ method: 'POST', url: '/v2/bob/app/blobs/uploads/', headers: { authorization: token } }), 403, 'DENIED')
})

t.test('the admin is bootstrapped from BERTH_ADMIN_USER and BERTH_ADMIN_PASSWORD', async t => {
  const dir = dataDir(t)
  const env = { BERTH_DATA_DIR: dir, BERTH_ADMIN_USER: 'boss', BERTH_ADMIN_PASSWORD: 'first-password' }
  const { app } = await buildTestApp(t, env)
  t.match(await app.berth.auth.users.get('boss'), { username: 'boss', admin: true })
  t.equal((await app.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('boss', 'first-password') } })).statusCode, 200)
  await app.close()
  // A restart with another password resets it (the environment is the source of truth for this one user).
  const { app: again } = await buildTestApp(t, { ...env, BERTH_ADMIN_PASSWORD: 'second-password' })
  t.equal((await again.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('boss', 'second-password') } })).statusCode, 200)
  t.equal((await again.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('boss', 'first-password') } })).statusCode, 401)
  await t.rejects(buildTestApp(t, { BERTH_ADMIN_USER: 'boss', BERTH_ADMIN_PASSWORD: 'short' }), /BERTH_ADMIN_PASSWORD: a password needs at least 8/)
})

t.test('configuration: realm, service and token lifetime', async t => {
  const { app } = await buildAuthApp(t, { BERTH_AUTH_REALM: 'https://registry.example/v2/token', BERTH_AUTH_SERVICE: 'registry.example', BERTH_TOKEN_TTL_SECONDS: '900' })
  const res = await app.inject({ method: 'GET', url: '/v2/' })
  t.equal(header(res, 'www-authenticate'), 'Bearer realm="https://registry.example/v2/token",service="registry.example"')
  const token = await app.inject({ method: 'GET', url: '/v2/token?service=registry.example', headers: { authorization: basicOf('alice') } })
  t.equal((token.json() as { expires_in: number }).expires_in, 900)
  t.equal(claimsOf((token.json() as { token: string }).token).aud, 'registry.example')
  const { loadConfig } = await import('../../src/config.js')
  t.throws(() => loadConfig({ BERTH_ADMIN_USER: 'x' }), /set together/)
  t.throws(() => loadConfig({ BERTH_AUTH_REALM: 'not a url' }), /BERTH_AUTH_REALM/)
  t.throws(() => loadConfig({ BERTH_TOKEN_TTL_SECONDS: '5' }), /BERTH_TOKEN_TTL_SECONDS/)
  t.throws(() => loadConfig({ BERTH_DEFAULT_VISIBILITY: 'secret' }), /BERTH_DEFAULT_VISIBILITY/)
  t.throws(() => loadConfig({ BERTH_AUTH_SERVICE: 'has space' }), /BERTH_AUTH_SERVICE/)
  t.equal(loadConfig({}).auth.signup, false, 'signup is off by default')
})
