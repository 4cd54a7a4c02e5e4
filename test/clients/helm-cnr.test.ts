// Round trips between the CNR API and the real helm v3 and oras binaries, against a real Berth process:
// what one side pushes, the other pulls byte for byte. The binaries are built at pinned versions by
// scripts/install-tools.mjs.
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { toolPath } from '../../scripts/tool-paths.mjs'
import { HELM_FILES, KPM_FILES, cnrDigest, push, startServerApi, tarGz } from '../cnr/helpers.js'

const exec = promisify(execFile)

/** Runs helm or oras with a private HOME; a failure names the command and what it printed. */
async function run (tool: 'helm' | 'oras', args: string[], cwd: string): Promise<string> {
  const env = {
    ...process.env,
    HOME: cwd,
    HELM_CACHE_HOME: path.join(cwd, '.helm/cache'),
    HELM_CONFIG_HOME: path.join(cwd, '.helm/config'),
    HELM_DATA_HOME: path.join(cwd, '.helm/data')
  }
  try {
    const { stdout, stderr } = await exec(toolPath(tool), args, { cwd, env, maxBuffer: 64 * 1024 * 1024 })
    return stdout + stderr
  } catch (err) {
    const e = err as { stdout?: string, stderr?: string, message: string }
    throw new Error(`${tool} ${args.join(' ')} failed:\n${e.stderr ?? ''}${e.stdout ?? ''}${e.message}`)
  }
}

function writeTree (root: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true })
    writeFileSync(path.join(root, name), content)
  }
}

// One server for the file: each test uses packages of its own (e2e/app, charts/mychart, e2e/webapp,
// artifacts/...), and lists filter by namespace or media type.
let shared: ReturnType<typeof startServerApi> | undefined
const server = async (): ReturnType<typeof startServerApi> => await (shared ??= startServerApi(t))

interface Shown { content: { digest: string, size: number, mediaType: string }, mediaType: string, release: string }

t.test('CNR push, then oras pull of the release and of a channel: byte-identical', async t => {
  const api = await server()
  const dir = t.testdir()
  const blob = await tarGz(KPM_FILES('1.0.0'))
  t.equal((await push(api, 'e2e/app', '1.0.0', 'kpm', blob)).status, 200)
  t.equal((await api.request('POST', '/cnr/api/v1/packages/e2e/app/channels/stable/1.0.0')).status, 200)

  await run('oras', ['pull', '--plain-http', '-o', 'release', `${api.host}/e2e/app:1.0.0`], dir)
  t.ok(readFileSync(path.join(dir, 'release/kpm/e2e_app_1.0.0.tar.gz')).equals(blob), 'oras pull of the release tag')
  await run('oras', ['pull', '--plain-http', '-o', 'channel', `${api.host}/e2e/app:stable`], dir)
  t.ok(readFileSync(path.join(dir, 'channel/kpm/e2e_app_1.0.0.tar.gz')).equals(blob), 'oras pull of the channel tag')

  const manifest = JSON.parse(await run('oras', ['manifest', 'fetch', '--plain-http', `${api.host}/e2e/app:1.0.0`], dir)) as
    { mediaType: string, manifests: Array<{ artifactType: string, annotations: Record<string, string> }> }
  t.equal(manifest.mediaType, 'application/vnd.oci.image.index.v1+json', 'a release is an image index')
  t.same(manifest.manifests.map(m => [m.artifactType, m.annotations['org.berth.cnr.media-type']]),
    [['application/vnd.appr.package-manifest.kpm.v0.json', 'kpm']])
})

t.test('helm push, then CNR list, show and pull: byte-identical', async t => {
  const api = await server()
  const dir = t.testdir()
  writeTree(dir, HELM_FILES('mychart', '0.1.0'))
  await run('helm', ['package', 'mychart'], dir)
  const tgz = readFileSync(path.join(dir, 'mychart-0.1.0.tgz'))
  await run('helm', ['push', 'mychart-0.1.0.tgz', `oci://${api.host}/charts`, '--plain-http'], dir)

  const list = await api.request('GET', '/cnr/api/v1/packages?media_type=helm')
  t.match(list.json(), [{ name: 'charts/mychart', releases: ['0.1.0'], default: '0.1.0', manifests: ['helm'] }])
  t.same((await api.request('GET', '/cnr/api/v1/packages/search?q=MyChart')).json(), ['charts/mychart'])

  const shown = (await api.request('GET', '/cnr/api/v1/packages/charts/mychart/0.1.0/helm')).json<Shown>()
  t.same(shown.content, { mediaType: 'application/vnd.appr.package.helm.v0.tar+gzip', size: tgz.length, digest: cnrDigest(tgz), urls: [] })

  const pulled = await api.request('GET', '/cnr/api/v1/packages/charts/mychart/0.1.0/helm/pull')
  t.equal(pulled.status, 200)
  t.ok(pulled.body.equals(tgz), 'CNR pull returns the chart helm pushed')
  const byDigest = await api.request('GET', `/cnr/api/v1/packages/charts/mychart/blobs/sha256/${cnrDigest(tgz)}`)
  t.ok(byDigest.body.equals(tgz), 'and so does the blob by CNR digest')
  const json = (await api.request('GET', '/cnr/api/v1/packages/charts/mychart/default/-/pull?format=json')).json<{ blob: string, media_type: string }>()
  t.equal(json.media_type, 'helm')
  t.ok(Buffer.from(json.blob, 'base64').equals(tgz))
})

