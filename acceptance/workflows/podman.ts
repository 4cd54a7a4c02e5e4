// podman, with private vfs storage (lib/context.ts): build a FROM scratch image, push it as OCI and as Docker
// v2s2 (the registry must store each media type as sent), remove and pull both back; build one image per platform
// and push them as one index with `podman manifest create/add/push`; find the repositories with `podman search`
// (which reads /v2/_catalog). Then skopeo inspects and copies between the repositories docker and podman pushed.
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { need, type Suite } from '../../conformance/suite/harness.js'
import type { ClientRun } from '../lib/clients.js'
import { check, checkBytes, checkEqual, sorted, workDir, type Ctx } from '../lib/context.js'
import { MT, untar } from '../lib/fixtures.js'
import { DOCKER_MT, storedManifest } from '../lib/registry.js'
import type { DockerShared } from './docker.js'

const ARCHES = ['amd64', 'arm64'] as const
type Arch = typeof ARCHES[number]
const FORMATS = { oci: { manifest: MT.manifest, config: MT.config, layer: MT.layer }, v2s2: { manifest: DOCKER_MT.manifest, config: DOCKER_MT.config, layer: DOCKER_MT.layer } } as const
type Format = keyof typeof FORMATS

interface PodmanImage { Id: string, Digest: string, RepoDigests: string[], Os: string, Architecture: string, Labels: Record<string, string> | null }

