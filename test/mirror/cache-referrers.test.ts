// Referrers of mirrored names through the pull-through cache, against a real upstream (CNCF Distribution):
// signatures and SBOMs attached upstream by `oras attach` are listed by Berth's referrers API with the
// upstream's digests, their manifests and blobs are served byte for byte, new referrers appear after the TTL
// (and not before), and with the upstream stopped what was listed is still listed, with the stale header.
import { createHash } from 'node:crypto'
import t from 'tap'
import { startServer } from '../helpers/server-process.js'
import { startDistribution, tool } from './cache-upstream.js'

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

interface Descriptor { digest: string, mediaType: string, size: number, artifactType?: string }
interface Index { manifests: Descriptor[] }

t.test('referrers of mirrored names are fetched on demand', async t => {
  const upstream = await startDistribution(t)
  const dir = t.testdir({ 'app.txt': 'the application\n', 'sig.txt': 'a signature\n', 'sbom.json': '{"sbom":true}\n', 'late.txt': 'attached later\n' })
  const oras = async (...args: string[]): Promise<string> => await tool('oras', [...args, '--plain-http'], { cwd: dir })
  await oras('push', `${upstream.host}/library/app:v1`, 'app.txt')
  const subject = sha256(Buffer.from(await oras('manifest', 'fetch', `${upstream.host}/library/app:v1`), 'latin1'))
  await oras('attach', '--artifact-type', 'application/vnd.example.signature', `${upstream.host}/library/app@${subject}`, 'sig.txt')
  await oras('attach', '--artifact-type', 'application/spdx+json', `${upstream.host}/library/app@${subject}`, 'sbom.json')
  // What the upstream itself lists, through oras (whichever of the referrers API and the tag schema it uses).
  const upstreamReferrers = async (): Promise<string[]> => {
    const tree = JSON.parse(await oras('discover', '--format', 'json', `${upstream.host}/library/app@${subject}`)) as { referrers?: Descriptor[], manifests?: Descriptor[] }
    return (tree.referrers ?? tree.manifests ?? []).map(d => d.digest).sort()
  }
  const want = await upstreamReferrers()
  t.equal(want.length, 2, 'two referrers upstream')

  const mirrors = [
    { prefix: 'hub', upstream: upstream.url, upstreamPrefix: 'library', ttlSeconds: 86400 },
    { prefix: 'fast', upstream: upstream.url, upstreamPrefix: 'library', ttlSeconds: 1 }
  ]
  const berth = await startServer(t, { BERTH_MIRRORS: JSON.stringify(mirrors), LOG_LEVEL: 'error' })
  const get = async (p: string, headers: Record<string, string> = {}): Promise<Response> => await fetch(`${berth.url}${p}`, { headers })
  const referrers = async (prefix: string, query = ''): Promise<{ res: Response, index: Index }> => {
    const res = await get(`/v2/${prefix}/app/referrers/${subject}${query}`)
    return { res, index: await res.json() as Index }
  }
  const upstreamAsked = (): number => upstream.requests.filter(r => /^GET \/v2\/library\/app\/(referrers\/|manifests\/sha256-)/.test(r)).length

  await t.test('listed with the upstream\'s digests, manifests and blobs served byte for byte', async t => {
    const { res, index } = await referrers('hub')
    t.equal(res.status, 200)
    t.equal(res.headers.get('content-type'), OCI_INDEX)
    t.same(index.manifests.map(d => d.digest).sort(), want)
    t.same(index.manifests.map(d => d.artifactType).sort(), ['application/spdx+json', 'application/vnd.example.signature'])
    for (const d of index.manifests) {
      const direct = Buffer.from(await (await fetch(`${upstream.url}/v2/library/app/manifests/${d.digest}`, { headers: { accept: OCI_MANIFEST } })).arrayBuffer())
      const through = await get(`/v2/hub/app/manifests/${d.digest}`, { accept: OCI_MANIFEST })
      t.equal(through.status, 200)
      const bytes = Buffer.from(await through.arrayBuffer())
      t.ok(bytes.equals(direct), 'the referrer manifest is the upstream\'s')
      t.equal(sha256(bytes), d.digest)
      t.equal(d.size, bytes.length)
      const layer = (JSON.parse(bytes.toString('utf8')) as { layers: Descriptor[] }).layers[0] as Descriptor
      const blob = await get(`/v2/hub/app/blobs/${layer.digest}`)
      t.equal(blob.status, 200)
      t.equal(sha256(Buffer.from(await blob.arrayBuffer())), layer.digest, 'its layer comes on demand')
    }
    const filtered = await referrers('hub', '?artifactType=application%2Fspdx%2Bjson')
    t.equal(filtered.res.headers.get('oci-filters-applied'), 'artifactType')
    t.same(filtered.index.manifests.map(d => d.artifactType), ['application/spdx+json'])
    // oras, a real client, discovers them through Berth too.
    const tree = JSON.parse(await oras('discover', '--format', 'json', `${berth.host}/hub/app@${subject}`)) as { referrers?: Descriptor[], manifests?: Descriptor[] }
    t.same((tree.referrers ?? tree.manifests ?? []).map(d => d.digest).sort(), want)
  })

  await t.test('a referrer attached later is seen after the TTL, and not before', async t => {
    t.same((await referrers('fast')).index.manifests.map(d => d.digest).sort(), want)
    await oras('attach', '--artifact-type', 'application/vnd.example.late', `${upstream.host}/library/app@${subject}`, 'late.txt')
    const all = await upstreamReferrers()
    t.equal(all.length, 3)
    const asked = upstreamAsked()
    t.same((await referrers('hub')).index.manifests.map(d => d.digest).sort(), want, 'within its TTL (a day) the list is the one held')
    t.equal(upstreamAsked(), asked, 'without asking the upstream')
    await new Promise(resolve => setTimeout(resolve, 1500))
    t.same((await referrers('fast')).index.manifests.map(d => d.digest).sort(), all, 'after its TTL (1 s) the new referrer is listed')
    t.ok(upstreamAsked() > asked, 'the upstream was asked again')
  })

  await t.test('with the upstream stopped, what was listed is listed with the stale header', async t => {
    const all = (await referrers('fast')).index.manifests.map(d => d.digest).sort()
    await upstream.stop()
    await new Promise(resolve => setTimeout(resolve, 1100)) // past the TTL of "fast"
    const { res, index } = await referrers('fast')
    t.equal(res.status, 200)
    t.equal(res.headers.get('berth-mirror'), 'stale; upstream unavailable')
    t.same(index.manifests.map(d => d.digest).sort(), all)
    const manifest = await get(`/v2/fast/app/manifests/${all[0] as string}`, { accept: OCI_MANIFEST })
    t.equal(manifest.status, 200, 'a referrer held is served')
    const never = await get(`/v2/hub/app/referrers/${sha256('never')}`)
    t.equal(never.status, 200)
    t.equal(never.headers.get('berth-mirror'), 'upstream unavailable')
    t.same(((await never.json()) as Index).manifests, [])
    const bad = await get('/v2/hub/app/referrers/sha256:nothex')
    t.equal(bad.status, 400, 'a malformed digest is the client\'s error')
    t.equal(((await bad.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'DIGEST_INVALID')
  })
})