t.test('CNR push of a chart, then helm pull oci:// and helm show chart', async t => {
  const api = await server()
  const dir = t.testdir()
  const chart = await tarGz(HELM_FILES('webapp', '1.2.3'))
  t.equal((await push(api, 'e2e/webapp', '1.2.3', 'helm', chart)).status, 200)
  for (const out of ['out', 'out2', 'out3']) mkdirSync(path.join(dir, out))

  await run('helm', ['pull', `oci://${api.host}/e2e/webapp`, '--version', '1.2.3', '--plain-http', '-d', 'out'], dir)
  t.ok(readFileSync(path.join(dir, 'out/webapp-1.2.3.tgz')).equals(chart), 'helm pulls the pushed tarball, byte for byte')
  const shown = await run('helm', ['show', 'chart', `oci://${api.host}/e2e/webapp`, '--version', '1.2.3', '--plain-http'], dir)
  t.match(shown, /^name: webapp$/m)
  t.match(shown, /^version: 1\.2\.3$/m)
  t.match(shown, /^description: webapp chart for tests$/m)

  // Another media type in the same release: the tag now names a two-entry index, and helm still finds its chart.
  t.equal((await push(api, 'e2e/webapp', '1.2.3', 'kpm', await tarGz(KPM_FILES('1.2.3')))).status, 200)
  const index = (await api.request('GET', '/v2/e2e/webapp/manifests/1.2.3', { headers: { accept: 'application/vnd.oci.image.index.v1+json' } })).json<{ manifests: unknown[] }>()
  t.equal(index.manifests.length, 2)
  await run('helm', ['pull', `oci://${api.host}/e2e/webapp`, '--version', '1.2.3', '--plain-http', '-d', 'out2'], dir)
  t.ok(readFileSync(path.join(dir, 'out2/webapp-1.2.3.tgz')).equals(chart), 'helm picks the helm entry of a multi-type release')

  // helm resolves --version only against SemVer tags ("improper constraint" otherwise), so channels are for
  // appr and oras clients; helm can still pull what a channel points at by digest.
  t.equal((await api.request('POST', '/cnr/api/v1/packages/e2e/webapp/channels/stable/1.2.3')).status, 200)
  const stable = await api.request('HEAD', '/v2/e2e/webapp/manifests/stable', { headers: { accept: 'application/vnd.oci.image.index.v1+json' } })
  const digest = String(stable.headers['docker-content-digest'])
  await run('helm', ['pull', `oci://${api.host}/e2e/webapp@${digest}`, '--plain-http', '-d', 'out3'], dir)
  const [file] = readdirSync(path.join(dir, 'out3'))
  t.ok(readFileSync(path.join(dir, 'out3', file ?? '')).equals(chart), `helm pull of the channel's digest (${file})`)

  // The config helm reads was built from Chart.yaml.
  const helmEntry = (index as { manifests: Array<{ digest: string, artifactType: string }> }).manifests
    .find(m => m.artifactType === 'application/vnd.cncf.helm.config.v1+json')
  const helmManifest = (await api.request('GET', `/v2/e2e/webapp/manifests/${helmEntry?.digest ?? ''}`)).json<{ config: { mediaType: string, digest: string } }>()
  t.equal(helmManifest.config.mediaType, 'application/vnd.cncf.helm.config.v1+json')
  const config = (await api.request('GET', `/v2/e2e/webapp/blobs/${helmManifest.config.digest}`)).json()
  t.same(config, { name: 'webapp', version: '1.2.3', description: 'webapp chart for tests', apiVersion: 'v2', appVersion: '1.0', type: 'application' })
})

t.test('oras push of CNR-typed and generic artifacts, then CNR list, show and pull', async t => {
  const api = await server()
  const dir = t.testdir()
  const tgz = await tarGz(KPM_FILES('3.0.0'))
  writeFileSync(path.join(dir, 'app.tgz'), tgz)
  writeFileSync(path.join(dir, 'notes.txt'), 'plain artifact\n')
  await run('oras', ['push', '--plain-http', `${api.host}/artifacts/tool:3.0.0`, 'app.tgz:application/vnd.appr.package.kpm.v0.tar+gzip'], dir)
  await run('oras', ['push', '--plain-http', `${api.host}/artifacts/notes:1.0.0`, '--artifact-type', 'application/vnd.example.notes.v1', 'notes.txt:text/plain'], dir)
  await run('oras', ['push', '--plain-http', `${api.host}/artifacts/notes:latest`, 'notes.txt:text/plain'], dir)

  const list = (await api.request('GET', '/cnr/api/v1/packages?namespace=artifacts')).json<Array<{ name: string, releases: string[], manifests: string[] }>>()
  t.same(list.map(p => [p.name, p.releases, p.manifests]), [
    ['artifacts/notes', ['1.0.0'], ['oci']],
    ['artifacts/tool', ['3.0.0'], ['kpm']]
  ], 'only SemVer tags are releases; artifacts without a CNR type are "oci"')

  const shown = (await api.request('GET', '/cnr/api/v1/packages/artifacts/tool/3.0.0/kpm')).json<Shown>()
  t.equal(shown.content.digest, cnrDigest(tgz))
  t.ok((await api.request('GET', '/cnr/api/v1/packages/artifacts/tool/3.0.0/kpm/pull')).body.equals(tgz))
  const notes = await api.request('GET', '/cnr/api/v1/packages/artifacts/notes/1.0.0/-/pull')
  t.equal(notes.text, 'plain artifact\n', 'a generic artifact pulls as its first layer')
})
