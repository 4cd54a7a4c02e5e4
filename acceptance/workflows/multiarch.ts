// Multi-arch: one image per platform built with crane (append, then mutate --set-platform), an image index made
// with `crane index append`, and each platform pulled back through the index with `crane --platform` and with
// `skopeo --override-arch`.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import { need, type Suite } from '../../conformance/suite/harness.js'
import { check, checkBytes, checkEqual, workDir, type Ctx } from '../lib/context.js'
import { MT, readLayout, sha256, tar, untar } from '../lib/fixtures.js'

const ARCHES = ['amd64', 'arm64'] as const
type Arch = typeof ARCHES[number]

export function multiArchWorkflow (suite: Suite, ctx: Ctx): void {
  const { registry: R } = ctx
  const { crane, skopeo } = ctx.clients
  const repo = `${ctx.ns}/multi/app`
  const content = (arch: Arch): Buffer => Buffer.from(`built for linux/${arch}, run ${ctx.run}\n`)
  const layerTar = (arch: Arch): Buffer => tar({ 'etc/platform': content(arch) })
  const digests: Partial<Record<Arch, string>> = {}
  let indexDigest: string | undefined

  suite.group('multi-arch', (g) => {
    g.test('build one image per platform with crane append and crane mutate --set-platform', async () => {
      const d = workDir(ctx, 'multi')
      for (const arch of ARCHES) {
        writeFileSync(path.join(d, `${arch}.tar`), layerTar(arch))
        await crane.run(['append', '--oci-empty-base', '-f', `${arch}.tar`, '-t', `${R}/${repo}:base-${arch}`], { cwd: d })
        const mutate = await crane.run(['mutate', '--set-platform', `linux/${arch}`, '-t', `${R}/${repo}:${arch}`, `${R}/${repo}:base-${arch}`])
        const ref = mutate.text().trim()
        check(ref.startsWith(`${R}/${repo}@sha256:`), `crane mutate should print the pushed digest reference, printed ${JSON.stringify(ref)}`, mutate)
        const config = await crane.run(['config', `${R}/${repo}:${arch}`])
        const c = config.json<{ os: string, architecture: string }>()
        checkEqual([c.os, c.architecture], ['linux', arch], 'platform in the config', config)
        digests[arch] = ref.slice(ref.indexOf('@') + 1)
      }
    })

    g.test('push an image index of both platforms (crane index append)', async () => {
      const amd = need(digests.amd64, 'the linux/amd64 image')
      const arm = need(digests.arm64, 'the linux/arm64 image')
      await crane.run(['index', 'append', '-m', `${R}/${repo}@${amd}`, '-m', `${R}/${repo}@${arm}`, '-t', `${R}/${repo}:v1`])
      const m = await crane.run(['manifest', `${R}/${repo}:v1`])
      const index = m.json<{ mediaType: string, manifests: Array<{ digest: string, platform?: { os: string, architecture: string } }> }>()
      checkEqual(index.mediaType, MT.index, 'media type of the index', m)
      checkEqual(index.manifests.map(e => [e.digest, `${e.platform?.os ?? '?'}/${e.platform?.architecture ?? '?'}`]),
        [[amd, 'linux/amd64'], [arm, 'linux/arm64']], 'index entries (digest, platform)', m)
      indexDigest = sha256(m.stdout)
      const dg = await crane.run(['digest', `${R}/${repo}:v1`])
      checkEqual(dg.text().trim(), indexDigest, 'crane digest of the index', dg)
    })

    g.test('pull each platform with crane --platform', async () => {
      need(indexDigest, 'the image index')
      for (const arch of ARCHES) {
        const dg = await crane.run(['digest', '--platform', `linux/${arch}`, `${R}/${repo}:v1`])
        checkEqual(dg.text().trim(), digests[arch], `digest of linux/${arch} through the index`, dg)
        const exported = await crane.run(['export', '--platform', `linux/${arch}`, `${R}/${repo}:v1`, '-'])
        checkBytes(untar(exported.stdout).get('etc/platform') ?? Buffer.alloc(0), content(arch), `etc/platform of linux/${arch}`, exported)
      }
    })

    g.test('pull each platform with skopeo --override-arch', async () => {
      need(indexDigest, 'the image index')
      for (const arch of ARCHES) {
        const out = workDir(ctx, 'multi', `skopeo-${arch}`)
        const copy = await skopeo.run(['--insecure-policy', '--override-os', 'linux', '--override-arch', arch, 'copy', '--src-tls-verify=false',
          `docker://${R}/${repo}:v1`, `oci:${out}:${arch}`])
        const layout = readLayout(out)
        const entry = layout.byTag(arch)
        check(entry !== undefined, `the layout should hold the image as ${arch}`, copy)
        checkEqual(entry.digest, digests[arch], `digest of the linux/${arch} manifest skopeo chose`, copy)
        const manifest = JSON.parse(layout.blob(entry.digest).toString('utf8')) as { layers: Array<{ digest: string }> }
        const layer = layout.blob((manifest.layers[0] as { digest: string }).digest)
        checkBytes(gunzipSync(layer), layerTar(arch), `uncompressed layer of linux/${arch}`, copy)
      }
    })
  })
}