export function podmanWorkflow (suite: Suite, ctx: Ctx, docker: DockerShared): void {
  const { registry: R } = ctx
  const { podman, skopeo } = ctx.clients
  const app = `${ctx.ns}/podman/app`
  const multi = `${ctx.ns}/podman/multi`
  const hello = Buffer.from(`hello from podman, run ${ctx.run}\n`)
  const platformFile = (arch: Arch): Buffer => Buffer.from(`built for linux/${arch} by podman, run ${ctx.run}\n`)
  const pushed: Partial<Record<Format, string>> = {}
  let built = false
  let indexDigest: string | undefined
  const tls = '--tls-verify=false'

  const inspect = async (ref: string): Promise<{ run: ClientRun, image: PodmanImage }> => {
    const run = await podman.run(['image', 'inspect', ref])
    const list = run.json<PodmanImage[]>()
    check(list.length === 1, `podman image inspect ${ref} should describe one image`, run)
    return { run, image: list[0] as PodmanImage }
  }
  /** podman push or manifest push (the last two arguments are source and destination), with --digestfile. */
  const push = async (args: string[], file: string): Promise<{ run: ClientRun, digest: string }> => {
    const run = await podman.run([...args.slice(0, -2), tls, '--digestfile', file, ...args.slice(-2)])
    const digest = readFileSync(file, 'utf8').trim()
    check(/^sha256:[0-9a-f]{64}$/.test(digest), `podman --digestfile should hold a digest, holds ${JSON.stringify(digest)}`, run)
    return { run, digest }
  }

  suite.group('podman', (g) => {
    g.test('build a FROM scratch image (podman build)', async () => {
      const d = workDir(ctx, 'podman', 'build')
      writeFileSync(path.join(d, 'hello.txt'), hello)
      writeFileSync(path.join(d, 'Containerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\nLABEL org.example.acceptance=podman\n')
      await podman.run(['build', '-t', `${R}/${app}:v1`, '.'], { cwd: d })
      const { image, run } = await inspect(`${R}/${app}:v1`)
      checkEqual(image.Labels?.['org.example.acceptance'], 'podman', 'label of the built image', run)
      checkEqual([image.Os, image.Architecture], ['linux', 'amd64'], 'platform of the built image', run)
      built = true
    })

    g.test('push as OCI (--format oci) and as Docker (--format v2s2); the registry keeps each media type', async () => {
      check(built, 'prerequisite missing: the built image (an earlier check in this group failed)')
      for (const format of Object.keys(FORMATS) as Format[]) {
        const want = FORMATS[format]
        const { run, digest } = await push(['push', '--format', format, `${R}/${app}:v1`, `docker://${R}/${app}:${format}`], path.join(ctx.work, 'podman', `${format}.digest`))
        const stored = await storedManifest(ctx.http, app, format)
        checkEqual(stored.digest, digest, `digest of ${app}:${format} in the registry`, run)
        checkEqual(stored.contentType, want.manifest, `Content-Type of ${app}:${format}`, run)
        checkEqual(stored.mediaType, want.manifest, `mediaType inside the ${format} manifest`, run)
        checkEqual(stored.config?.mediaType, want.config, `config media type of ${app}:${format}`, run)
        checkEqual(stored.layers?.map(l => l.mediaType), [want.layer], `layer media types of ${app}:${format}`, run)
        pushed[format] = digest
      }
      const tags = await ctx.http.get(`/v2/${app}/tags/list`)
      checkEqual(sorted((tags.json() as { tags: string[] }).tags), ['oci', 'v2s2'], `tags of ${app}`)
    })

    g.test('rmi, then pull both back', async () => {
      for (const format of Object.keys(FORMATS) as Format[]) need(pushed[format], `the ${format} push`)
      await podman.run(['rmi', '--force', `${R}/${app}:v1`])
      const gone = await podman.runFailing(['image', 'inspect', `${R}/${app}:v1`])
      check(/no such image|image not known/i.test(gone.stderr), 'after rmi, image inspect should say the image is unknown', gone)
      for (const format of Object.keys(FORMATS) as Format[]) {
        const pull = await podman.run(['pull', tls, `${R}/${app}:${format}`])
        const { image, run } = await inspect(`${R}/${app}:${format}`)
        // both pulls are one local image (same config and layers), so it lists both digests
        check(image.RepoDigests.includes(`${R}/${app}@${pushed[format] ?? ''}`), `RepoDigests should name ${R}/${app}@${pushed[format] ?? ''}`, run)
        checkEqual(image.Labels?.['org.example.acceptance'], 'podman', `label of the pulled ${format} image`, pull)
      }
      const saved = await podman.run(['image', 'save', '--format', 'docker-archive', `${R}/${app}:oci`])
      const files = untar(saved.stdout)
      const manifest = JSON.parse(files.get('manifest.json')?.toString('utf8') ?? '[]') as Array<{ Layers: string[] }>
      const layer = untar(files.get(manifest[0]?.Layers[0] ?? '') ?? Buffer.alloc(0))
      checkBytes(layer.get('hello.txt') ?? Buffer.alloc(0), hello, 'hello.txt in the pulled image (podman image save)', saved)
    })

    g.test('podman manifest create/add/push: a two-platform OCI index', async () => {
      const d = workDir(ctx, 'podman', 'multi')
      for (const arch of ARCHES) writeFileSync(path.join(d, `${arch}.txt`), platformFile(arch))
      writeFileSync(path.join(d, 'Containerfile'), 'FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}.txt /etc/platform\n')
      const list = `localhost/berth-acceptance-list:${ctx.run}`
      await podman.run(['manifest', 'create', list])
      for (const arch of ARCHES) {
        await podman.run(['build', '--platform', `linux/${arch}`, '-t', `${R}/${multi}:${arch}`, '.'], { cwd: d })
        const { image, run } = await inspect(`${R}/${multi}:${arch}`)
        checkEqual([image.Os, image.Architecture], ['linux', arch], `platform of the ${arch} build`, run)
        await podman.run(['manifest', 'add', list, `containers-storage:${R}/${multi}:${arch}`])
      }
      const { run, digest } = await push(['manifest', 'push', '--all', '--format', 'oci', list, `docker://${R}/${multi}:v1`], path.join(d, 'index.digest'))
      const index = await storedManifest(ctx.http, multi, 'v1')
      checkEqual(index.digest, digest, 'digest of the index in the registry', run)
      checkEqual(index.contentType, MT.index, 'Content-Type of the index', run)
      checkEqual(index.manifests?.map(e => `${e.platform?.os ?? '?'}/${e.platform?.architecture ?? '?'}`), ARCHES.map(a => `linux/${a}`), 'platforms in the index', run)
      for (const [i, arch] of ARCHES.entries()) {
        const entry = index.manifests?.[i]
        const child = await storedManifest(ctx.http, multi, entry?.digest ?? '')
        checkEqual(child.contentType, MT.manifest, `Content-Type of the linux/${arch} manifest`, run)
        const config = await ctx.http.get(`/v2/${multi}/blobs/${child.config?.digest ?? ''}`)
        const c = config.json() as { os?: string, architecture?: string } | undefined
        checkEqual([c?.os, c?.architecture], ['linux', arch], `platform in the linux/${arch} config`, run)
      }
      indexDigest = digest
    })

    g.test('podman search lists the pushed repositories (/v2/_catalog)', async () => {
      need(indexDigest, 'the two-platform index')
      const term = `${ctx.run}/podman/`
      const search = await podman.run(['search', tls, '--limit', '1000', '--format', 'json', `${R}/${term}`])
      const names = search.json<Array<{ Index: string, Name: string }>>().map(r => r.Name)
      checkEqual(sorted(names), [`${R}/${app}`, `${R}/${multi}`], `podman search ${R}/${term}`, search)
      const none = await podman.run(['search', tls, '--format', 'json', `${R}/no-such-repository-${ctx.run}`])
      check(['', '[]'].includes(none.text().trim()), `podman search for a term no repository contains should find nothing, printed ${none.text().slice(0, 200)}`, none)
    })
  })

  suite.group('docker and podman, through skopeo', (g) => {
    const fromDocker = `${ctx.ns}/podman/from-docker`
    const fromPodman = `${ctx.ns}/docker/from-podman`

    g.test('skopeo inspect sees the same digests docker and podman pushed', async () => {
      const d = need(docker.pushed, 'the image docker pushed')
      const p = need(pushed.oci, 'the OCI image podman pushed')
      const di = await skopeo.run(['inspect', tls, `docker://${R}/${d.repo}:${d.tag}`])
      checkEqual(di.json<{ Digest: string }>().Digest, d.digest, 'skopeo inspect of the docker-pushed image', di)
      const pi = await skopeo.run(['inspect', tls, `docker://${R}/${app}:oci`])
      checkEqual(pi.json<{ Digest: string }>().Digest, p, 'skopeo inspect of the podman-pushed image', pi)
    })

    g.test('skopeo copy docker-pushed to a podman repository and back the other way; digests preserved', async () => {
      const d = need(docker.pushed, 'the image docker pushed')
      const p = need(pushed.oci, 'the OCI image podman pushed')
      const one = await skopeo.run(['--insecure-policy', 'copy', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false',
        `docker://${R}/${d.repo}:${d.tag}`, `docker://${R}/${fromDocker}:v1`])
      const a = await storedManifest(ctx.http, fromDocker, 'v1')
      checkEqual([a.digest, a.contentType], [d.digest, DOCKER_MT.manifest], 'digest and type of the copy of the docker image', one)
      const two = await skopeo.run(['--insecure-policy', 'copy', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false',
        `docker://${R}/${app}:oci`, `docker://${R}/${fromPodman}:v1`])
      const b = await storedManifest(ctx.http, fromPodman, 'v1')
      checkEqual([b.digest, b.contentType], [p, MT.manifest], 'digest and type of the copy of the podman image', two)
      const pulled = await podman.run(['pull', tls, `${R}/${fromDocker}:v1`])
      const { image } = await inspect(`${R}/${fromDocker}:v1`)
      check(image.RepoDigests.includes(`${R}/${fromDocker}@${d.digest}`), `podman pull of the docker image copied by skopeo should record ${d.digest}`, pulled)
    })
  })
}
