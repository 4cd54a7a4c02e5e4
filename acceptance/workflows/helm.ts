// helm v3: create and package a chart, push it to oci://, show it, pull it by version and without one (the latest
// version), and template it straight from the registry. Then the CNR round trip: a chart pushed through the CNR
// API (/cnr/api/v1, issue 4) must be pullable with `helm pull oci://`; that check is skipped while Berth does not
// serve the CNR API yet, and runs as soon as it does.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { skip, type Suite } from '../../conformance/suite/harness.js'
import { expectStatus } from '../../conformance/suite/expect.js'
import { check, checkBytes, checkEqual, workDir, type Ctx } from '../lib/context.js'
import { sha256 } from '../lib/fixtures.js'

const CHART = 'berthchart'
const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json'
const HELM_LAYER = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip'

export function helmWorkflow (suite: Suite, ctx: Ctx): void {
  const { registry: R } = ctx
  const helm = ctx.clients.helm
  const base = `${ctx.ns}/helm`
  const ref = `oci://${R}/${base}/${CHART}`
  const dir = (): string => workDir(ctx, 'helm')
  const pkg = (version: string): string => path.join(dir(), 'charts', `${CHART}-${version}.tgz`)
  let packaged = false
  let pushed = false

  suite.group('helm', (g) => {
    g.test('create and package a chart (versions 0.1.0, 0.2.0, 0.3.0)', async () => {
      const d = dir()
      await helm.run(['create', CHART], { cwd: d })
      for (const version of ['0.1.0', '0.2.0', '0.3.0']) {
        const p = await helm.run(['package', CHART, '-d', 'charts', '--version', version], { cwd: d })
        check(readdirSync(path.join(d, 'charts')).includes(`${CHART}-${version}.tgz`), `helm package should write charts/${CHART}-${version}.tgz`, p)
      }
      packaged = true
    })

    g.test('push both versions to oci://', async () => {
      check(packaged, 'prerequisite missing: the packaged chart (an earlier check in this group failed)')
      for (const version of ['0.1.0', '0.2.0']) {
        const push = await helm.run(['push', pkg(version), `oci://${R}/${base}`, '--plain-http'])
        const said = `${push.text()}\n${push.stderr}`
        check(said.includes(`Pushed: ${R}/${base}/${CHART}:${version}`), `helm push should report Pushed: ${R}/${base}/${CHART}:${version}`, push)
        const digest = /Digest: (sha256:[0-9a-f]{64})/.exec(said)?.[1]
        // what the registry now holds for the tag: helm's media types, the package bytes as the layer
        const res = await ctx.http.get(`/v2/${base}/${CHART}/manifests/${version}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
        expectStatus(res, 200)
        checkEqual(sha256(res.body), digest, `digest of ${CHART}:${version} (helm push printed it)`, push)
        const m = res.json() as { config: { mediaType: string }, layers: Array<{ mediaType: string, digest: string, size: number }> }
        checkEqual(m.config.mediaType, HELM_CONFIG, 'config media type', push)
        const bytes = readFileSync(pkg(version))
        checkEqual(m.layers.map(l => [l.mediaType, l.digest, l.size]), [[HELM_LAYER, sha256(bytes), bytes.length]], 'chart layer (media type, digest, size)', push)
      }
      pushed = true
    })

    g.test('show chart', async () => {
      check(pushed, 'prerequisite missing: the pushed chart (an earlier check in this group failed)')
      const show = await helm.run(['show', 'chart', ref, '--version', '0.1.0', '--plain-http'])
      const chart = parseYaml(show.text()) as { apiVersion?: string, name?: string, version?: string }
      checkEqual([chart.apiVersion, chart.name, chart.version], ['v2', CHART, '0.1.0'], 'Chart.yaml apiVersion, name, version', show)
    })

    g.test('pull by version', async () => {
      check(pushed, 'prerequisite missing: the pushed chart (an earlier check in this group failed)')
      const out = workDir(ctx, 'helm', 'pulled')
      const pull = await helm.run(['pull', ref, '--version', '0.1.0', '--plain-http', '-d', out])
      checkEqual(readdirSync(out), [`${CHART}-0.1.0.tgz`], 'files pulled', pull)
      checkBytes(readFileSync(path.join(out, `${CHART}-0.1.0.tgz`)), readFileSync(pkg('0.1.0')), 'chart package', pull)
    })

    g.test('pull without a version gets the latest', async () => {
      check(pushed, 'prerequisite missing: the pushed chart (an earlier check in this group failed)')
      const out = workDir(ctx, 'helm', 'latest')
      const pull = await helm.run(['pull', ref, '--plain-http', '-d', out])
      checkEqual(readdirSync(out), [`${CHART}-0.2.0.tgz`], 'files pulled', pull)
      checkBytes(readFileSync(path.join(out, `${CHART}-0.2.0.tgz`)), readFileSync(pkg('0.2.0')), 'chart package', pull)
    })

    g.test('template from the registry', async () => {
      check(pushed, 'prerequisite missing: the pushed chart (an earlier check in this group failed)')
      const remote = await helm.run(['template', 'acceptance', ref, '--version', '0.1.0', '--plain-http'])
      const local = await helm.run(['template', 'acceptance', pkg('0.1.0')])
      check(remote.text().includes('kind: Deployment') && remote.text().includes('name: acceptance-berthchart'),
        'helm template should render the chart\'s Deployment named acceptance-berthchart', remote)
      checkEqual(remote.text(), local.text(), 'manifests rendered from the registry vs from the local package', remote)
    })

    g.test('pull a chart that was pushed through the CNR API', async () => {
      check(packaged, 'prerequisite missing: the packaged chart (an earlier check in this group failed)')
      const probe = await ctx.http.get('/cnr/api/v1/packages')
      if (probe.status !== 200) {
        skip(`the CNR API is not served yet (GET /cnr/api/v1/packages answered ${probe.status}); this runs once issue 4 lands`)
      }
      // CNR names are <namespace>/<package> with [a-z0-9_-]; the OCI repository is the same name
      const cnrNs = `${ctx.ns}-cnr`
      const bytes = readFileSync(pkg('0.3.0'))
      const res = await ctx.http.post(`/cnr/api/v1/packages/${cnrNs}/${CHART}`, {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ blob: bytes.toString('base64'), release: '0.3.0', media_type: 'helm' })
      })
      expectStatus(res, 200, 201)
      const cnrRef = `oci://${R}/${cnrNs}/${CHART}`
      const show = await helm.run(['show', 'chart', cnrRef, '--version', '0.3.0', '--plain-http'])
      const chart = parseYaml(show.text()) as { name?: string, version?: string }
      checkEqual([chart.name, chart.version], [CHART, '0.3.0'], 'Chart.yaml name and version of the CNR-pushed chart', show)
      const out = workDir(ctx, 'helm', 'cnr')
      const pull = await helm.run(['pull', cnrRef, '--version', '0.3.0', '--plain-http', '-d', out])
      checkEqual(readdirSync(out), [`${CHART}-0.3.0.tgz`], 'files pulled', pull)
      checkBytes(readFileSync(path.join(out, `${CHART}-0.3.0.tgz`)), bytes, 'chart package pushed through the CNR API', pull)
    })
  })
}
