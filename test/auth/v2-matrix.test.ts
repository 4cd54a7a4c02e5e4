// Who may do what on /v2, with authentication on: every caller (anonymous, anonymous with an anonymous token,
// the owner, another user, an admin; signed in with Basic credentials or with a token from the token endpoint)
// × every operation (pull, push, delete, mount, catalog, tags, referrers), on a private and on a public
// repository of alice's. Each cell asserts the status and the error body: UNAUTHORIZED 401 with a Bearer
// challenge naming the scope, or DENIED 403. (The CNR and /packages rows are in cnr-matrix.test.ts.)
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { MT, expectError, header, pushImage, type Pushed, type Image, type Res } from '../oci/helpers.js'
import { PASSWORDS, basicOf, challengeOf, tokenFor, type Who } from './helpers.js'

type Caller = 'anonymous' | 'anonymous token' | 'owner' | 'other' | 'admin'
type Credential = 'basic' | 'token'
type Op = 'pull' | 'push' | 'delete' | 'mount' | 'catalog' | 'tags' | 'referrers'
/** 'ok' means the operation's success status (200, 201, 202). */
type Expect = 'ok' | 401 | 403 | 'session'

const USER: Record<Caller, Who | undefined> = { anonymous: undefined, 'anonymous token': undefined, owner: 'alice', other: 'bob', admin: 'root' }

const EXPECTED: Record<'private' | 'public', Record<'anonymous' | 'owner' | 'other' | 'admin', Record<Op, Expect>>> = {
  private: {
    anonymous: { pull: 401, push: 401, delete: 401, mount: 401, catalog: 401, tags: 401, referrers: 401 },
    owner: { pull: 'ok', push: 'ok', delete: 'ok', mount: 'ok', catalog: 'ok', tags: 'ok', referrers: 'ok' },
    // A mount from a repository the caller cannot read answers an ordinary session: it never reveals the blob.
    other: { pull: 403, push: 403, delete: 403, mount: 'session', catalog: 'ok', tags: 403, referrers: 403 },
    admin: { pull: 'ok', push: 'ok', delete: 'ok', mount: 'ok', catalog: 'ok', tags: 'ok', referrers: 'ok' }
  },
  public: {
    anonymous: { pull: 'ok', push: 401, delete: 401, mount: 401, catalog: 401, tags: 'ok', referrers: 'ok' },
    owner: { pull: 'ok', push: 'ok', delete: 'ok', mount: 'ok', catalog: 'ok', tags: 'ok', referrers: 'ok' },
    other: { pull: 'ok', push: 403, delete: 403, mount: 'ok', catalog: 'ok', tags: 'ok', referrers: 'ok' },
    admin: { pull: 'ok', push: 'ok', delete: 'ok', mount: 'ok', catalog: 'ok', tags: 'ok', referrers: 'ok' }
  }
}

function expected (visibility: 'private' | 'public', caller: Caller, op: Op): Expect {
  if (caller === 'anonymous token') {
    // An anonymous token is a credential for the catalog (which then lists public repositories only);
    // otherwise it allows exactly what an anonymous caller may do.
    return op === 'catalog' ? 'ok' : EXPECTED[visibility].anonymous[op]
  }
  return EXPECTED[visibility][caller][op]
}

interface Fixture {
  app: FastifyInstance
  repos: Record<'private' | 'public', { name: string, image: Pushed & Image, deletable: Map<string, string> }>
}

const CALLERS: Caller[] = ['anonymous', 'anonymous token', 'owner', 'other', 'admin']
const OPS: Op[] = ['pull', 'push', 'delete', 'mount', 'catalog', 'tags', 'referrers']

/**
 * Content is pushed while the registry is still open (no users), then the users are created, which turns the
 * rules on. One manifest per (caller, credential) is kept for the delete column.
 */
async function fixture (t: Test): Promise<Fixture> {
  const { app } = await buildTestApp(t)
  const repos = {} as Fixture['repos']
  for (const [visibility, name] of [['private', 'alice/app'], ['public', 'alice/pub']] as const) {
    const image = await pushImage(app, name, 'v1', `${name} v1`)
    const deletable = new Map<string, string>()
    for (const caller of CALLERS) {
      for (const credential of ['basic', 'token'] as const) {
        const pushed = await pushImage(app, name, `del-${caller.replace(' ', '-')}-${credential}`)
        deletable.set(`${caller}/${credential}`, pushed.digest)
      }
    }
    repos[visibility] = { name, image, deletable }
  }
  await app.berth.auth.users.add('root', PASSWORDS.root, { admin: true })
  await app.berth.auth.users.add('alice', PASSWORDS.alice)
  await app.berth.auth.users.add('bob', PASSWORDS.bob)
  await app.berth.auth.policies.setVisibility('alice/pub', 'public')
  return { app, repos }
}

