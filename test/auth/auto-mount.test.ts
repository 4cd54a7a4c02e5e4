// Automatic mount (POST /v2/<name>/blobs/uploads/?mount=<digest> without `from`) with auth on, for a user who
// is not an admin: it links the blob when some repository the user may pull links it (their own namespace, a
// namespace shared by policy, a public repository), and otherwise answers exactly what a blob unknown to the
// registry gets, an ordinary upload session, so it reveals nothing of repositories the user may not pull.
// It looks only at those repositories, by one stat of a link key each: never a scan of the store.
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { header, pushImage, sha256, storedBlob, type Res } from '../oci/helpers.js'
import { PASSWORDS, basicOf, tokenFor } from './helpers.js'

interface Fixture {
  app: FastifyInstance
  /** The one layer of each image, by where it was pushed. */
  layer: Record<'alicePrivate' | 'alicePublic' | 'team' | 'bobOwn' | 'carolPrivate', { digest: string, bytes: Buffer }>
}

/** Content is pushed while the registry is open; then users, a policy and a visibility turn the rules on. */
async function fixture (t: Test, env: Record<string, string> = {}): Promise<Fixture> {
  const { app } = await buildTestApp(t, env)
  const layerOf = async (name: string, seed: string): Promise<{ digest: string, bytes: Buffer }> => {
    const image = await pushImage(app, name, 'v1', seed)
    const digest = image.layers[0]?.digest ?? ''
    return { digest, bytes: await storedBlob(app, digest) ?? Buffer.alloc(0) }
  }
  const layer = {
    alicePrivate: await layerOf('alice/private', 'alice private'),
    alicePublic: await layerOf('alice/public', 'alice public'),
    team: await layerOf('team/tools', 'team tools'),
    bobOwn: await layerOf('bob/own', 'bob own'),
    carolPrivate: await layerOf('carol/app', 'carol private')
  }
  await app.berth.auth.users.add('root', PASSWORDS.root, { admin: true })
  await app.berth.auth.users.add('alice', PASSWORDS.alice)
  await app.berth.auth.users.add('bob', PASSWORDS.bob)
  await app.berth.auth.users.add('carol', 'carol-password-1')
  await app.berth.auth.policies.grant('team', 'bob', 'read')
  await app.berth.auth.policies.setVisibility('alice/public', 'public')
  return { app, layer }
}

async function autoMount (app: FastifyInstance, target: string, digest: string, authorization: string): Promise<Res> {
  return await app.inject({ method: 'POST', url: `/v2/${target}/blobs/uploads/?mount=${digest}`, headers: { authorization } })
}

/** Asserts a mounted blob: 201 with the blob's Location, and the same bytes served from the target. */
async function assertMounted (t: Test, app: FastifyInstance, res: Res, target: string, layer: { digest: string, bytes: Buffer }, authorization: string): Promise<void> {
  t.equal(res.statusCode, 201, res.body)
  t.equal(header(res, 'location'), `/v2/${target}/blobs/${layer.digest}`)
  t.equal(header(res, 'docker-content-digest'), layer.digest)
  t.equal(res.body, '')
  const got = await app.inject({ method: 'GET', url: `/v2/${target}/blobs/${layer.digest}`, headers: { authorization } })
  t.equal(got.statusCode, 200)
  t.same(got.rawPayload, layer.bytes, 'the target serves the same bytes')
  t.equal(sha256(got.rawPayload), layer.digest)
}

/** What a response shows a client, minus what differs per session: status, body, header names. */
function shape (res: Res): { status: number, body: string, headers: string[], location: string } {
  return {
    status: res.statusCode,
    body: res.body,
    headers: Object.keys(res.headers).filter(h => h !== 'date').sort(),
    location: (header(res, 'location') ?? '').replace(/[^/]+$/, '<id>')
  }
}

