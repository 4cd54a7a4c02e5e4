// regctl: image copy (OCI layout to registry, then registry to registry), manifest get, tag ls, repo ls, artifact
// put and get, and artifacts with a subject listed by artifact type through the referrers API.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { need, type Suite } from '../../conformance/suite/harness.js'
import { check, checkBytes, checkEqual, checkExchange, sorted, workDir, type Ctx } from '../lib/context.js'
import { image, sha256, writeLayout } from '../lib/fixtures.js'

const NOTE_TYPE = 'application/vnd.berth.acceptance.note.v1'
const SIG_TYPE = 'application/vnd.berth.acceptance.signature.v1'
const SBOM_TYPE = 'application/vnd.berth.acceptance.sbom.v1'

interface Descriptor { digest: string, artifactType?: string, mediaType: string }

export function regctlWorkflow (suite: Suite, ctx: Ctx): void {
  const { registry: R } = ctx
  const regctl = ctx.clients.regctl
  const host = ['--host', `reg=${R},tls=disabled`]
  const src = `${ctx.ns}/regctl/src`
  const copy = `${ctx.ns}/regctl/copy`
  const notes = `${ctx.ns}/regctl/notes`
  const img = image({ 'app/version.txt': `regctl ${ctx.run}\n` })
  const note = Buffer.from(`a note pushed by regctl, run ${ctx.run}\n`)
  const sig = Buffer.from(`signature of ${img.manifestDigest}\n`)
  const sbom = Buffer.from(JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', serialNumber: `urn:uuid:${ctx.run}` }))
  let copied = false
  const referrers: Record<string, string> = {}

  const ours = (repos: string[]): string[] => sorted(repos.filter(r => r.startsWith(`${ctx.ns}/regctl/`)).map(r => r.slice(`${ctx.ns}/regctl/`.length)))

  suite.group('regctl', (g) => {
    g.test('image copy from an OCI layout to the registry, then to another repository', async () => {
      const layout = workDir(ctx, 'regctl', 'layout')
      writeLayout(layout, 'v1', img)
      await regctl.run([...host, 'image', 'copy', `ocidir://${layout}:v1`, `${R}/${src}:v1`])
      await regctl.run([...host, 'image', 'copy', `${R}/${src}:v1`, `${R}/${copy}:v1`])
      const dg = await regctl.run([...host, 'image', 'digest', `${R}/${copy}:v1`])
      checkEqual(dg.text().trim(), img.manifestDigest, 'digest of the copied image', dg)
      copied = true
    })

    g.test('manifest get and blob get return the bytes pushed', async () => {
      check(copied, 'prerequisite missing: the copied image (an earlier check in this group failed)')
      const raw = await regctl.run([...host, 'manifest', 'get', '--format', 'raw-body', `${R}/${copy}:v1`])
      checkBytes(raw.stdout, img.manifest, 'manifest of the copy', raw)
      const layer = await regctl.run([...host, 'blob', 'get', `${R}/${copy}`, img.layerDigest])
      checkBytes(layer.stdout, img.layer, 'layer of the copy', layer)
      const config = await regctl.run([...host, 'blob', 'get', `${R}/${copy}`, img.configDigest])
      checkBytes(config.stdout, img.config, 'config of the copy', config)
    })

    g.test('tag ls', async () => {
      check(copied, 'prerequisite missing: the copied image (an earlier check in this group failed)')
      await regctl.run([...host, 'image', 'copy', `${R}/${copy}:v1`, `${R}/${copy}:latest`])
      const tags = await regctl.run([...host, 'tag', 'ls', `${R}/${copy}`])
      checkEqual(sorted(tags.lines()), ['latest', 'v1'], `tags of ${copy}`, tags)
      const srcTags = await regctl.run([...host, 'tag', 'ls', `${R}/${src}`])
      checkEqual(srcTags.lines(), ['v1'], `tags of ${src}`, srcTags)
    })

    g.test('repo ls', async () => {
      check(copied, 'prerequisite missing: the copied image (an earlier check in this group failed)')
      const repos = await regctl.run([...host, 'repo', 'ls', R])
      checkEqual(ours(repos.lines()), ['copy', 'src'], `repositories under ${ctx.ns}/regctl/`, repos)
    })

    g.test('artifact put and artifact get', async () => {
      const d = workDir(ctx, 'regctl')
      writeFileSync(path.join(d, 'note.txt'), note)
      await regctl.run([...host, 'artifact', 'put', '--artifact-type', NOTE_TYPE, '--annotation', 'org.example.kind=note',
        '-f', 'note.txt', '-m', 'text/plain', '--file-title', `${R}/${notes}:v1`], { cwd: d })
      const got = await regctl.run([...host, 'artifact', 'get', `${R}/${notes}:v1`])
      checkBytes(got.stdout, note, 'artifact content', got)
      const raw = await regctl.run([...host, 'manifest', 'get', '--format', 'raw-body', `${R}/${notes}:v1`])
      const m = raw.json<{ artifactType?: string, annotations?: Record<string, string>, layers: Array<{ digest: string, mediaType: string }> }>()
      checkEqual(m.artifactType, NOTE_TYPE, 'artifactType', raw)
      checkEqual(m.annotations?.['org.example.kind'], 'note', 'annotation org.example.kind', raw)
      checkEqual(m.layers.map(l => [l.mediaType, l.digest]), [['text/plain', sha256(note)]], 'layers (media type, digest)', raw)
      const repos = await regctl.run([...host, 'repo', 'ls', R])
      checkEqual(ours(repos.lines()), ['copy', 'notes', 'src'], `repositories under ${ctx.ns}/regctl/`, repos)
    })

    g.test('artifacts with a subject, listed by artifact type', async () => {
      check(copied, 'prerequisite missing: the copied image (an earlier check in this group failed)')
      const d = workDir(ctx, 'regctl')
      writeFileSync(path.join(d, 'sig.txt'), sig)
      writeFileSync(path.join(d, 'sbom.json'), sbom)
      for (const [type, file, mediaType] of [[SIG_TYPE, 'sig.txt', 'text/plain'], [SBOM_TYPE, 'sbom.json', 'application/vnd.cyclonedx+json']] as const) {
        const put = await regctl.run([...host, 'artifact', 'put', '--subject', `${R}/${src}:v1`, '--artifact-type', type,
          '-f', file, '-m', mediaType, '--format', '{{ .Manifest.GetDescriptor.Digest }}'], { cwd: d })
        const digest = put.text().trim()
        check(/^sha256:[0-9a-f]{64}$/.test(digest), `regctl artifact put should print the manifest digest, printed ${JSON.stringify(digest)}`, put)
        referrers[type] = digest
      }
      const all = await regctl.run([...host, 'artifact', 'list', '--format', 'body', `${R}/${src}:v1`])
      checkExchange(all, e => e.method === 'GET' && e.url.includes(`/v2/${src}/referrers/${img.manifestDigest}`) && (e.status ?? '').startsWith('200'),
        `GET /v2/${src}/referrers/${img.manifestDigest} with a 200 answer`)
      const listed = all.json<{ manifests: Descriptor[] }>().manifests
      checkEqual(sorted(listed.map(m => `${m.artifactType ?? ''} ${m.digest}`)),
        sorted([`${SIG_TYPE} ${referrers[SIG_TYPE] ?? ''}`, `${SBOM_TYPE} ${referrers[SBOM_TYPE] ?? ''}`]), 'referrers (artifactType digest)', all)
      const filtered = await regctl.run([...host, 'artifact', 'list', '--filter-artifact-type', SBOM_TYPE, '--format', 'body', `${R}/${src}:v1`])
      checkEqual(filtered.json<{ manifests: Descriptor[] }>().manifests.map(m => [m.artifactType, m.digest]), [[SBOM_TYPE, referrers[SBOM_TYPE]]],
        `referrers of type ${SBOM_TYPE}`, filtered)
      const got = await regctl.run([...host, 'artifact', 'get', '--subject', `${R}/${src}:v1`, '--filter-artifact-type', SBOM_TYPE])
      checkBytes(got.stdout, sbom, 'SBOM fetched through its subject', got)
      const tags = await regctl.run([...host, 'tag', 'ls', `${R}/${src}`])
      checkEqual(tags.lines(), ['v1'], `tags of ${src} (a sha256-<hex> tag means regctl fell back to the tag schema)`, tags)
    })
  })
}
