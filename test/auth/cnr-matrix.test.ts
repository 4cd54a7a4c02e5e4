// Who may do what on the CNR API and on /packages, with authentication on: every caller (anonymous, the owner,
// another user, an admin; signed in with Basic credentials or with the token CNR login returns) × every
// operation (CNR list, push, pull, channel add, release delete; /packages list, upload, download, delete), on a
// private and on a public package of alice's. Each cell asserts the status and the error body: the CNR
// `unauthorized-access` 401 or `forbidden` 403 bodies, and /packages' text bodies (401 with a Basic challenge).
// Then the CNR login round trip, the push `visibility` field, signup and throttling.
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { KPM_FILES, tarGz } from '../cnr/helpers.js'
import type { Res } from '../oci/helpers.js'
import { PASSWORDS, basicOf, buildAuthApp, type Who } from './helpers.js'

type Caller = 'anonymous' | 'owner' | 'other' | 'admin'
type Credential = 'basic' | 'login'
type CnrOp = 'cnr list' | 'cnr push' | 'cnr pull' | 'cnr channel add' | 'cnr release delete'
type PackagesOp = 'packages list' | 'packages upload' | 'packages download' | 'packages delete'
type Op = CnrOp | PackagesOp
/** 'ok': the operation's success status; 'ok, hidden': 200, but the package is not in the listing. */
type Expect = 'ok' | 'ok, hidden' | 401 | 403

const USER: Record<Caller, Who | undefined> = { anonymous: undefined, owner: 'alice', other: 'bob', admin: 'root' }
const CALLERS: Caller[] = ['anonymous', 'owner', 'other', 'admin']
const CNR_OPS: CnrOp[] = ['cnr list', 'cnr push', 'cnr pull', 'cnr channel add', 'cnr release delete']
const PACKAGES_OPS: PackagesOp[] = ['packages list', 'packages upload', 'packages download', 'packages delete']

const WRITES = { anonymous: 401, owner: 'ok', other: 403, admin: 'ok' } as const
const EXPECTED: Record<'private' | 'public', Record<Caller, Record<Op, Expect>>> = {
  private: {
    anonymous: { 'cnr list': 'ok, hidden', 'cnr push': 401, 'cnr pull': 401, 'cnr channel add': 401, 'cnr release delete': 401, 'packages list': 'ok, hidden', 'packages upload': 401, 'packages download': 401, 'packages delete': 401 },
    owner: { 'cnr list': 'ok', 'cnr push': 'ok', 'cnr pull': 'ok', 'cnr channel add': 'ok', 'cnr release delete': 'ok', 'packages list': 'ok', 'packages upload': 'ok', 'packages download': 'ok', 'packages delete': 'ok' },
    other: { 'cnr list': 'ok, hidden', 'cnr push': 403, 'cnr pull': 403, 'cnr channel add': 403, 'cnr release delete': 403, 'packages list': 'ok, hidden', 'packages upload': 403, 'packages download': 403, 'packages delete': 403 },
    admin: { 'cnr list': 'ok', 'cnr push': 'ok', 'cnr pull': 'ok', 'cnr channel add': 'ok', 'cnr release delete': 'ok', 'packages list': 'ok', 'packages upload': 'ok', 'packages download': 'ok', 'packages delete': 'ok' }
  },
  // Public: anyone may read (list, pull, download); writes are as for a private package.
  public: {
    anonymous: { 'cnr list': 'ok', 'cnr push': 401, 'cnr pull': 'ok', 'cnr channel add': 401, 'cnr release delete': 401, 'packages list': 'ok', 'packages upload': 401, 'packages download': 'ok', 'packages delete': 401 },
    owner: { 'cnr list': 'ok', 'cnr push': 'ok', 'cnr pull': 'ok', 'cnr channel add': 'ok', 'cnr release delete': 'ok', 'packages list': 'ok', 'packages upload': 'ok', 'packages download': 'ok', 'packages delete': 'ok' },
    other: { 'cnr list': 'ok', 'cnr push': 403, 'cnr pull': 'ok', 'cnr channel add': 403, 'cnr release delete': 403, 'packages list': 'ok', 'packages upload': 403, 'packages download': 'ok', 'packages delete': 403 },
    admin: { 'cnr list': 'ok', 'cnr push': 'ok', 'cnr pull': 'ok', 'cnr channel add': 'ok', 'cnr release delete': 'ok', 'packages list': 'ok', 'packages upload': 'ok', 'packages download': 'ok', 'packages delete': 'ok' }
  }
}
for (const caller of CALLERS) {
  for (const visibility of ['private', 'public'] as const) {
    for (const op of ['cnr push', 'cnr channel add', 'cnr release delete', 'packages upload', 'packages delete'] as const) {
      if (EXPECTED[visibility][caller][op] !== WRITES[caller]) throw new Error(`matrix typo: ${visibility} ${caller} ${op}`)
    }
  }
}

