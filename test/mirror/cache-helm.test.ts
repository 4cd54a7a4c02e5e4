// helm through the pull-through cache: charts pushed by `helm push` into a real upstream (CNCF Distribution)
// are pulled from Berth's mirror prefix with `helm pull oci://`, byte for byte, under the manifest digest the
// push reported; `helm pull` without a version finds the latest through the mirrored tags list, and the chart
// is then served from Berth's store with no further request to the upstream.
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startServer } from '../helpers/server-process.js'
import { runTool, startDistribution, tool } from './cache-upstream.js'

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

t.test('helm pulls charts through Berth as they were pushed upstream', async t => {
  const upstream = await startDistribution(t)
  const dir = t.testdir({ 'by-version': {}, latest: {}, again: {} }) // helm pull -d wants the directory to exist
  const env = {
    HELM_CACHE_HOME: path.join(dir, '.helm/cache'),
    HELM_CONFIG_HOME: path.join(dir, '.helm/config'),
    HELM_DATA_HOME: path.join(dir, '.helm/data')
  }
  const helm = async (...args: string[]): Promise<string> => {
    const { stdout, stderr } = await runTool('helm', args, { cwd: dir, env })
    return `${stdout}${stderr}`
  }
  await helm('create', 'webapp')
  const pushed: Record<string, string> = {}
  for (const version of ['0.1.0', '0.2.0']) {
    await helm('package', 'webapp', '--version', version, '-d', 'charts')
    const said = await helm('push', path.join('charts', `webapp-${version}.tgz`), `oci://${upstream.host}/library`, '--plain-http')
    pushed[version] = /Digest: (sha256:[0-9a-f]{64})/.exec(said)?.[1] ?? `no digest in: ${said}`
    t.equal((await tool('crane', ['digest', '--insecure', `${upstream.host}/library/webapp:${version}`])).trim(), pushed[version], `upstream holds ${version} under the digest helm push printed`)
  }

  const berth = await startServer(t, {
    BERTH_MIRRORS: JSON.stringify([{ prefix: 'hub', upstream: upstream.url, upstreamPrefix: 'library', ttlSeconds: 86400 }]),
    LOG_LEVEL: 'error'
  })
  const ref = `oci://${berth.host}/hub/webapp`

  const pulled = await helm('pull', ref, '--version', '0.1.0', '--plain-http', '-d', 'by-version')
  t.match(pulled, `Digest: ${pushed['0.1.0'] ?? ''}`, 'helm pull reports the digest helm push printed upstream')
  t.same(readdirSync(path.join(dir, 'by-version')), ['webapp-0.1.0.tgz'])
  const chart = readFileSync(path.join(dir, 'by-version', 'webapp-0.1.0.tgz'))
  t.ok(chart.equals(readFileSync(path.join(dir, 'charts', 'webapp-0.1.0.tgz'))), 'the .tgz is byte-identical to the pushed chart')

  // what Berth serves for the tag: the upstream's manifest bytes, with helm's media types and the chart as its layer
  const res = await fetch(`${berth.url}/v2/hub/webapp/manifests/0.1.0`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
  const manifest = Buffer.from(await res.arrayBuffer())
  t.equal(res.headers.get('docker-content-digest'), pushed['0.1.0'])
  t.equal(sha256(manifest), pushed['0.1.0'])
  const parsed = JSON.parse(manifest.toString('utf8')) as { config: { mediaType: string }, layers: Array<{ mediaType: string, digest: string, size: number }> }
  t.equal(parsed.config.mediaType, 'application/vnd.cncf.helm.config.v1+json')
  t.same(parsed.layers.map(l => [l.mediaType, l.digest, l.size]), [['application/vnd.cncf.helm.chart.content.v1.tar+gzip', sha256(chart), chart.length]])

  const latest = await helm('pull', ref, '--plain-http', '-d', 'latest')
  t.match(latest, `Digest: ${pushed['0.2.0'] ?? ''}`, 'without --version, helm finds 0.2.0 in the mirrored tags list')
  t.ok(readFileSync(path.join(dir, 'latest', 'webapp-0.2.0.tgz')).equals(readFileSync(path.join(dir, 'charts', 'webapp-0.2.0.tgz'))))

  const shown = await helm('show', 'chart', ref, '--version', '0.1.0', '--plain-http')
  t.match(shown, /name: webapp\n/)
  t.match(shown, /version: 0\.1\.0\n/)

  // the chart's blobs were fetched from the upstream once: pulled again, the upstream sees no blob GET
  const blobGets = (): number => upstream.requests.filter(r => /^GET \/v2\/library\/webapp\/blobs\//.test(r)).length
  const before = blobGets()
  t.ok(before > 0)
  await helm('pull', ref, '--version', '0.1.0', '--plain-http', '-d', 'again')
  t.ok(readFileSync(path.join(dir, 'again', 'webapp-0.1.0.tgz')).equals(chart))
  t.equal(blobGets(), before, 'a second pull is served from Berth\'s store')
})
