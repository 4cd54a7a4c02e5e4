// A scheduled sync copies a cosign-signed image with its signature, and `cosign verify` passes on the copy.
// cosign is built into ~/.cache/berth/tools/cosign-v2.6.2 (go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.2);
// without it this test is skipped.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import { killWithThisProcess } from '../helpers/server-process.js'
import { startDistribution, tool } from './cache-upstream.js'

const COSIGN = path.join(homedir(), '.cache/berth/tools/cosign-v2.6.2/cosign')

async function cosign (args: string[], cwd: string): Promise<string> {
  const child = spawn(COSIGN, args, { cwd, env: { ...process.env, COSIGN_PASSWORD: '', COSIGN_YES: 'true', HOME: cwd }, stdio: ['ignore', 'pipe', 'pipe'] })
  killWithThisProcess(child)
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const code = await new Promise<number | null>(resolve => child.once('close', resolve))
  if (code !== 0) throw new Error(`cosign ${args.join(' ')} exited ${String(code)}:\n${output}`)
  return output
}

t.test('cosign verify passes on a synced copy', { skip: existsSync(COSIGN) ? false : `no cosign at ${COSIGN}` }, async t => {
  const upstream = await startDistribution(t)
  const dir = t.testdir({ 'a.txt': 'signed layer\n' })
  await tool('oras', ['push', '--plain-http', `${upstream.host}/library/signed:1.0`, 'a.txt'], { cwd: dir })
  const digest = (await tool('crane', ['digest', '--insecure', `${upstream.host}/library/signed:1.0`])).trim()
  await cosign(['generate-key-pair'], dir)
  await cosign(['sign', '--key', 'cosign.key', '--tlog-upload=false', '--allow-http-registry', `${upstream.host}/library/signed@${digest}`], dir)

  const mirrors = [{ prefix: 'hub', upstream: upstream.url, upstreamPrefix: 'library', sync: { repositories: ['signed'], intervalSeconds: 0, onlySigned: true } }]
  const app = await buildApp(await createBerth(loadConfig({ BERTH_DATA_DIR: path.join(dir, 'berth'), LOG_LEVEL: 'silent', BERTH_MIRRORS: JSON.stringify(mirrors) })))
  t.teardown(async () => { await app.close() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const host = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

  const report = await app.berth.mirrorSync.run('hub')
  t.equal(report.result, 'ok', JSON.stringify(report.errors))
  t.same(report.copied.map(c => c.tag).sort(), ['1.0', `${digest.replace(':', '-')}.sig`], 'the image and its cosign signature tag')
  const verified = await cosign(['verify', '--key', 'cosign.pub', '--insecure-ignore-tlog=true', '--allow-http-registry', `${host}/hub/signed@${digest}`], dir)
  t.match(verified, /The signatures were verified against the specified public key/)
})
