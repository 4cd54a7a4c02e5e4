// The functions the CNR API (and later /packages) call: login and signup, identify() with the token the appr
// client replays verbatim, requireAccess(), readablePage(), setVisibility(), and the dialect-neutral errors.
import t from 'tap'
import { authErrorView, AuthError } from '../../src/auth/index.js'
import { buildTestApp } from '../helpers/app.js'
import { PASSWORDS, basic, buildAuthApp, claimsOf, rejectsWith } from './helpers.js'

/** A minimal request, as a surface's route handler would pass it. */
function request (authorization?: string, ip = '127.0.0.1'): any {
  return { headers: authorization === undefined ? {} : { authorization }, ip }
}

t.test('cnrLogin returns {token} valid verbatim as an Authorization header; bad credentials are unauthenticated', async t => {
  const { app } = await buildAuthApp(t)
  const { token } = await app.berth.auth.cnrLogin('alice', PASSWORDS.alice, '127.0.0.1')
  t.match(token, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/)
  t.match(claimsOf(token.slice('Bearer '.length)), { sub: 'alice', use: 'identity', aud: 'berth' })
  const identity = await app.berth.auth.identify(request(token))
  t.match(identity, { kind: 'user', via: 'identity-token', user: { username: 'alice', admin: false } })

  // Quay's form, `basic <b64>` in any case, is accepted too.
  for (const scheme of ['basic', 'Basic', 'BASIC']) {
    const creds = basic('alice', PASSWORDS.alice).replace(/^Basic/, scheme)
    t.match(await app.berth.auth.identify(request(creds)), { kind: 'user', via: 'basic' }, scheme)
  }
  await rejectsWith(t, app.berth.auth.cnrLogin('alice', 'wrong-password', '127.0.0.1'), 'unauthenticated')
  await rejectsWith(t, app.berth.auth.cnrLogin('ghost', 'whatever-pw', '127.0.0.1'), 'unauthenticated')
})

t.test('signup is off by default; when on it creates an ordinary user and logs them in', async t => {
  const { app } = await buildAuthApp(t)
  await rejectsWith(t, app.berth.auth.signup('carol', 'carol-password', '127.0.0.1'), 'forbidden', /signup is disabled/)
  t.equal(await app.berth.auth.users.get('carol'), undefined)

  const { app: open } = await buildTestApp(t, { BERTH_SIGNUP: 'true', BERTH_LOGIN_MAX_FAILURES: '3' })
  const { token } = await open.berth.auth.signup('carol', 'carol-password', '10.1.1.1')
  t.match(await open.berth.auth.identify(request(token)), { kind: 'user', user: { username: 'carol', admin: false } })
  await rejectsWith(t, open.berth.auth.signup('carol', 'carol-password', '10.1.1.1'), 'conflict', undefined, 'taken names')
  await rejectsWith(t, open.berth.auth.signup('Bad Name', 'carol-password', '10.1.1.1'), 'invalid', undefined, 'invalid names')
  await rejectsWith(t, open.berth.auth.signup('erin', 'erin-password', '10.1.1.1'), 'throttled', undefined, 'three attempts per window')
  await rejectsWith(t, open.berth.auth.signup('dave', 'short', '10.1.1.2'), 'invalid', undefined, 'weak passwords')
})

t.test('requireAccess: anonymous callers are unauthenticated (401), users without the right are forbidden (403)', async t => {
  const { app } = await buildAuthApp(t)
  await app.berth.auth.policies.setVisibility('alice/pub', 'public')
  const alice = request(basic('alice', PASSWORDS.alice))
  const bob = request(basic('bob', PASSWORDS.bob))
  t.match(await app.berth.auth.requireAccess(alice, 'alice/app', 'push'), { kind: 'user' })
  await rejectsWith(t, app.berth.auth.requireAccess(request(), 'alice/app', 'pull'), 'unauthenticated')
  await rejectsWith(t, app.berth.auth.requireAccess(bob, 'alice/app', 'pull'), 'forbidden')
  t.match(await app.berth.auth.requireAccess(request(), 'alice/pub', 'pull'), { kind: 'anonymous' })
  await rejectsWith(t, app.berth.auth.requireAccess(bob, 'alice/pub', 'delete'), 'forbidden')
  await rejectsWith(t, app.berth.auth.requireAccess(request('Bearer nonsense'), 'alice/pub', 'pull'), 'unauthenticated', undefined, 'a bad token is refused even where anonymous access would do')
  t.equal(await app.berth.auth.visibility('alice/pub'), 'public')
})

t.test('authErrorView renders each failure for either dialect', async t => {
  t.same(authErrorView(new AuthError('unauthenticated', 'authentication required')),
    { status: 401, ociCode: 'UNAUTHORIZED', cnrCode: 'unauthorized-access', message: 'authentication required', headers: {} })
  t.same(authErrorView(new AuthError('forbidden', 'no')), { status: 403, ociCode: 'DENIED', cnrCode: 'forbidden', message: 'no', headers: {} })
  t.same(authErrorView(new AuthError('throttled', 'wait', { retryAfterSeconds: 7 })),
    { status: 429, ociCode: 'TOOMANYREQUESTS', cnrCode: 'too-many-requests', message: 'wait', headers: { 'Retry-After': '7' } })
  t.match(authErrorView(new AuthError('invalid', 'bad')), { status: 400, cnrCode: 'invalid-usage' })
  t.match(authErrorView(new AuthError('conflict', 'taken')), { status: 409, cnrCode: 'user-exists' })
})

t.test('readablePage filters any listing to what the caller may pull, resuming after a cursor', async t => {
  const { app } = await buildAuthApp(t)
  await app.berth.auth.policies.setVisibility('carol/pub', 'public')
  const all = ['alice/a', 'bob/b', 'carol/pub', 'dave/x', 'alice/z'].map(name => ({ name, id: `id-${name}` })).sort((a, b) => a.id < b.id ? -1 : 1)
  const fetch = async ({ limit, last }: { limit: number, last?: string }) => {
    const start = last === undefined ? 0 : all.findIndex(p => p.id === last) + 1
    const items = all.slice(start, start + limit)
    return { items, truncated: start + limit < all.length }
  }
  const alice = await app.berth.auth.identify(request(basic('alice', PASSWORDS.alice)))
  const first = await app.berth.auth.readablePage(alice, fetch, { limit: 2 }, p => p.name, p => p.id)
  t.same(first.items.map(p => p.name), ['alice/a', 'alice/z'])
  t.equal(first.truncated, true)
  const second = await app.berth.auth.readablePage(alice, fetch, { limit: 2, last: first.items.at(-1)?.id }, p => p.name, p => p.id)
  t.same(second.items.map(p => p.name), ['carol/pub'])
  t.equal(second.truncated, false)
  const anonymous = await app.berth.auth.readablePage(await app.berth.auth.identify(request()), fetch, { limit: 10 }, p => p.name, p => p.id)
  t.same(anonymous.items.map(p => p.name), ['carol/pub'])
  const root = await app.berth.auth.identify(request(basic('root', PASSWORDS.root)))
  t.equal((await app.berth.auth.readablePage(root, fetch, { limit: 10 }, p => p.name, p => p.id)).items.length, 5, 'admins see everything')
})