/** The package of each visibility: a CNR package of alice's, and a /packages package (namespace `packages`). */
const CNR_PACKAGE = { private: 'alice/app', public: 'alice/pub' } as const
const FILE_PACKAGE = { private: 'tool', public: 'pubtool' } as const

/** A release suffix per caller and credential, so that each cell writes and deletes its own release. */
const slug = (caller: Caller, credential: Credential): string => `${caller}-${credential}`

async function cnrPush (app: FastifyInstance, pkg: string, release: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): Promise<Res> {
  const blob = (await tarGz(KPM_FILES(release))).toString('base64')
  return await app.inject({
    method: 'POST',
    url: `/cnr/api/v1/packages/${pkg}`,
    headers: { ...headers, 'content-type': 'application/json' },
    payload: JSON.stringify({ release, blob, ...extra })
  })
}

async function upload (app: FastifyInstance, file: string, headers: Record<string, string> = {}): Promise<Res> {
  return await app.inject({ method: 'PUT', url: `/packages/${file}`, headers: { ...headers, 'content-type': 'application/gzip' }, payload: await tarGz({ [file]: file }) })
}

/**
 * Content goes in while the registry is still open (no users); then the users are created, which turns the
 * rules on. alice owns alice/…; /packages files live in repositories packages/<name>, a namespace no user
 * owns, so alice is given write access to it by a namespace policy (what an operator would do).
 */
async function fixture (t: Test): Promise<FastifyInstance> {
  const { app } = await buildTestApp(t)
  for (const visibility of ['private', 'public'] as const) {
    const pkg = CNR_PACKAGE[visibility]
    const name = FILE_PACKAGE[visibility]
    t.equal((await cnrPush(app, pkg, '1.0.0')).statusCode, 200)
    t.equal((await upload(app, `${name}-1.0.0.tar.gz`)).statusCode, 200)
    for (const caller of CALLERS) {
      for (const credential of ['basic', 'login'] as const) {
        t.equal((await cnrPush(app, pkg, `1.0.1-${slug(caller, credential)}`)).statusCode, 200)
        t.equal((await upload(app, `${name}-1.0.1-${slug(caller, credential)}.tar.gz`)).statusCode, 200)
      }
    }
  }
  await app.berth.auth.users.add('root', PASSWORDS.root, { admin: true })
  await app.berth.auth.users.add('alice', PASSWORDS.alice)
  await app.berth.auth.users.add('bob', PASSWORDS.bob)
  await app.berth.auth.policies.grant('packages', 'alice', 'write')
  await app.berth.auth.setVisibility(CNR_PACKAGE.public, 'public')
  await app.berth.auth.setVisibility(`packages/${FILE_PACKAGE.public}`, 'public')
  return app
}