t.test('a blob in a repository the user may pull is mounted: own namespace, shared namespace, public repository', async t => {
  const { app, layer } = await fixture(t)
  const bob = basicOf('bob')
  await assertMounted(t, app, await autoMount(app, 'bob/target', layer.bobOwn.digest, bob), 'bob/target', layer.bobOwn, bob)
  await assertMounted(t, app, await autoMount(app, 'bob/target', layer.team.digest, bob), 'bob/target', layer.team, bob)
  await assertMounted(t, app, await autoMount(app, 'bob/target', layer.alicePublic.digest, bob), 'bob/target', layer.alicePublic, bob)
})

t.test('a blob only in repositories the user may not pull answers exactly as a blob that does not exist', async t => {
  const { app, layer } = await fixture(t)
  const bob = basicOf('bob')
  const missing = sha256('no repository links this blob')
  const hidden = await autoMount(app, 'bob/a', layer.alicePrivate.digest, bob)
  const absent = await autoMount(app, 'bob/b', missing, bob)
  for (const res of [hidden, absent]) {
    t.equal(res.statusCode, 202)
    t.match(header(res, 'location'), /^\/v2\/bob\/[ab]\/blobs\/uploads\/[^/]+$/)
    t.ok(header(res, 'docker-upload-uuid'))
  }
  t.same(shape(hidden), { ...shape(absent), location: '/v2/bob/a/blobs/uploads/<id>' }, 'same status, body and headers')
  const probe = await app.inject({ method: 'HEAD', url: `/v2/bob/a/blobs/${layer.alicePrivate.digest}`, headers: { authorization: bob } })
  t.equal(probe.statusCode, 404, 'nothing was linked into bob/a')
  // The session is a real one: the blob can be uploaded into it.
  const put = await app.inject({
    method: 'PUT', url: `${header(hidden, 'location') ?? ''}?digest=${layer.alicePrivate.digest}`, headers: { authorization: bob, 'content-type': 'application/octet-stream' }, payload: layer.alicePrivate.bytes
  })
  t.equal(put.statusCode, 201, 'bob may upload the bytes himself')
})

t.test('a user who may pull no repository with the blob gets an upload session, as for an unknown blob', async t => {
  const { app, layer } = await fixture(t)
  // dave owns nothing and is shared nothing: only public repositories are his to pull.
  await app.berth.auth.users.add('dave', 'dave-password-1')
  const dave = `Basic ${Buffer.from('dave:dave-password-1').toString('base64')}`
  const daveHidden = await autoMount(app, 'dave/x', layer.team.digest, dave)
  const daveAbsent = await autoMount(app, 'dave/y', sha256('nothing at all'), dave)
  t.equal(daveHidden.statusCode, 202)
  t.same(shape(daveHidden), { ...shape(daveAbsent), location: '/v2/dave/x/blobs/uploads/<id>' })
  const carol = `Basic ${Buffer.from('carol:carol-password-1').toString('base64')}`
  // carol may pull her own namespace only; bob's and alice's private blobs are out of reach.
  const hidden = await autoMount(app, 'carol/x', layer.bobOwn.digest, carol)
  const absent = await autoMount(app, 'carol/y', sha256('nothing'), carol)
  t.equal(hidden.statusCode, 202)
  t.same(shape(hidden), { ...shape(absent), location: '/v2/carol/x/blobs/uploads/<id>' })
  // …but her own blob is found, in her own namespace.
  await assertMounted(t, app, await autoMount(app, 'carol/x', layer.carolPrivate.digest, carol), 'carol/x', layer.carolPrivate, carol)
})

t.test('the blob\'s owner linking it into a public repository makes it mountable', async t => {
  const { app, layer } = await fixture(t)
  const bob = basicOf('bob')
  t.equal((await autoMount(app, 'bob/c', layer.alicePrivate.digest, bob)).statusCode, 202)
  const alice = basicOf('alice')
  const mounted = await app.inject({ method: 'POST', url: `/v2/alice/public/blobs/uploads/?mount=${layer.alicePrivate.digest}&from=alice/private`, headers: { authorization: alice } })
  t.equal(mounted.statusCode, 201, 'alice links her blob into her public repository')
  await assertMounted(t, app, await autoMount(app, 'bob/c', layer.alicePrivate.digest, bob), 'bob/c', layer.alicePrivate, bob)
})

