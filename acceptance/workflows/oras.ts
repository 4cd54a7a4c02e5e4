// oras: an artifact with a custom artifactType and annotations, pulled back byte for byte; an SBOM attached and
// discovered through the referrers API; tags and repositories listed; a blob fetched; `oras cp -r` to another
// repository with its referrers; deletes.
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { need, type Suite } from '../../conformance/suite/harness.js'
import { check, checkBytes, checkEqual, checkExchange, sorted, workDir, type Ctx } from '../lib/context.js'
import { MT, sha256 } from '../lib/fixtures.js'

const ARTIFACT_TYPE = 'application/vnd.berth.acceptance.demo.v1'
const SBOM_TYPE = 'application/vnd.berth.acceptance.sbom.v1'

interface Referrers { referrers?: Array<{ digest: string, artifactType?: string }> }

export function orasWorkflow (suite: Suite, ctx: Ctx): void {
  const { registry: R } = ctx
  const oras = ctx.clients.oras
  const repo = `${ctx.ns}/oras/artifact`
  const copy = `${ctx.ns}/oras/copy`
  const dir = (): string => workDir(ctx, 'oras')
  const hello = Buffer.from(`hello from oras, run ${ctx.run}\n`)
  const data = randomBytes(64 * 1024)
  const sbom = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: `berth-acceptance-${ctx.run}` }))
  let manifestDigest: string | undefined
  let sbomDigest: string | undefined

  suite.group('oras', (g) => {
    g.test('push an artifact with a custom artifactType and annotations', async () => {
      const d = dir()
      writeFileSync(path.join(d, 'hello.txt'), hello)
      writeFileSync(path.join(d, 'data.bin'), data)
      writeFileSync(path.join(d, 'sbom.json'), sbom)
      const push = await oras.run(['push', '--plain-http', `${R}/${repo}:v1`, '--artifact-type', ARTIFACT_TYPE,
        '--annotation', 'org.example.team=berth', '--annotation', `org.example.run=${ctx.run}`, '--format', 'json',
        'hello.txt:text/plain', 'data.bin:application/octet-stream'], { cwd: d })
      const pushed = push.json<{ digest: string }>()
      const fetched = await oras.run(['manifest', 'fetch', '--plain-http', `${R}/${repo}:v1`])
      checkEqual(sha256(fetched.stdout), pushed.digest, 'digest of the manifest served for the tag', fetched)
      const m = fetched.json<{ artifactType?: string, annotations?: Record<string, string>, config: { mediaType: string },
        layers: Array<{ mediaType: string, digest: string, size: number, annotations?: Record<string, string> }> }>()
      checkEqual(m.artifactType, ARTIFACT_TYPE, 'artifactType', fetched)
      checkEqual(m.annotations?.['org.example.team'], 'berth', 'annotation org.example.team', fetched)
      checkEqual(m.annotations?.['org.example.run'], ctx.run, 'annotation org.example.run', fetched)
      checkEqual(m.config.mediaType, MT.empty, 'config media type', fetched)
      checkEqual(m.layers.map(l => [l.annotations?.['org.opencontainers.image.title'], l.mediaType, l.digest, l.size]), [
        ['hello.txt', 'text/plain', sha256(hello), hello.length],
        ['data.bin', 'application/octet-stream', sha256(data), data.length]
      ], 'layers (title, media type, digest, size)', fetched)
      manifestDigest = pushed.digest
    })

    g.test('pull it and compare the bytes', async () => {
      need(manifestDigest, 'the pushed artifact')
      const out = workDir(ctx, 'oras', 'pulled')
      const pull = await oras.run(['pull', '--plain-http', '-o', out, `${R}/${repo}:v1`])
      checkEqual(sorted(readdirSync(out)), ['data.bin', 'hello.txt'], 'files pulled', pull)
      checkBytes(readFileSync(path.join(out, 'hello.txt')), hello, 'hello.txt', pull)
      checkBytes(readFileSync(path.join(out, 'data.bin')), data, 'data.bin', pull)
    })

    g.test('attach an SBOM (no sha256-<hex> fallback tag)', async () => {
      const subject = need(manifestDigest, 'the pushed artifact')
      const attach = await oras.run(['attach', '--plain-http', '--artifact-type', SBOM_TYPE, '--annotation', 'org.example.kind=sbom',
        '--format', 'json', `${R}/${repo}:v1`, 'sbom.json:application/spdx+json'], { cwd: dir() })
      const attached = attach.json<{ digest: string }>()
      const fetched = await oras.run(['manifest', 'fetch', '--plain-http', `${R}/${repo}@${attached.digest}`])
      checkEqual(sha256(fetched.stdout), attached.digest, 'digest of the SBOM manifest', fetched)
      const m = fetched.json<{ subject?: { digest: string }, artifactType?: string }>()
      checkEqual(m.subject?.digest, subject, 'subject of the SBOM manifest', fetched)
      checkEqual(m.artifactType, SBOM_TYPE, 'artifactType of the SBOM manifest', fetched)
      const tags = await oras.run(['repo', 'tags', '--plain-http', `${R}/${repo}`])
      checkEqual(tags.lines(), ['v1'], 'tags after attach (a sha256-<hex> tag means oras fell back to the tag schema)', tags)
      sbomDigest = attached.digest
    })

    g.test('discover the SBOM through the referrers API', async () => {
      const subject = need(manifestDigest, 'the pushed artifact')
      const sbomManifest = need(sbomDigest, 'the attached SBOM')
      const found = await oras.run(['discover', '--plain-http', '--distribution-spec', 'v1.1-referrers-api', '--format', 'json', `${R}/${repo}:v1`])
      checkExchange(found, e => e.method === 'GET' && e.url.includes(`/v2/${repo}/referrers/${subject}`) && (e.status ?? '').startsWith('200'),
        `GET /v2/${repo}/referrers/${subject} with a 200 answer`)
      checkEqual((found.json<Referrers>().referrers ?? []).map(r => [r.digest, r.artifactType]), [[sbomManifest, SBOM_TYPE]], 'referrers', found)
      const filtered = await oras.run(['discover', '--plain-http', '--distribution-spec', 'v1.1-referrers-api', '--artifact-type', SBOM_TYPE,
        '--format', 'json', `${R}/${repo}:v1`])
      checkEqual((filtered.json<Referrers>().referrers ?? []).map(r => r.digest), [sbomManifest], `referrers of type ${SBOM_TYPE}`, filtered)
      const other = await oras.run(['discover', '--plain-http', '--distribution-spec', 'v1.1-referrers-api', '--artifact-type',
        'application/vnd.berth.acceptance.other.v1', '--format', 'json', `${R}/${repo}:v1`])
      checkEqual(other.json<Referrers>().referrers ?? [], [], 'referrers of another type', other)
    })

    g.test('fetch a blob', async () => {
      need(manifestDigest, 'the pushed artifact')
      const blob = await oras.run(['blob', 'fetch', '--plain-http', '--output', '-', `${R}/${repo}@${sha256(data)}`])
      checkBytes(blob.stdout, data, 'blob data.bin', blob)
      const desc = await oras.run(['blob', 'fetch', '--plain-http', '--descriptor', `${R}/${repo}@${sha256(hello)}`])
      const d = desc.json<{ digest: string, size: number }>()
      checkEqual([d.digest, d.size], [sha256(hello), hello.length], 'blob descriptor (digest, size)', desc)
    })

    g.test('copy to another repository with its referrers (oras cp -r)', async () => {
      const subject = need(manifestDigest, 'the pushed artifact')
      const sbomManifest = need(sbomDigest, 'the attached SBOM')
      await oras.run(['cp', '-r', '--from-plain-http', '--to-plain-http', `${R}/${repo}:v1`, `${R}/${copy}:v1`])
      const fetched = await oras.run(['manifest', 'fetch', '--plain-http', `${R}/${copy}:v1`])
      checkEqual(sha256(fetched.stdout), subject, 'digest of the copied manifest', fetched)
      const found = await oras.run(['discover', '--plain-http', '--distribution-spec', 'v1.1-referrers-api', '--format', 'json', `${R}/${copy}:v1`])
      checkEqual((found.json<Referrers>().referrers ?? []).map(r => [r.digest, r.artifactType]), [[sbomManifest, SBOM_TYPE]], 'referrers of the copy', found)
      const out = workDir(ctx, 'oras', 'copy-sbom')
      const pull = await oras.run(['pull', '--plain-http', '-o', out, `${R}/${copy}@${sbomManifest}`])
      checkBytes(readFileSync(path.join(out, 'sbom.json')), sbom, 'SBOM pulled from the copy', pull)
      const out2 = workDir(ctx, 'oras', 'copy-artifact')
      const pull2 = await oras.run(['pull', '--plain-http', '-o', out2, `${R}/${copy}:v1`])
      checkBytes(readFileSync(path.join(out2, 'data.bin')), data, 'data.bin pulled from the copy', pull2)
    })

    g.test('list tags and repositories', async () => {
      need(manifestDigest, 'the pushed artifact')
      await oras.run(['tag', '--plain-http', `${R}/${repo}:v1`, 'v2', 'stable'])
      const tags = await oras.run(['repo', 'tags', '--plain-http', `${R}/${repo}`])
      checkEqual(sorted(tags.lines()), ['stable', 'v1', 'v2'], `tags of ${repo}`, tags)
      const repos = await oras.run(['repo', 'ls', '--plain-http', `${R}/${ctx.ns}/oras`])
      checkEqual(sorted(repos.lines()), ['artifact', 'copy'], `repositories under ${ctx.ns}/oras`, repos)
    })

    g.test('delete a referrer, a manifest and a blob', async () => {
      const subject = need(manifestDigest, 'the pushed artifact')
      const sbomManifest = need(sbomDigest, 'the attached SBOM')
      await oras.run(['manifest', 'delete', '--plain-http', '--force', `${R}/${copy}@${sbomManifest}`])
      const found = await oras.run(['discover', '--plain-http', '--distribution-spec', 'v1.1-referrers-api', '--format', 'json', `${R}/${copy}@${subject}`])
      checkEqual(found.json<Referrers>().referrers ?? [], [], 'referrers of the copy after deleting the SBOM', found)

      await oras.run(['manifest', 'delete', '--plain-http', '--force', `${R}/${copy}:v1`])
      const gone = await oras.runFailing(['manifest', 'fetch', '--plain-http', `${R}/${copy}:v1`])
      check(/not found/i.test(gone.stderr), 'fetching the deleted manifest should fail with "not found"', gone)
      const tags = await oras.run(['repo', 'tags', '--plain-http', `${R}/${copy}`])
      checkEqual(tags.lines(), [], 'tags of the copy after deleting its manifest', tags)

      await oras.run(['blob', 'delete', '--plain-http', '--force', `${R}/${copy}@${sha256(data)}`])
      const blobGone = await oras.runFailing(['blob', 'fetch', '--plain-http', '--output', '-', `${R}/${copy}@${sha256(data)}`])
      check(/not found/i.test(blobGone.stderr), 'fetching the deleted blob should fail with "not found"', blobGone)
      // the source repository is untouched
      const still = await oras.run(['blob', 'fetch', '--plain-http', '--output', '-', `${R}/${repo}@${sha256(data)}`])
      checkBytes(still.stdout, data, 'data.bin in the source repository after the delete in the copy', still)
      const stillRef = await oras.run(['discover', '--plain-http', '--distribution-spec', 'v1.1-referrers-api', '--format', 'json', `${R}/${repo}:v1`])
      checkEqual((stillRef.json<Referrers>().referrers ?? []).map(r => r.digest), [sbomManifest], 'referrers of the source after the deletes in the copy', stillRef)
    })
  })
}
