// docker, against the private dockerd acceptance/run.sh starts (--docker-host): build a FROM scratch image (classic
// builder) and a two-stage image (BuildKit), push, remove, pull, and inspect what was pulled without running it
// (image inspect, docker save); docker manifest inspect; an image with two platforms, indexed with `docker buildx
// imagetools create` when buildx is installed and with crane otherwise (Debian ships no buildx), pulled per
// platform with `docker pull --platform`. Then, against a second Berth with auth on: login, a push to one's own
// namespace, a denied push to another user's, and logout.
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { need, skip, type Suite } from '../../conformance/suite/harness.js'
import { Client as HttpClient } from '../../conformance/suite/http.js'
import { startAuthBerth, type AuthBerth } from '../lib/berth.js'
import type { ClientRun } from '../lib/clients.js'
import { check, checkBytes, checkEqual, workDir, type Ctx } from '../lib/context.js'
import { MT, sha256, untar } from '../lib/fixtures.js'
import { basic, DOCKER_MT, storedManifest, type StoredManifest } from '../lib/registry.js'

const ARCHES = ['amd64', 'arm64'] as const
type Arch = typeof ARCHES[number]

/** What the docker workflow pushed (set once its push step passed), for the cross-client steps of the podman workflow. */
export interface DockerShared { pushed?: { repo: string, tag: string, digest: string } }

interface ImageInspect {
  Id: string
  RepoTags: string[]
  RepoDigests: string[]
  Os: string
  Architecture: string
  Config: { Labels: Record<string, string> | null }
  RootFS: { Layers: string[] }
}

/** The digest `docker push` reports (`v1: digest: sha256:... size: N`). */
function pushedDigest (run: ClientRun, tag: string): string {
  const m = new RegExp(`^${tag}: digest: (sha256:[0-9a-f]{64}) size: \\d+$`, 'm').exec(run.text())
  check(m !== null, `docker push should report "${tag}: digest: sha256:... size: N"`, run)
  return m[1] as string
}

/** The files of a `docker save` archive: its manifest.json, and the files of each layer.tar, in order. */
function savedImage (run: ClientRun): { names: string[], manifest: Array<{ Config: string, RepoTags: string[] | null, Layers: string[] }>, layers: Array<Map<string, Buffer>> } {
  const files = untar(run.stdout)
  const raw = files.get('manifest.json')
  check(raw !== undefined, `docker save should write manifest.json, wrote ${[...files.keys()].join(', ')}`, run)
  const manifest = JSON.parse(raw.toString('utf8')) as Array<{ Config: string, RepoTags: string[] | null, Layers: string[] }>
  const layers = (manifest[0]?.Layers ?? []).map((name) => untar(files.get(name) ?? Buffer.alloc(0)))
  return { names: [...files.keys()].sort(), manifest, layers }
}

