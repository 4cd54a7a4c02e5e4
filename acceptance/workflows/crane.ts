// crane: build an image with `crane append`; read back its manifest, config, digest, layer and files; list tags
// and the catalog; copy it to another repository (blobs mounted, not uploaded); tag; delete.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import { need, type Suite } from '../../conformance/suite/harness.js'
import { check, checkBytes, checkEqual, sorted, workDir, type Ctx } from '../lib/context.js'
import { MT, sha256, tar, untar } from '../lib/fixtures.js'

export function craneWorkflow (suite: Suite, ctx: Ctx): void {
  const { registry: R } = ctx
  const crane = ctx.clients.crane
  const app = `${ctx.ns}/crane/app`
  const copy = `${ctx.ns}/crane/copy`
  const files = { 'hello.txt': `hello from crane, run ${ctx.run}\n`, 'etc/berth.conf': 'storage = acceptance\n' }
  const layerTar = tar(files)
  let digest: string | undefined
  let manifest: { config: { digest: string }, layers: Array<{ digest: string, mediaType: string }> } | undefined

  /** catalog entries under this workflow's namespace, without the prefix */
  const ours = (repos: string[]): string[] => sorted(repos.filter(r => r.startsWith(`${ctx.ns}/crane/`)).map(r => r.slice(`${ctx.ns}/crane/`.length)))

  suite.group('crane', (g) => {
    g.test('append a layer to an empty base (crane append)', async () => {
      const d = workDir(ctx, 'crane')
      writeFileSync(path.join(d, 'layer.tar'), layerTar)
      const append = await crane.run(['append', '--oci-empty-base', '-f', 'layer.tar', '-t', `${R}/${app}:v1`], { cwd: d })
      const ref = append.text().trim()
      check(ref.startsWith(`${R}/${app}@sha256:`), `crane append should print the pushed digest reference, printed ${JSON.stringify(ref)}`, append)
      digest = ref.slice(ref.indexOf('@') + 1)
    })

    g.test('read the manifest, digest, config, layer and files back', async () => {
      const pushed = need(digest, 'the appended image')
      const m = await crane.run(['manifest', `${R}/${app}:v1`])
      checkEqual(sha256(m.stdout), pushed, 'digest of the manifest served for the tag', m)
      const dg = await crane.run(['digest', `${R}/${app}:v1`])
      checkEqual(dg.text().trim(), pushed, 'crane digest', dg)
      const parsed = m.json<{ mediaType: string, config: { digest: string }, layers: Array<{ digest: string, mediaType: string }> }>()
      checkEqual(parsed.mediaType, MT.manifest, 'manifest media type', m)
      checkEqual(parsed.layers.length, 1, 'layer count', m)
      const byDigest = await crane.run(['manifest', `${R}/${app}@${pushed}`])
      checkBytes(byDigest.stdout, m.stdout, 'manifest fetched by digest', byDigest)

      const config = await crane.run(['config', `${R}/${app}:v1`])
      checkEqual(sha256(config.stdout), parsed.config.digest, 'digest of the config', config)
      checkEqual(config.json<{ rootfs: { diff_ids: string[] } }>().rootfs.diff_ids, [sha256(layerTar)], 'config rootfs.diff_ids', config)

      const layer = parsed.layers[0] as { digest: string }
      const blob = await crane.run(['blob', `${R}/${app}@${layer.digest}`])
      checkEqual(sha256(blob.stdout), layer.digest, 'digest of the layer blob', blob)
      checkBytes(gunzipSync(blob.stdout), layerTar, 'uncompressed layer', blob)

      const exported = await crane.run(['export', `${R}/${app}:v1`, '-'])
      const got = untar(exported.stdout)
      for (const [name, content] of Object.entries(files)) {
        checkBytes(got.get(name) ?? Buffer.alloc(0), Buffer.from(content), `${name} in crane export`, exported)
      }
      manifest = parsed
    })

    g.test('list tags and the catalog', async () => {
      need(digest, 'the appended image')
      const ls = await crane.run(['ls', `${R}/${app}`])
      checkEqual(ls.lines(), ['v1'], `tags of ${app}`, ls)
      const catalog = await crane.run(['catalog', R])
      checkEqual(ours(catalog.lines()), ['app'], `catalog entries under ${ctx.ns}/crane/`, catalog)
    })

    g.test('copy to another repository: every blob is mounted, none uploaded', async () => {
      const pushed = need(digest, 'the appended image')
      const m = need(manifest, 'the manifest read back')
      const cp = await crane.run(['copy', `${R}/${app}:v1`, `${R}/${copy}:v1`])
      for (const blob of [m.config.digest, ...m.layers.map(l => l.digest)]) {
        const mount = cp.exchanges().find(e => e.method === 'POST' && e.url.includes(`/v2/${copy}/blobs/uploads/`) &&
          decodeURIComponent(e.url).includes(`mount=${blob}`) && decodeURIComponent(e.url).includes(`from=${app}`))
        check(mount !== undefined, `crane copy should POST ?mount=${blob}&from=${app}`, cp)
        check(mount.status === '201', `the mount of ${blob} should answer 201, got ${mount.status ?? 'nothing'}`, cp)
      }
      const uploads = cp.exchanges().filter(e => e.method === 'PATCH' || (e.method === 'PUT' && e.url.includes('/blobs/uploads/')))
      checkEqual(uploads.map(e => `${e.method} ${e.url}`), [], 'blob uploads during a same-registry copy', cp)
      const dg = await crane.run(['digest', `${R}/${copy}:v1`])
      checkEqual(dg.text().trim(), pushed, 'digest of the copy', dg)
    })

    g.test('tag the copy', async () => {
      const pushed = need(digest, 'the appended image')
      await crane.run(['tag', `${R}/${copy}:v1`, 'v2'])
      const ls = await crane.run(['ls', `${R}/${copy}`])
      checkEqual(sorted(ls.lines()), ['v1', 'v2'], `tags of ${copy}`, ls)
      const dg = await crane.run(['digest', `${R}/${copy}:v2`])
      checkEqual(dg.text().trim(), pushed, 'digest of the new tag', dg)
      const catalog = await crane.run(['catalog', R])
      checkEqual(ours(catalog.lines()), ['app', 'copy'], `catalog entries under ${ctx.ns}/crane/`, catalog)
    })

    g.test('delete the copy; the original keeps its manifest and blobs', async () => {
      const pushed = need(digest, 'the appended image')
      const m = need(manifest, 'the manifest read back')
      await crane.run(['delete', `${R}/${copy}@${pushed}`])
      const gone = await crane.runFailing(['manifest', `${R}/${copy}:v1`])
      check(gone.stderr.includes('MANIFEST_UNKNOWN'), 'the deleted manifest should be MANIFEST_UNKNOWN', gone)
      const ls = await crane.run(['ls', `${R}/${copy}`])
      checkEqual(ls.lines(), [], `tags of ${copy} after the delete`, ls)
      const dg = await crane.run(['digest', `${R}/${app}:v1`])
      checkEqual(dg.text().trim(), pushed, 'digest of the original after deleting the copy', dg)
      const layer = (m.layers[0] as { digest: string }).digest
      const blob = await crane.run(['blob', `${R}/${app}@${layer}`])
      checkEqual(sha256(blob.stdout), layer, 'layer of the original after deleting the copy', blob)
    })
  })
}