/** Where a caller mounts into: a repository of its own namespace (anonymous callers have none). */
function mountTarget (caller: Caller, visibility: string): string {
  const who = USER[caller] ?? 'nobody'
  return `${who}/copy-${visibility}-${caller.replace(' ', '-')}`
}

/** The scopes a caller's token is requested with, per operation, as a client would ask. */
function scopesFor (op: Op, repo: string, target: string): string[] {
  switch (op) {
    case 'catalog': return ['registry:catalog:*']
    case 'push': return [`repository:${repo}:pull,push`]
    case 'delete': return [`repository:${repo}:delete`]
    case 'mount': return [`repository:${target}:pull,push`, `repository:${repo}:pull`]
    default: return [`repository:${repo}:pull`]
  }
}

function challengeScope (op: Op, repo: string, target: string): string {
  return op === 'catalog' ? 'registry:catalog:*' : scopesFor(op, repo, target).join(' ')
}

async function run (app: FastifyInstance, op: Op, repo: Fixture['repos']['private'], key: string, target: string, headers: Record<string, string>): Promise<Res> {
  const { name, image } = repo
  const layer = image.layers[0]?.digest ?? ''
  switch (op) {
    case 'pull': return await app.inject({ method: 'GET', url: `/v2/${name}/manifests/v1`, headers })
    case 'push': return await app.inject({
      method: 'PUT',
      url: `/v2/${name}/manifests/push-${key.replace(/[^a-z]+/g, '-')}`,
      headers: { ...headers, 'content-type': MT.ociManifest },
      payload: image.bytes
    })
    case 'delete': return await app.inject({ method: 'DELETE', url: `/v2/${name}/manifests/${repo.deletable.get(key) ?? ''}`, headers })
    case 'mount': return await app.inject({ method: 'POST', url: `/v2/${target}/blobs/uploads/?mount=${layer}&from=${name}`, headers })
    case 'catalog': return await app.inject({ method: 'GET', url: '/v2/_catalog', headers })
    case 'tags': return await app.inject({ method: 'GET', url: `/v2/${name}/tags/list`, headers })
    case 'referrers': return await app.inject({ method: 'GET', url: `/v2/${name}/referrers/${image.digest}`, headers })
  }
}

const SUCCESS: Record<Op, number> = { pull: 200, push: 201, delete: 202, mount: 201, catalog: 200, tags: 200, referrers: 200 }

t.test('the /v2 permission matrix', async t => {
  const fx = await fixture(t)
  const { app } = fx
  for (const visibility of ['private', 'public'] as const) {
    const repo = fx.repos[visibility]
    for (const caller of CALLERS) {
      const credentials: Credential[] = caller === 'anonymous' ? ['basic'] : caller === 'anonymous token' ? ['token'] : ['basic', 'token']
      for (const credential of credentials) {
        for (const op of OPS) {
          const label = `${visibility} ${repo.name}: ${caller}${caller === 'anonymous' ? '' : ` (${credential})`}: ${op}`
          const target = mountTarget(caller, visibility)
          const who = USER[caller]
          let headers: Record<string, string> = {}
          if (caller === 'anonymous token' || (who !== undefined && credential === 'token')) {
            headers = { authorization: `Bearer ${await tokenFor(app, who, scopesFor(op, repo.name, target))}` }
          } else if (who !== undefined) {
            headers = { authorization: basicOf(who) }
          }
          const res = await run(app, op, repo, `${caller}/${credential}`, target, headers)
          const want = expected(visibility, caller, op)
          await t.test(label, async t => {
            if (want === 401) {
              expectError(t, res, 401, 'UNAUTHORIZED')
              const challenge = challengeOf(res)
              t.same(challenge, { realm: 'http://localhost:80/v2/token', service: 'berth', scope: challengeScope(op, repo.name, target) },
                'a Bearer challenge naming the scope to ask for')
            } else if (want === 403) {
              expectError(t, res, 403, 'DENIED')
              t.equal(header(res, 'www-authenticate'), undefined, 'no challenge: other credentials would not help')
            } else if (want === 'session') {
              t.equal(res.statusCode, 202, 'an ordinary upload session, as if the blob were not there')
              t.match(header(res, 'location'), new RegExp(`^/v2/${target}/blobs/uploads/[^/]+$`))
              t.ok(header(res, 'docker-upload-uuid'))
              const layer = repo.image.layers[0]?.digest ?? ''
              const probe = await app.inject({ method: 'HEAD', url: `/v2/${target}/blobs/${layer}`, headers })
              t.equal(probe.statusCode, 404, 'the blob was not linked into the caller\'s repository')
            } else {
              t.equal(res.statusCode, SUCCESS[op], `${op} succeeds: ${res.body}`)
            }
            if (op === 'catalog' && res.statusCode === 200) {
              const names = (res.json() as { repositories: string[] }).repositories
              t.ok(names.includes('alice/pub'), 'public repositories are listed for everyone')
              const readsPrivate = caller === 'owner' || caller === 'admin'
              t.equal(names.includes('alice/app'), readsPrivate, readsPrivate ? 'the private repository is listed' : 'the private repository is not listed')
            }
          })
        }
      }
    }
  }
})