/** The Authorization header a caller sends: Basic credentials, or the token CNR login returned, verbatim. */
async function authorization (app: FastifyInstance, who: Who | undefined, credential: Credential): Promise<Record<string, string>> {
  if (who === undefined) return {}
  if (credential === 'basic') return { authorization: basicOf(who) }
  const res = await app.inject({
    method: 'POST',
    url: '/cnr/api/v1/users/login',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ user: { username: who, password: PASSWORDS[who] } })
  })
  if (res.statusCode !== 200) throw new Error(`login ${who}: ${res.statusCode} ${res.body}`)
  return { authorization: (res.json() as { token: string }).token }
}

async function run (app: FastifyInstance, op: Op, visibility: 'private' | 'public', key: string, headers: Record<string, string>): Promise<Res> {
  const pkg = CNR_PACKAGE[visibility]
  const name = FILE_PACKAGE[visibility]
  switch (op) {
    case 'cnr list': return await app.inject({ method: 'GET', url: '/cnr/api/v1/packages', headers })
    case 'cnr push': return await cnrPush(app, pkg, `2.0.0-${key}`, headers)
    case 'cnr pull': return await app.inject({ method: 'GET', url: `/cnr/api/v1/packages/${pkg}/1.0.0/kpm/pull`, headers })
    case 'cnr channel add': return await app.inject({ method: 'POST', url: `/cnr/api/v1/packages/${pkg}/channels/ch-${key}/1.0.0`, headers })
    case 'cnr release delete': return await app.inject({ method: 'DELETE', url: `/cnr/api/v1/packages/${pkg}/1.0.1-${key}/kpm`, headers })
    case 'packages list': return await app.inject({ method: 'GET', url: '/packages', headers })
    case 'packages upload': return await upload(app, `${name}-2.0.0-${key}.tar.gz`, headers)
    case 'packages download': return await app.inject({ method: 'GET', url: `/packages/${name}-1.0.0.tar.gz`, headers })
    case 'packages delete': return await app.inject({ method: 'DELETE', url: `/packages/${name}-1.0.1-${key}.tar.gz`, headers })
  }
}

/** Asserts a CNR error body: exactly {code, message, details}, JSON. */
function expectCnrError (t: Test, res: Res, status: number, code: string): void {
  t.equal(res.statusCode, status, `status ${status}: ${res.body}`)
  t.match(res.headers['content-type'], /^application\/json/)
  const body = res.json() as Record<string, unknown>
  t.same(Object.keys(body).sort(), ['code', 'details', 'message'], 'the CNR error body')
  t.equal(body.code, code, `code ${code}`)
  t.type(body.message, 'string')
}

/** Whether a listing (CNR summaries or /packages listings) names the package. */
function lists (op: Op, res: Res, visibility: 'private' | 'public'): boolean {
  const items = res.json() as Array<{ name: string }>
  const name = op === 'cnr list' ? CNR_PACKAGE[visibility] : FILE_PACKAGE[visibility]
  return items.some(item => item.name === name)
}