export function dockerWorkflow (suite: Suite, ctx: Ctx): DockerShared {
  const { registry: R } = ctx
  const { docker, crane } = ctx.clients
  const app = `${ctx.ns}/docker/app`
  const two = `${ctx.ns}/docker/two`
  const multi = `${ctx.ns}/docker/multi`
  const hello = Buffer.from(`hello from docker, run ${ctx.run}\n`)
  const stageInput = Buffer.from(`built in the first stage, run ${ctx.run}\n`)
  const platformFile = (arch: Arch): Buffer => Buffer.from(`built for linux/${arch} by docker, run ${ctx.run}\n`)
  const shared: DockerShared = {}
  const pushed: Partial<Record<'app' | 'two', string>> = {}
  let appManifest: StoredManifest | undefined
  const platformDigests: Partial<Record<Arch, string>> = {}
  let indexDigest: string | undefined

  const inspect = async (ref: string): Promise<{ run: ClientRun, image: ImageInspect }> => {
    const run = await docker.run(['image', 'inspect', ref])
    const list = run.json<ImageInspect[]>()
    check(list.length === 1, `docker image inspect ${ref} should describe one image`, run)
    return { run, image: list[0] as ImageInspect }
  }

  suite.group('docker', (g) => {
    g.test('the private dockerd answers', async () => {
      check(ctx.dockerHost !== undefined, 'no dockerd: acceptance/run.sh starts one (apt-get install docker.io) and passes --docker-host')
      const v = await docker.run(['version', '--format', '{{.Server.Version}} {{.Server.Os}}/{{.Server.Arch}}'])
      console.log(`# dockerd ${v.text().trim()} at ${ctx.dockerHost}`)
    })

    g.test('build a FROM scratch image (classic builder) and a two-stage image (BuildKit)', async () => {
      const d = workDir(ctx, 'docker', 'build')
      writeFileSync(path.join(d, 'hello.txt'), hello)
      writeFileSync(path.join(d, 'input.txt'), stageInput)
      writeFileSync(path.join(d, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\nLABEL org.example.acceptance=docker\n')
      writeFileSync(path.join(d, 'Dockerfile.two'), [
        'FROM scratch AS build', 'COPY input.txt /src/input.txt',
        'FROM scratch', 'COPY --from=build /src/input.txt /out/result.txt', 'LABEL org.example.stage=second', ''
      ].join('\n'))
      await docker.run(['build', '-t', `${R}/${app}:v1`, '.'], { cwd: d, env: { DOCKER_BUILDKIT: '0' } })
      await docker.run(['build', '-f', 'Dockerfile.two', '-t', `${R}/${two}:v1`, '.'], { cwd: d, env: { DOCKER_BUILDKIT: '1' } })
      const a = await inspect(`${R}/${app}:v1`)
      checkEqual(a.image.Config.Labels?.['org.example.acceptance'], 'docker', 'label of the FROM scratch image', a.run)
      checkEqual(a.image.RootFS.Layers.length, 1, 'layers of the FROM scratch image', a.run)
      const t = await inspect(`${R}/${two}:v1`)
      checkEqual(t.image.RootFS.Layers.length, 1, 'layers of the two-stage image (only the second stage ships)', t.run)
    })

    g.test('push both; the registry serves the Docker manifests docker reported', async () => {
      for (const [key, repo] of [['app', app], ['two', two]] as const) {
        const push = await docker.run(['push', `${R}/${repo}:v1`])
        const digest = pushedDigest(push, 'v1')
        const stored = await storedManifest(ctx.http, repo, 'v1')
        checkEqual(stored.digest, digest, `digest of ${repo}:v1 in the registry`, push)
        checkEqual(stored.contentType, DOCKER_MT.manifest, `Content-Type of ${repo}:v1`, push)
        checkEqual(stored.layers?.map(l => l.mediaType), [DOCKER_MT.layer], `layer media types of ${repo}:v1`, push)
        const { image, run } = await inspect(`${R}/${repo}:v1`)
        checkEqual(stored.config?.digest, image.Id, 'config digest in the registry (docker\'s image ID)', run)
        pushed[key] = digest
        if (key === 'app') appManifest = stored
      }
      shared.pushed = { repo: app, tag: 'v1', digest: need(pushed.app, 'the pushed image') }
    })

    g.test('rmi, then pull by tag and by digest', async () => {
      const digest = need(pushed.app, 'the pushed image')
      const m = need(appManifest, 'the stored manifest')
      await docker.run(['rmi', `${R}/${app}:v1`, `${R}/${two}:v1`])
      const gone = await docker.runFailing(['image', 'inspect', `${R}/${app}:v1`])
      check(/No such image/i.test(gone.stderr), 'after rmi, image inspect should say "No such image"', gone)
      const pull = await docker.run(['pull', `${R}/${app}:v1`])
      check(pull.text().includes(`Digest: ${digest}`), `docker pull should report Digest: ${digest}`, pull)
      const { image, run } = await inspect(`${R}/${app}:v1`)
      checkEqual(image.Id, m.config?.digest, 'image ID after the pull (the config digest)', run)
      checkEqual(image.RepoDigests, [`${R}/${app}@${digest}`], 'RepoDigests after the pull', run)
      const byDigest = await docker.run(['pull', `${R}/${two}@${need(pushed.two, 'the two-stage image')}`])
      check(byDigest.text().includes(`Digest: ${pushed.two ?? ''}`), 'docker pull by digest should report that digest', byDigest)
    })

    g.test('inspect what was pulled without running it: image inspect and docker save', async () => {
      const digest = need(pushed.app, 'the pushed image')
      const m = need(appManifest, 'the stored manifest')
      const { image, run } = await inspect(`${R}/${app}:v1`)
      checkEqual([image.Os, image.Architecture], ['linux', 'amd64'], 'platform of the pulled image', run)
      checkEqual(image.Config.Labels?.['org.example.acceptance'], 'docker', 'label of the pulled image', run)
      const config = await ctx.http.get(`/v2/${app}/blobs/${m.config?.digest ?? ''}`)
      const diffIds = (config.json() as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids
      checkEqual(image.RootFS.Layers, diffIds, 'RootFS.Layers (the config\'s diff_ids in the registry)', run)

      const save = await docker.run(['save', `${R}/${app}:v1`])
      const saved = savedImage(save)
      const configName = `${(m.config?.digest ?? '').replace('sha256:', '')}.json`
      check(saved.names.includes(configName) && saved.names.includes('manifest.json') && saved.names.includes('repositories'),
        `docker save should hold manifest.json, repositories and ${configName}; it holds ${saved.names.join(', ')}`, save)
      checkEqual(saved.manifest.map(e => [e.Config, e.RepoTags]), [[configName, [`${R}/${app}:v1`]]], 'manifest.json of docker save', save)
      checkEqual(saved.layers.map(l => [...l.keys()]), [['hello.txt']], 'files in the saved layers', save)
      checkBytes(saved.layers[0]?.get('hello.txt') ?? Buffer.alloc(0), hello, 'hello.txt in the saved layer', save)

      const twoSave = await docker.run(['save', `${R}/${two}@${need(pushed.two, 'the two-stage image')}`])
      const t = savedImage(twoSave)
      checkEqual(t.layers.map(l => [...l.keys()]), [['out/result.txt']], 'files in the two-stage image (nothing of the first stage)', twoSave)
      checkBytes(t.layers[0]?.get('out/result.txt') ?? Buffer.alloc(0), stageInput, 'out/result.txt copied from the first stage', twoSave)
      console.log(`# ${app}@${digest}: ${saved.names.length} entries in docker save`)
    })

    g.test('docker manifest inspect shows the stored manifest', async () => {
      const m = need(appManifest, 'the stored manifest')
      const run = await docker.run(['manifest', 'inspect', '--insecure', `${R}/${app}:v1`])
      checkEqual(run.json(), JSON.parse(m.bytes.toString('utf8')), 'docker manifest inspect against GET /v2 manifests', run)
    })

    g.test('two platforms: build each with BuildKit --platform, push, and index them', async () => {
      const d = workDir(ctx, 'docker', 'multi')
      for (const arch of ARCHES) writeFileSync(path.join(d, `${arch}.txt`), platformFile(arch))
      writeFileSync(path.join(d, 'Dockerfile'), 'FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}.txt /etc/platform\n')
      for (const arch of ARCHES) {
        await docker.run(['build', '--platform', `linux/${arch}`, '-t', `${R}/${multi}:${arch}`, '.'], { cwd: d, env: { DOCKER_BUILDKIT: '1' } })
        const { image, run } = await inspect(`${R}/${multi}:${arch}`)
        checkEqual([image.Os, image.Architecture], ['linux', arch], `platform of the ${arch} build`, run)
        platformDigests[arch] = pushedDigest(await docker.run(['push', `${R}/${multi}:${arch}`]), arch)
      }
      const buildx = await docker.run(['buildx', 'version'], { allowFailure: true })
      const amd = need(platformDigests.amd64, 'the amd64 image')
      const arm = need(platformDigests.arm64, 'the arm64 image')
      if (buildx.ok) {
        await docker.run(['buildx', 'imagetools', 'create', '-t', `${R}/${multi}:v1`, `${R}/${multi}@${amd}`, `${R}/${multi}@${arm}`])
      } else {
        console.log('# docker buildx is not installed (Debian ships none): the index is made with crane index append')
        await crane.run(['index', 'append', '-m', `${R}/${multi}@${amd}`, '-m', `${R}/${multi}@${arm}`, '-t', `${R}/${multi}:v1`])
      }
      const index = await storedManifest(ctx.http, multi, 'v1')
      check(([MT.index, DOCKER_MT.list] as string[]).includes(index.contentType), `the index should be an image index or manifest list, it is ${index.contentType}`)
      checkEqual(index.manifests?.map(e => [e.digest, `${e.platform?.os ?? '?'}/${e.platform?.architecture ?? '?'}`]),
        [[amd, 'linux/amd64'], [arm, 'linux/arm64']], 'index entries (digest, platform)')
      const inspected = await docker.run(['manifest', 'inspect', '--insecure', `${R}/${multi}:v1`])
      checkEqual(inspected.json<{ manifests: Array<{ digest: string }> }>().manifests.map(e => e.digest), [amd, arm], 'docker manifest inspect of the index', inspected)
      indexDigest = index.digest
    })

    g.test('pull each platform with docker pull --platform', async () => {
      need(indexDigest, 'the two-platform index')
      for (const arch of ARCHES) {
        await docker.run(['rmi', '-f', `${R}/${multi}:${arch}`, `${R}/${multi}:v1`], { allowFailure: true })
        const pull = await docker.run(['pull', '--platform', `linux/${arch}`, `${R}/${multi}:v1`])
        check(pull.text().includes(`Digest: ${indexDigest ?? ''}`), `docker pull should report the index digest ${indexDigest ?? ''}`, pull)
        const { image, run } = await inspect(`${R}/${multi}:v1`)
        checkEqual([image.Os, image.Architecture], ['linux', arch], `platform docker pulled for linux/${arch}`, run)
        const child = await storedManifest(ctx.http, multi, need(platformDigests[arch], `the ${arch} image`))
        checkEqual(image.Id, child.config?.digest, `image ID of linux/${arch} (its config digest)`, run)
        const saved = savedImage(await docker.run(['save', `${R}/${multi}:v1`]))
        checkBytes(saved.layers[0]?.get('etc/platform') ?? Buffer.alloc(0), platformFile(arch), `etc/platform of linux/${arch}`)
      }
    })
  })

  // --- with auth on ---------------------------------------------------------------------------------------------------
  const alice = { name: 'alice', password: `alice-${ctx.run}-password` }
  const bob = { name: 'bob', password: `bob-${ctx.run}-password` }
  let server: AuthBerth | undefined
  let loggedIn = false
  const configFile = path.join(ctx.work, 'home', '.docker', 'config.json')
  const auths = (): Record<string, { auth?: string, identitytoken?: string }> => {
    try {
      return (JSON.parse(readFileSync(configFile, 'utf8')) as { auths?: Record<string, { auth?: string, identitytoken?: string }> }).auths ?? {}
    } catch {
      return {}
    }
  }

  suite.group('docker login', (g) => {
    g.test('start a Berth with auth on (users alice and bob, made with the berth CLI)', async () => {
      check(ctx.dockerHost !== undefined, 'no dockerd: acceptance/run.sh starts one and passes --docker-host')
      need(pushed.app, 'the image built in the docker group')
      server = await startAuthBerth(workDir(ctx, 'docker', 'auth-berth'), ctx.run, [alice, bob])
      console.log(`# Berth with auth on at ${server.url}`)
    })

    g.test('push without credentials is refused', async () => {
      const s = need(server, 'the Berth with auth on')
      await docker.run(['tag', `${R}/${app}:v1`, `${s.registry}/alice/app:v1`])
      const push = await docker.runFailing(['push', `${s.registry}/alice/app:v1`])
      check(push.stderr.includes('unauthorized: authentication required'), 'docker should report "unauthorized: authentication required"', push)
    })

    g.test('docker login with a wrong password is refused and stores nothing', async () => {
      const s = need(server, 'the Berth with auth on')
      const login = await docker.runFailing(['login', '-u', alice.name, '--password-stdin', s.registry], { input: 'not-the-password\n' })
      check(/unauthorized/.test(login.stderr), 'docker login should report unauthorized', login)
      checkEqual(Object.keys(auths()).includes(s.registry), false, `${s.registry} in config.json after a failed login`, login)
    })

    g.test('docker login stores an identity token, not the password', async () => {
      const s = need(server, 'the Berth with auth on')
      const login = await docker.run(['login', '-u', alice.name, '--password-stdin', s.registry], { input: `${alice.password}\n` })
      check(login.text().includes('Login Succeeded'), 'docker login should print Login Succeeded', login)
      const entry = auths()[s.registry]
      check(entry !== undefined, `config.json should hold credentials for ${s.registry}`, login)
      check(typeof entry.identitytoken === 'string' && entry.identitytoken.split('.').length === 3,
        'docker should keep the refresh token Berth issued (identitytoken, a JWT)', login)
      check(!Buffer.from(entry.auth ?? '', 'base64').toString('utf8').includes(alice.password), 'config.json must not hold the password', login)
      loggedIn = true
    })

    g.test('push to one\'s own namespace; the registry holds the same manifest', async () => {
      const s = need(server, 'the Berth with auth on')
      check(loggedIn, 'prerequisite missing: docker login (an earlier check in this group failed)')
      const push = await docker.run(['push', `${s.registry}/alice/app:v1`])
      const digest = pushedDigest(push, 'v1')
      checkEqual(digest, pushed.app, 'digest pushed to alice/app (same image as the open registry)', push)
      const res = await new HttpClient(s.url).get('/v2/alice/app/manifests/v1', { headers: { accept: DOCKER_MT.manifest, ...basic(alice.name, alice.password) } })
      checkEqual(res.status, 200, 'GET alice/app:v1 as alice', push)
      checkEqual(sha256(res.body), digest, 'digest of alice/app:v1 as served', push)
    })

    g.test('push to another user\'s namespace is denied', async () => {
      const s = need(server, 'the Berth with auth on')
      check(loggedIn, 'prerequisite missing: docker login (an earlier check in this group failed)')
      await docker.run(['tag', `${R}/${app}:v1`, `${s.registry}/bob/app:v1`])
      const push = await docker.runFailing(['push', `${s.registry}/bob/app:v1`])
      check(push.stderr.includes('denied: requested access to the resource is denied'),
        'docker should report "denied: requested access to the resource is denied"', push)
      const res = await new HttpClient(s.url).get('/v2/bob/app/tags/list', { headers: basic(bob.name, bob.password) })
      checkEqual(res.status, 404, 'bob/app tags, as bob, after alice\'s denied push (the repository must not exist)', push)
      check(res.text().includes('NAME_UNKNOWN'), `bob/app should be NAME_UNKNOWN, got ${res.text().slice(0, 200)}`, push)
    })

    g.test('docker logout removes the credentials; a pull is refused again', async () => {
      const s = need(server, 'the Berth with auth on')
      check(loggedIn, 'prerequisite missing: docker login (an earlier check in this group failed)')
      const logout = await docker.run(['logout', s.registry])
      check(logout.text().includes(`Removing login credentials for ${s.registry}`), 'docker logout should say it removed the credentials', logout)
      checkEqual(Object.keys(auths()).includes(s.registry), false, `${s.registry} in config.json after logout`, logout)
      await docker.run(['rmi', `${s.registry}/alice/app:v1`, `${s.registry}/bob/app:v1`])
      const pull = await docker.runFailing(['pull', `${s.registry}/alice/app:v1`])
      check(/unauthorized|denied/.test(pull.stderr), 'a pull of a private repository after logout should be refused', pull)
    })

    g.test('stop the Berth with auth on', async () => {
      const s = server
      if (s === undefined) skip('it did not start')
      await s.stop()
      server = undefined
    })
  })

  return shared
}