t.test('a mount from an unreadable repository looks exactly like one from a repository without the blob', async t => {
  const fx = await fixture(t)
  const { app } = fx
  const layer = fx.repos.private.image.layers[0]?.digest ?? ''
  const headers = { authorization: basicOf('bob') }
  const hidden = await app.inject({ method: 'POST', url: `/v2/bob/a/blobs/uploads/?mount=${layer}&from=alice/app`, headers })
  const absent = await app.inject({ method: 'POST', url: `/v2/bob/b/blobs/uploads/?mount=${layer}&from=bob/nothing`, headers })
  const automatic = await app.inject({ method: 'POST', url: `/v2/bob/c/blobs/uploads/?mount=${layer}`, headers })
  for (const res of [hidden, absent, automatic]) {
    t.equal(res.statusCode, 202)
    t.equal(res.body, '')
  }
  const shape = (res: Res): string[] => Object.keys(res.headers).filter(h => h !== 'date' && h !== 'location' && h !== 'docker-upload-uuid').sort()
  t.same(shape(hidden), shape(absent), 'same headers')
  t.same(shape(hidden), shape(automatic), 'an automatic mount (no from) does not search other users\' repositories either')
  // The owner and admins still get the 201 of a real mount, and an admin's automatic mount still works.
  const own = await app.inject({ method: 'POST', url: `/v2/alice/a/blobs/uploads/?mount=${layer}&from=alice/app`, headers: { authorization: basicOf('alice') } })
  t.equal(own.statusCode, 201)
  const admin = await app.inject({ method: 'POST', url: `/v2/root/a/blobs/uploads/?mount=${layer}`, headers: { authorization: basicOf('root') } })
  t.equal(admin.statusCode, 201)
})

t.test('GET /v2/ asks for credentials when auth is on, and accepts any valid one', async t => {
  const fx = await fixture(t)
  const { app } = fx
  const anonymous = await app.inject({ method: 'GET', url: '/v2/' })
  expectError(t, anonymous, 401, 'UNAUTHORIZED')
  t.equal(header(anonymous, 'www-authenticate'), 'Bearer realm="http://localhost:80/v2/token",service="berth"')
  t.equal(header(anonymous, 'docker-distribution-api-version'), 'registry/2.0')
  const head = await app.inject({ method: 'HEAD', url: '/v2/' })
  t.equal(head.statusCode, 401)
  t.ok(header(head, 'www-authenticate'))
  for (const authorization of [basicOf('bob'), `Bearer ${await tokenFor(app, 'bob', [])}`, `Bearer ${await tokenFor(app, undefined, [])}`]) {
    const res = await app.inject({ method: 'GET', url: '/v2/', headers: { authorization } })
    t.equal(res.statusCode, 200, authorization.slice(0, 6))
  }
  const wrong = await app.inject({ method: 'GET', url: '/v2/', headers: { authorization: 'Basic ' + Buffer.from('bob:nope-nope-nope').toString('base64') } })
  expectError(t, wrong, 401, 'UNAUTHORIZED')
  t.ok(challengeOf(wrong), 'bad credentials get the challenge too')
  const scheme = await app.inject({ method: 'GET', url: '/v2/', headers: { authorization: 'Digest abc' } })
  expectError(t, scheme, 401, 'UNAUTHORIZED')
})