t.test('the CNR and /packages permission matrix', async t => {
  const app = await fixture(t)
  for (const visibility of ['private', 'public'] as const) {
    for (const caller of CALLERS) {
      for (const credential of caller === 'anonymous' ? ['basic' as const] : ['basic', 'login'] as const) {
        const headers = await authorization(app, USER[caller], credential)
        for (const op of [...CNR_OPS, ...PACKAGES_OPS]) {
          const want = EXPECTED[visibility][caller][op]
          const res = await run(app, op, visibility, slug(caller, credential), headers)
          await t.test(`${visibility}: ${caller}${caller === 'anonymous' ? '' : ` (${credential})`}: ${op}`, async t => {
            const cnr = op.startsWith('cnr')
            if (want === 401 || want === 403) {
              if (cnr) {
                expectCnrError(t, res, want, want === 401 ? 'unauthorized-access' : 'forbidden')
                t.equal(res.headers['www-authenticate'], undefined, 'no Bearer challenge: CNR clients replay their login token')
              } else {
                t.equal(res.statusCode, want, `status ${want}: ${res.body}`)
                t.match(res.headers['content-type'], /^text\/plain/)
                t.match(res.body, want === 401 ? /^401 authentication required\n$/ : /^403 requested access to the resource is denied\n$/)
                if (want === 401) t.equal(res.headers['www-authenticate'], 'Basic realm="berth", charset="UTF-8"', 'a Basic challenge')
                else t.equal(res.headers['www-authenticate'], undefined)
              }
            } else {
              t.equal(res.statusCode, 200, `${op} succeeds: ${res.body.slice(0, 200)}`)
              if (op === 'cnr list' || op === 'packages list') {
                t.equal(lists(op, res, visibility), want === 'ok', want === 'ok' ? 'the package is listed' : 'the package is not listed')
              }
            }
          })
        }
      }
    }
  }
  // The writes that were refused left nothing behind; the allowed ones landed.
  const root = { authorization: basicOf('root') }
  const show = await app.inject({ method: 'GET', url: '/cnr/api/v1/packages/alice/app', headers: root })
  const releases = (show.json() as Array<{ release: string }>).map(r => r.release)
  t.ok(releases.includes('2.0.0-owner-basic') && releases.includes('2.0.0-admin-login'), 'allowed pushes landed')
  t.notOk(releases.includes('2.0.0-other-basic') || releases.includes('2.0.0-anonymous-basic'), 'refused pushes did not')
  t.ok(releases.includes('1.0.1-other-basic') && !releases.includes('1.0.1-owner-basic'), 'only allowed deletes happened')
  t.equal((await app.inject({ method: 'GET', url: '/packages/tool-2.0.0-other-basic.tar.gz', headers: root })).statusCode, 404, 'refused uploads stored nothing')
  t.equal((await app.inject({ method: 'GET', url: '/packages/tool-1.0.1-other-basic.tar.gz', headers: root })).statusCode, 200, 'refused deletes deleted nothing')
})

t.test('the other CNR routes: reads need pull, channel and release removal need delete', async t => {
  const app = await fixture(t)
  const bob = { authorization: basicOf('bob') }
  const alice = { authorization: basicOf('alice') }
  const reads = ['', '/channels', '/deleted', '/1.0.0', '/1.0.0/kpm', '/1.0.0/kpm/pull/json', '/channels/stable']
  for (const path of reads) {
    expectCnrError(t, await app.inject({ method: 'GET', url: `/cnr/api/v1/packages/alice/app${path}` }), 401, 'unauthorized-access')
    expectCnrError(t, await app.inject({ method: 'GET', url: `/api/v1/packages/alice/app${path}`, headers: bob }), 403, 'forbidden')
  }
  t.equal((await app.inject({ method: 'POST', url: '/cnr/api/v1/packages/alice/app/channels/stable/1.0.0', headers: alice })).statusCode, 200)
  expectCnrError(t, await app.inject({ method: 'DELETE', url: '/cnr/api/v1/packages/alice/app/channels/stable/1.0.0', headers: bob }), 403, 'forbidden')
  expectCnrError(t, await app.inject({ method: 'DELETE', url: '/cnr/api/v1/packages/alice/app/channels/stable' }), 401, 'unauthorized-access')
  t.equal((await app.inject({ method: 'GET', url: '/cnr/api/v1/packages/alice/app/channels/stable', headers: alice })).statusCode, 200)
  t.equal((await app.inject({ method: 'DELETE', url: '/cnr/api/v1/packages/alice/app/channels/stable', headers: alice })).statusCode, 200)
  // Denial comes before existence: a caller who may not read a package cannot learn whether it exists.
  expectCnrError(t, await app.inject({ method: 'GET', url: '/cnr/api/v1/packages/alice/nothing', headers: bob }), 403, 'forbidden')
  expectCnrError(t, await app.inject({ method: 'GET', url: '/cnr/api/v1/packages/alice/nothing', headers: alice }), 404, 'package-not-found')
  // Search lists only readable names; version needs nothing.
  const search = async (headers: Record<string, string>): Promise<string[]> =>
    (await app.inject({ method: 'GET', url: '/cnr/api/v1/packages/search?q=alice', headers })).json() as string[]
  t.same(await search({}), ['alice/pub'])
  t.same(await search(bob), ['alice/pub'])
  t.same(await search(alice), ['alice/app', 'alice/pub'])
  t.equal((await app.inject({ method: 'GET', url: '/cnr/version' })).statusCode, 200)
  // Bad credentials are refused even where anonymous access would do.
  expectCnrError(t, await app.inject({ method: 'GET', url: '/cnr/api/v1/packages', headers: { authorization: 'Bearer nonsense' } }), 401, 'unauthorized-access')
  expectCnrError(t, await app.inject({ method: 'GET', url: '/cnr/api/v1/packages/alice/pub', headers: { authorization: 'Basic Ym9iOndyb25n' } }), 401, 'unauthorized-access')
})

