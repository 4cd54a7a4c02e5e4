// skopeo: copy an image from an OCI layout to the registry, from the registry to a new OCI layout, and back to
// another repository; inspect it raw and parsed; list tags. skopeo built from source has no policy.json, hence
// --insecure-policy (there is no signature policy to apply to a loopback registry anyway).
import { need, type Suite } from '../../conformance/suite/harness.js'
import { check, checkBytes, checkEqual, sorted, workDir, type Ctx } from '../lib/context.js'
import { image, readLayout, writeLayout } from '../lib/fixtures.js'

export function skopeoWorkflow (suite: Suite, ctx: Ctx): void {
  const { registry: R } = ctx
  const skopeo = ctx.clients.skopeo
  const src = `${ctx.ns}/skopeo/src`
  const back = `${ctx.ns}/skopeo/back`
  const img = image({ 'usr/share/berth/skopeo.txt': `skopeo ${ctx.run}\n` }, { os: 'linux', architecture: 'arm64' })
  let pushed = false
  let pulledLayout: string | undefined
  let returned = false

  suite.group('skopeo', (g) => {
    g.test('copy an image from an OCI layout to the registry', async () => {
      const layout = workDir(ctx, 'skopeo', 'seed')
      writeLayout(layout, 'v1', img)
      await skopeo.run(['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${R}/${src}:v1`])
      const raw = await skopeo.run(['inspect', '--tls-verify=false', '--raw', `docker://${R}/${src}:v1`])
      checkBytes(raw.stdout, img.manifest, 'manifest in the registry', raw)
      pushed = true
    })

    g.test('copy it from the registry to an OCI layout', async () => {
      check(pushed, 'prerequisite missing: the image in the registry (an earlier check in this group failed)')
      const out = workDir(ctx, 'skopeo', 'pulled')
      const copy = await skopeo.run(['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${R}/${src}:v1`, `oci:${out}:v1`])
      const layout = readLayout(out)
      const entry = layout.byTag('v1')
      check(entry !== undefined, 'the layout should name the image v1 (org.opencontainers.image.ref.name)', copy)
      checkEqual(entry.digest, img.manifestDigest, 'digest of the manifest in the layout', copy)
      checkBytes(layout.blob(img.manifestDigest), img.manifest, 'manifest in the layout', copy)
      checkBytes(layout.blob(img.configDigest), img.config, 'config in the layout', copy)
      checkBytes(layout.blob(img.layerDigest), img.layer, 'layer in the layout', copy)
      pulledLayout = out
    })

    g.test('copy it back from the layout to another repository', async () => {
      const layout = need(pulledLayout, 'the pulled OCI layout')
      await skopeo.run(['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${R}/${back}:v1`])
      await skopeo.run(['--insecure-policy', 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${R}/${back}:v1`, `docker://${R}/${back}:v2`])
      const raw = await skopeo.run(['inspect', '--tls-verify=false', '--raw', `docker://${R}/${back}:v2`])
      checkBytes(raw.stdout, img.manifest, 'manifest copied back', raw)
      returned = true
    })

    g.test('inspect, raw and parsed', async () => {
      check(returned, 'prerequisite missing: the image copied back (an earlier check in this group failed)')
      const raw = await skopeo.run(['inspect', '--tls-verify=false', '--raw', `docker://${R}/${back}:v1`])
      checkBytes(raw.stdout, img.manifest, 'raw manifest', raw)
      const config = await skopeo.run(['inspect', '--tls-verify=false', '--config', '--raw', `docker://${R}/${back}:v1`])
      checkBytes(config.stdout, img.config, 'raw config', config)
      const parsed = await skopeo.run(['inspect', '--tls-verify=false', `docker://${R}/${back}:v1`])
      const info = parsed.json<{ Name: string, Digest: string, RepoTags: string[], Architecture: string, Os: string, Layers: string[], Labels: Record<string, string> | null }>()
      checkEqual(info.Name, `${R}/${back}`, 'Name', parsed)
      checkEqual(info.Digest, img.manifestDigest, 'Digest', parsed)
      checkEqual(sorted(info.RepoTags), ['v1', 'v2'], 'RepoTags', parsed)
      checkEqual([info.Os, info.Architecture], [img.platform.os, img.platform.architecture], 'Os and Architecture', parsed)
      checkEqual(info.Layers, [img.layerDigest], 'Layers', parsed)
      checkEqual(info.Labels?.['org.example.acceptance'], 'berth', 'label org.example.acceptance', parsed)
    })

    g.test('list-tags', async () => {
      check(returned, 'prerequisite missing: the image copied back (an earlier check in this group failed)')
      const list = await skopeo.run(['list-tags', '--tls-verify=false', `docker://${R}/${back}`])
      const tags = list.json<{ Repository: string, Tags: string[] }>()
      checkEqual(tags.Repository, `${R}/${back}`, 'Repository', list)
      checkEqual(sorted(tags.Tags), ['v1', 'v2'], `tags of ${back}`, list)
      const srcList = await skopeo.run(['list-tags', '--tls-verify=false', `docker://${R}/${src}`])
      checkEqual(srcList.json<{ Tags: string[] }>().Tags, ['v1'], `tags of ${src}`, srcList)
    })
  })
}
