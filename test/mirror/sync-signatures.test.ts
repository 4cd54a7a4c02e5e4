// A scheduled sync (onlySigned) copies a signed image with its signature, and the signing tool verifies Berth's
// copy: cosign (a signature in cosign's tag scheme) and Notation (a signature referrer, found upstream through
// the referrers tag schema, since Distribution has no referrers API). Both tools are the pinned builds of
// scripts/tools.json; a missing one fails the test.
import path from 'node:path'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import { runTool, startDistribution, tool, type Upstream } from './cache-upstream.js'

/** Runs cosign or notation with its home (keys, certificates, trust policy) in `dir`; returns stdout and stderr. */
async function signer (name: 'cosign' | 'notation', args: string[], dir: string): Promise<string> {
  const env = { HOME: dir, XDG_CONFIG_HOME: path.join(dir, '.config'), COSIGN_PASSWORD: '', COSIGN_YES: 'true' }
  const { stdout, stderr } = await runTool(name, args, { cwd: dir, env })
  return `${stdout}${stderr}`
}

/** An image pushed upstream by oras as library/signed:1.0; returns its digest. */
async function pushImage (upstream: Upstream, dir: string): Promise<string> {
  await tool('oras', ['push', '--plain-http', `${upstream.host}/library/signed:1.0`, 'a.txt'], { cwd: dir })
  return (await tool('crane', ['digest', '--insecure', `${upstream.host}/library/signed:1.0`])).trim()
}

/** A Berth mirroring library/signed with onlySigned, synced once; returns its host and the sync's report. */
async function syncedBerth (t: Test, upstream: Upstream, dir: string) {
  const mirrors = [{ prefix: 'hub', upstream: upstream.url, upstreamPrefix: 'library', sync: { repositories: ['signed'], intervalSeconds: 0, onlySigned: true } }]
  const app = await buildApp(await createBerth(loadConfig({ BERTH_DATA_DIR: path.join(dir, 'berth'), LOG_LEVEL: 'silent', BERTH_MIRRORS: JSON.stringify(mirrors) })))
  t.teardown(async () => { await app.close() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const host = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  return { host, app, report: await app.berth.mirrorSync.run('hub') }
}

t.test('cosign verify passes on a synced copy', async t => {
  const upstream = await startDistribution(t)
  const dir = t.testdir({ 'a.txt': 'signed by cosign\n' })
  const digest = await pushImage(upstream, dir)
  await signer('cosign', ['generate-key-pair'], dir)
  await signer('cosign', ['sign', '--key', 'cosign.key', '--tlog-upload=false', '--allow-http-registry', `${upstream.host}/library/signed@${digest}`], dir)

  const { host, report } = await syncedBerth(t, upstream, dir)
  t.equal(report.result, 'ok', JSON.stringify(report.errors))
  t.same(report.copied.map(c => c.tag).sort(), ['1.0', `${digest.replace(':', '-')}.sig`], 'the image and its cosign signature tag')
  const verified = await signer('cosign', ['verify', '--key', 'cosign.pub', '--insecure-ignore-tlog=true', '--allow-http-registry', `${host}/hub/signed@${digest}`], dir)
  t.match(verified, /The signatures were verified against the specified public key/)
})

t.test('notation verify passes on a synced copy', async t => {
  const upstream = await startDistribution(t)
  const dir = t.testdir({
    'a.txt': 'signed by notation\n',
    'b.txt': 'not signed\n',
    'policy.json': JSON.stringify({
      version: '1.0',
      trustPolicies: [{
        name: 'berth-test',
        registryScopes: ['*'],
        signatureVerification: { level: 'strict' },
        trustStores: ['ca:berth-test'],
        trustedIdentities: ['*']
      }]
    })
  })
  const digest = await pushImage(upstream, dir)
  await signer('notation', ['cert', 'generate-test', '--default', 'berth-test'], dir)
  await signer('notation', ['sign', '--insecure-registry', `${upstream.host}/library/signed@${digest}`], dir)
  await signer('notation', ['policy', 'import', '--force', 'policy.json'], dir)
  t.match(await signer('notation', ['verify', '--insecure-registry', `${upstream.host}/library/signed@${digest}`], dir), /Successfully verified/, 'verified upstream')

  // an unsigned tag beside it, which onlySigned leaves behind
  await tool('oras', ['push', '--plain-http', `${upstream.host}/library/signed:unsigned`, 'b.txt'], { cwd: dir })
  // Distribution has no referrers API: notation indexed the signature under the referrers tag schema's tag
  const schemaIndex = JSON.parse(await tool('crane', ['manifest', '--insecure', `${upstream.host}/library/signed:${digest.replace(':', '-')}`])) as
    { manifests: Array<{ digest: string, artifactType?: string }> }
  const signature = schemaIndex.manifests[0]
  t.equal(signature?.artifactType, 'application/vnd.cncf.notary.signature')

  const { host, app, report } = await syncedBerth(t, upstream, dir)
  t.equal(report.result, 'ok', JSON.stringify(report.errors))
  t.same(report.copied.map(c => [c.tag, c.digest]), [['1.0', digest]], 'the signed image only (the schema tag is not copied as a tag)')
  t.equal(report.skippedUnsigned, 1, 'the unsigned tag is left behind')
  const referrers = await app.inject({ method: 'GET', url: `/v2/hub/signed/referrers/${digest}` })
  t.same((referrers.json() as { manifests: Array<{ digest: string, artifactType?: string }> }).manifests.map(m => [m.digest, m.artifactType]),
    [[signature?.digest, 'application/vnd.cncf.notary.signature']], 'Berth serves the signature as a referrer of the copy')
  const listed = await signer('notation', ['list', '--insecure-registry', `${host}/hub/signed@${digest}`], dir)
  t.match(listed, 'application/vnd.cncf.notary.signature')
  t.match(listed, signature?.digest ?? 'no signature upstream', 'notation lists the signature on the copy')
  const verified = await signer('notation', ['verify', '--insecure-registry', `${host}/hub/signed@${digest}`], dir)
  t.match(verified, `Successfully verified signature for ${host}/hub/signed@${digest}`)
})