t.test('CNR login returns a token the client replays verbatim; bad credentials are unauthorized-access', async t => {
  const { app } = await buildAuthApp(t)
  const login = async (user: Record<string, unknown>): Promise<Res> => await app.inject({
    method: 'POST', url: '/cnr/api/v1/users/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ user })
  })
  const res = await login({ username: 'alice', password: PASSWORDS.alice })
  t.equal(res.statusCode, 200)
  const { token } = res.json() as { token: string }
  t.match(token, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/)
  const pushed = await cnrPush(app, 'alice/app', '1.0.0', { authorization: token })
  t.equal(pushed.statusCode, 200, `push with the login token: ${pushed.body}`)
  t.same(pushed.json(), { status: 'ok' })
  expectCnrError(t, await cnrPush(app, 'bob/app', '1.0.0', { authorization: token }), 403, 'forbidden')
  // Quay's form, `basic <b64>`, works too.
  const quay = `basic ${Buffer.from(`alice:${PASSWORDS.alice}`).toString('base64')}`
  t.equal((await app.inject({ method: 'GET', url: '/cnr/api/v1/packages/alice/app/1.0.0/kpm/pull', headers: { authorization: quay } })).statusCode, 200)

  expectCnrError(t, await login({ username: 'alice', password: 'wrong-password' }), 401, 'unauthorized-access')
  expectCnrError(t, await login({ username: 'ghost', password: 'whatever-pw' }), 401, 'unauthorized-access')
  expectCnrError(t, await login({ username: 'alice' }), 400, 'invalid-usage')
})

t.test('failed CNR logins are throttled: too-many-requests 429 with Retry-After', async t => {
  const { app } = await buildAuthApp(t, { BERTH_LOGIN_MAX_FAILURES: '2' })
  const login = async (password: string): Promise<Res> => await app.inject({
    method: 'POST', url: '/cnr/api/v1/users/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ user: { username: 'alice', password } })
  })
  expectCnrError(t, await login('wrong-1'), 401, 'unauthorized-access')
  expectCnrError(t, await login('wrong-2'), 401, 'unauthorized-access')
  const throttled = await login(PASSWORDS.alice)
  expectCnrError(t, throttled, 429, 'too-many-requests')
  t.match(throttled.headers['retry-after'], /^\d+$/)
})

t.test('signup: forbidden by default; with BERTH_SIGNUP=true it creates a user, and a taken name is user-exists', async t => {
  const signup = async (app: FastifyInstance, username: string): Promise<Res> => await app.inject({
    method: 'POST',
    url: '/cnr/api/v1/users',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ user: { username, password: 'carol-password', password_confirmation: 'carol-password' } })
  })
  const { app } = await buildAuthApp(t)
  expectCnrError(t, await signup(app, 'carol'), 403, 'forbidden')
  t.equal(await app.berth.auth.users.get('carol'), undefined)

  const { app: open } = await buildAuthApp(t, { BERTH_SIGNUP: 'true' })
  const res = await signup(open, 'carol')
  t.equal(res.statusCode, 200)
  const { token } = res.json() as { token: string }
  t.equal((await cnrPush(open, 'carol/app', '1.0.0', { authorization: token })).statusCode, 200, 'the signup token pushes to the new namespace')
  expectCnrError(t, await signup(open, 'carol'), 409, 'user-exists')
})

