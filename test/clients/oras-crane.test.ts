// Real third-party clients against a real Berth process: the bytes and digests they see must be
// exactly what was pushed. The binaries are built at pinned versions by scripts/install-tools.mjs.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { toolPath } from '../../scripts/tool-paths.mjs'
import { startServer } from '../helpers/server-process.js'

const exec = promisify(execFile)

/** Runs a client; a failure names the client, the command and what it printed. */
async function run (tool: 'oras' | 'crane', args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await exec(toolPath(tool), args, { cwd, env: { ...process.env, HOME: cwd }, maxBuffer: 64 * 1024 * 1024 })
    return stdout
  } catch (err) {
    const e = err as { stdout?: string, stderr?: string, message: string }
    throw new Error(`${tool} ${args.join(' ')} failed:\n${e.stderr ?? ''}${e.stdout ?? ''}${e.message}`)
  }
}

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

t.test('oras: push with artifactType and annotations, pull, attach and discover through the referrers API', async t => {
  const server = await startServer(t)
  const dir = t.testdir({ 'hi.txt': 'hello from oras\n', 'sbom.json': '{"sbom":true}\n' })
  const R = server.host
  const pushed = JSON.parse(await run('oras', ['push', '--plain-http', `${R}/e2e/oras:v1`, '--artifact-type', 'application/vnd.example.demo.v1',
    '--annotation', 'org.example.k=v', '--format', 'json', 'hi.txt:text/plain'], dir)) as { digest: string }

  const manifestBytes = Buffer.from(await run('oras', ['manifest', 'fetch', '--plain-http', `${R}/e2e/oras:v1`], dir))
  t.equal(sha256(manifestBytes), pushed.digest, 'the manifest digest oras computed matches the bytes served')
  const manifest = JSON.parse(manifestBytes.toString()) as { artifactType: string, annotations: Record<string, string>, layers: Array<{ digest: string }> }
  t.equal(manifest.artifactType, 'application/vnd.example.demo.v1')
  t.equal(manifest.annotations['org.example.k'], 'v')
  t.equal(manifest.layers[0]?.digest, sha256('hello from oras\n'))

  mkdirSync(path.join(dir, 'out'))
  await run('oras', ['pull', '--plain-http', '-o', 'out', `${R}/e2e/oras:v1`], dir)
  t.equal(readFileSync(path.join(dir, 'out', 'hi.txt'), 'utf8'), 'hello from oras\n')

  await run('oras', ['attach', '--plain-http', '--artifact-type', 'application/vnd.example.sbom.v1', `${R}/e2e/oras:v1`, 'sbom.json:application/json'], dir)
  const discovered = JSON.parse(await run('oras', ['discover', '--plain-http', '--format', 'json', `${R}/e2e/oras:v1`], dir)) as
    { referrers?: Array<{ artifactType: string }>, manifests?: Array<{ artifactType: string }> }
  const referrers = discovered.referrers ?? discovered.manifests ?? []
  t.same(referrers.map(r => r.artifactType), ['application/vnd.example.sbom.v1'])

  // With the referrers API working, oras must not fall back to sha256-<hex> tags.
  t.same((await run('oras', ['repo', 'tags', '--plain-http', `${R}/e2e/oras`], dir)).trim().split('\n'), ['v1'])
  t.match(await run('oras', ['repo', 'ls', '--plain-http', R], dir), /e2e\/oras/)
})

t.test('crane: append an image, read it back, list, and copy it across repositories', async t => {
  const server = await startServer(t)
  const dir = t.testdir()
  const R = server.host
  // A one-file tar layer, built by hand (a 512-byte header, the data padded to 512, two zero blocks).
  const header = Buffer.alloc(512)
  header.write('hello.txt', 0)
  header.write('0000644\0', 100)
  header.write('0000000\0', 108)
  header.write('0000000\0', 116)
  const data = Buffer.from('hello from crane\n')
  header.write(data.length.toString(8).padStart(11, '0') + '\0', 124)
  header.write('00000000000\0', 136)
  header.write('0', 156)
  header.write('        ', 148)
  let sum = 0
  for (const byte of header) sum += byte
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148)
  writeFileSync(path.join(dir, 'layer.tar'), Buffer.concat([header, data, Buffer.alloc(512 - data.length), Buffer.alloc(1024)]))

  await run('crane', ['append', '--oci-empty-base', '-f', 'layer.tar', '-t', `${R}/e2e/crane:v1`], dir)
  const manifestBytes = Buffer.from(await run('crane', ['manifest', `${R}/e2e/crane:v1`], dir))
  const digest = (await run('crane', ['digest', `${R}/e2e/crane:v1`], dir)).trim()
  t.equal(digest, sha256(manifestBytes))
  const manifest = JSON.parse(manifestBytes.toString()) as { config: { digest: string }, layers: Array<{ digest: string }> }
  const layerDigest = manifest.layers[0]?.digest ?? ''
  const layer = await exec(toolPath('crane'), ['blob', `${R}/e2e/crane@${layerDigest}`], { cwd: dir, encoding: 'buffer', maxBuffer: 1 << 24 })
  t.equal(sha256(layer.stdout), layerDigest, 'layer bytes match their digest')
  const config = await run('crane', ['config', `${R}/e2e/crane:v1`], dir)
  t.equal(sha256(config), manifest.config.digest)

  t.same((await run('crane', ['ls', `${R}/e2e/crane`], dir)).trim().split('\n'), ['v1'])
  await run('crane', ['copy', `${R}/e2e/crane:v1`, `${R}/e2e/crane-copy:v1`], dir)
  t.equal((await run('crane', ['digest', `${R}/e2e/crane-copy:v1`], dir)).trim(), digest)
  await run('crane', ['tag', `${R}/e2e/crane-copy:v1`, 'v2'], dir)
  t.same((await run('crane', ['ls', `${R}/e2e/crane-copy`], dir)).trim().split('\n'), ['v1', 'v2'])
  t.same((await run('crane', ['catalog', R], dir)).trim().split('\n'), ['e2e/crane', 'e2e/crane-copy'])

  await run('crane', ['delete', `${R}/e2e/crane-copy@${digest}`], dir)
  await t.rejects(run('crane', ['manifest', `${R}/e2e/crane-copy:v1`], dir), /MANIFEST_UNKNOWN/)
})