t.test('with repositories public by default, a repository made private is not a source', async t => {
  const { app, layer } = await fixture(t, { BERTH_DEFAULT_VISIBILITY: 'public' })
  await app.berth.auth.policies.setVisibility('carol/app', 'private')
  const bob = basicOf('bob')
  t.equal((await autoMount(app, 'bob/e', layer.carolPrivate.digest, bob)).statusCode, 202, 'carol/app is private')
  await assertMounted(t, app, await autoMount(app, 'bob/e', layer.alicePrivate.digest, bob), 'bob/e', layer.alicePrivate, bob)
})

t.test('a token narrows the sources to the repositories it grants pull on', async t => {
  const { app, layer } = await fixture(t)
  const narrow = `Bearer ${await tokenFor(app, 'bob', ['repository:bob/target:pull,push'])}`
  t.equal((await autoMount(app, 'bob/target', layer.bobOwn.digest, narrow)).statusCode, 202, 'bob/own is not in the token')
  const wide = `Bearer ${await tokenFor(app, 'bob', ['repository:bob/target:pull,push', 'repository:bob/own:pull', 'repository:alice/private:pull'])}`
  await assertMounted(t, app, await autoMount(app, 'bob/target', layer.bobOwn.digest, wide), 'bob/target', layer.bobOwn, wide)
  // The token endpoint left alice/private out of the token (bob may not pull it), so her blob stays hidden.
  t.equal((await autoMount(app, 'bob/target', layer.alicePrivate.digest, wide)).statusCode, 202)
})

t.test('the sources are found by stats of link keys in readable repositories, never a scan of the store', async t => {
  const { app, layer } = await fixture(t)
  const driver = app.berth.registry.driver
  const listed: string[] = []
  const statted: string[] = []
  const list = driver.list.bind(driver)
  const stat = driver.stat.bind(driver)
  driver.list = async (prefix, options) => { listed.push(prefix); return await list(prefix, options) }
  driver.stat = async key => { statted.push(key); return await stat(key) }
  t.teardown(() => { driver.list = list; driver.stat = stat })
  const res = await autoMount(app, 'bob/f', layer.alicePrivate.digest, basicOf('bob'))
  t.equal(res.statusCode, 202)
  t.same(listed.filter(p => p === 'catalog/' || p.startsWith('repositories/') || p.startsWith('blobs/')), [], `no listing of the whole catalog or of repository contents (listed: ${listed.join(', ')})`)
  t.notOk(statted.some(k => k.startsWith('blobs/')), 'the shared blob store is not consulted')
  t.notOk(statted.some(k => k.startsWith('repositories/alice/private/') || k.startsWith('repositories/carol/')), 'repositories bob may not pull are not looked at')
  t.ok(statted.includes(`repositories/team/tools/_layers/sha256/${layer.alicePrivate.digest.slice('sha256:'.length)}`), 'the shared namespace is looked at')
})

t.test('admins and open registries still mount any blob in the store', async t => {
  const { app, layer } = await fixture(t)
  const root = basicOf('root')
  await assertMounted(t, app, await autoMount(app, 'root/g', layer.carolPrivate.digest, root), 'root/g', layer.carolPrivate, root)
  const open = await buildTestApp(t)
  const image = await pushImage(open.app, 'someone/else', 'v1')
  const digest = image.layers[0]?.digest ?? ''
  const res = await open.app.inject({ method: 'POST', url: `/v2/other/repo/blobs/uploads/?mount=${digest}` })
  t.equal(res.statusCode, 201)
})