t.test('the push visibility field: public packages are pulled anonymously; summaries report the visibility', async t => {
  const { app } = await buildAuthApp(t)
  const alice = { authorization: basicOf('alice') }
  t.equal((await cnrPush(app, 'alice/pub', '1.0.0', alice, { visibility: 'public' })).statusCode, 200)
  t.equal((await cnrPush(app, 'alice/priv', '1.0.0', alice, { visibility: 'private' })).statusCode, 200)
  t.equal((await cnrPush(app, 'alice/plain', '1.0.0', alice)).statusCode, 200)
  t.equal(await app.berth.auth.visibility('alice/pub'), 'public')

  const pull = await app.inject({ method: 'GET', url: '/cnr/api/v1/packages/alice/pub/1.0.0/kpm/pull' })
  t.equal(pull.statusCode, 200, 'anonymous pull of a public package')
  t.equal(pull.headers['content-type'], 'application/x-gzip')
  expectCnrError(t, await app.inject({ method: 'GET', url: '/cnr/api/v1/packages/alice/priv/1.0.0/kpm/pull' }), 401, 'unauthorized-access')
  expectCnrError(t, await app.inject({ method: 'GET', url: '/cnr/api/v1/packages/alice/plain/1.0.0/kpm/pull' }), 401, 'unauthorized-access')

  const summaries = (await app.inject({ method: 'GET', url: '/cnr/api/v1/packages', headers: alice })).json() as Array<{ name: string, visibility: string }>
  t.same(summaries.map(s => [s.name, s.visibility]), [['alice/plain', 'private'], ['alice/priv', 'private'], ['alice/pub', 'public']])
  const anonymous = (await app.inject({ method: 'GET', url: '/cnr/api/v1/packages' })).json() as Array<{ name: string, visibility: string }>
  t.same(anonymous.map(s => [s.name, s.visibility]), [['alice/pub', 'public']])

  // Making it private again takes effect at once; only a pusher may change it; a bad value is invalid-usage.
  t.equal((await cnrPush(app, 'alice/pub', '1.0.1', alice, { visibility: 'private' })).statusCode, 200)
  expectCnrError(t, await app.inject({ method: 'GET', url: '/cnr/api/v1/packages/alice/pub/1.0.0/kpm/pull' }), 401, 'unauthorized-access')
  expectCnrError(t, await cnrPush(app, 'alice/pub', '1.0.2', { authorization: basicOf('bob') }, { visibility: 'public' }), 403, 'forbidden')
  t.equal(await app.berth.auth.visibility('alice/pub'), 'private')
  expectCnrError(t, await cnrPush(app, 'alice/pub', '1.0.2', alice, { visibility: 'secret' }), 400, 'invalid-usage')
})

t.test('with no users, the CNR API and /packages stay open and summaries say public', async t => {
  const { app } = await buildTestApp(t)
  t.equal((await cnrPush(app, 'alice/app', '1.0.0', {}, { visibility: 'private' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/cnr/api/v1/packages/alice/app/1.0.0/kpm/pull' })).statusCode, 200)
  t.match((await app.inject({ method: 'GET', url: '/cnr/api/v1/packages' })).json(), [{ name: 'alice/app', visibility: 'public' }])
  t.equal((await upload(app, 'tool-1.0.0.tar.gz')).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/packages/tool-1.0.0.tar.gz' })).statusCode, 200)
  t.same((await app.inject({ method: 'GET', url: '/packages' })).json(), [{ name: 'tool', latest_versions: [{ version: '1.0.0', file: 'tool-1.0.0.tar.gz' }] }])
  t.equal((await app.inject({ method: 'DELETE', url: '/packages/tool-1.0.0.tar.gz' })).statusCode, 200)
})