t.test('namespace policies share a namespace: read lets a user pull, write lets them push and delete', async t => {
  const fx = await fixture(t)
  const { app } = fx
  const bob = { authorization: basicOf('bob') }
  const digest = fx.repos.private.deletable.get('other/basic') ?? ''
  t.equal((await app.inject({ method: 'GET', url: '/v2/alice/app/tags/list', headers: bob })).statusCode, 403)

  await app.berth.auth.policies.grant('alice', 'bob', 'read')
  t.equal((await app.inject({ method: 'GET', url: '/v2/alice/app/tags/list', headers: bob })).statusCode, 200, 'read: pull')
  expectError(t, await app.inject({ method: 'DELETE', url: `/v2/alice/app/manifests/${digest}`, headers: bob }), 403, 'DENIED', 'read: no delete')
  const catalog = await app.inject({ method: 'GET', url: '/v2/_catalog', headers: bob })
  t.ok((catalog.json() as { repositories: string[] }).repositories.includes('alice/app'), 'read: listed in the catalog')

  await app.berth.auth.policies.grant('alice', 'bob', 'write')
  t.equal((await app.inject({ method: 'DELETE', url: `/v2/alice/app/manifests/${digest}`, headers: bob })).statusCode, 202, 'write: delete')
  t.equal((await app.inject({ method: 'POST', url: '/v2/alice/app/blobs/uploads/', headers: bob })).statusCode, 202, 'write: push')

  await app.berth.auth.policies.revoke('alice', 'bob')
  expectError(t, await app.inject({ method: 'GET', url: '/v2/alice/app/tags/list', headers: bob }), 403, 'DENIED', 'revoked')

  // "*" shares with every signed-in user, never with anonymous callers.
  await app.berth.auth.policies.grant('alice', '*', 'read')
  t.equal((await app.inject({ method: 'GET', url: '/v2/alice/app/tags/list', headers: bob })).statusCode, 200, '* includes bob')
  expectError(t, await app.inject({ method: 'GET', url: '/v2/alice/app/tags/list' }), 401, 'UNAUTHORIZED', '* excludes anonymous')
})

t.test('the catalog pages over readable repositories only, and its Link never names a hidden one', async t => {
  const { app } = await buildTestApp(t)
  for (const name of ['a/one', 'alice/a', 'b/two', 'alice/b', 'c/three', 'alice/c', 'd/four']) await pushImage(app, name, 'v1')
  await app.berth.auth.users.add('alice', PASSWORDS.alice)
  await app.berth.auth.policies.setVisibility('c/three', 'public')
  const headers = { authorization: basicOf('alice') }
  const seen: string[] = []
  let url: string | undefined = '/v2/_catalog?n=2'
  const links: string[] = []
  while (url !== undefined) {
    const res: Res = await app.inject({ method: 'GET', url, headers })
    t.equal(res.statusCode, 200)
    seen.push(...(res.json() as { repositories: string[] }).repositories)
    const link = header(res, 'link')
    if (link !== undefined) links.push(link)
    url = link === undefined ? undefined : /^<([^>]+)>/.exec(link)?.[1]
  }
  t.same(seen, ['alice/a', 'alice/b', 'alice/c', 'c/three'])
  for (const link of links) t.notMatch(link, /a%2Fone|b%2Ftwo|d%2Ffour|a\/one|b\/two|d\/four/, 'Link names only readable repositories')
})

t.test('with no users, Berth is open: anonymous push, pull, delete and catalog work without any credential', async t => {
  const { app } = await buildTestApp(t)
  t.equal((await app.inject({ method: 'GET', url: '/v2/' })).statusCode, 200)
  const pushed = await pushImage(app, 'open/repo', 'v1')
  t.equal((await app.inject({ method: 'GET', url: '/v2/open/repo/manifests/v1' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/v2/_catalog' })).statusCode, 200)
  // Credentials are ignored rather than checked: there is nobody to check them against.
  t.equal((await app.inject({ method: 'GET', url: '/v2/open/repo/tags/list', headers: { authorization: basicOf('alice') } })).statusCode, 200)
  t.equal((await app.inject({ method: 'DELETE', url: `/v2/open/repo/manifests/${pushed.digest}` })).statusCode, 202)
  // The first user turns the rules on.
  await app.berth.auth.users.add('alice', PASSWORDS.alice)
  expectError(t, await app.inject({ method: 'GET', url: '/v2/open/repo/tags/list' }), 401, 'UNAUTHORIZED')
})

t.test('BERTH_DEFAULT_VISIBILITY=public makes repositories without a setting pullable by anyone', async t => {
  const { app } = await buildTestApp(t, { BERTH_DEFAULT_VISIBILITY: 'public' })
  await pushImage(app, 'alice/app', 'v1')
  await app.berth.auth.users.add('alice', PASSWORDS.alice)
  t.equal((await app.inject({ method: 'GET', url: '/v2/alice/app/manifests/v1' })).statusCode, 200)
  expectError(t, await app.inject({ method: 'POST', url: '/v2/alice/app/blobs/uploads/' }), 401, 'UNAUTHORIZED')
  await app.berth.auth.policies.setVisibility('alice/app', 'private')
  expectError(t, await app.inject({ method: 'GET', url: '/v2/alice/app/manifests/v1' }), 401, 'UNAUTHORIZED')
})
