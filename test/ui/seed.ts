// Data for the web UI tests, pushed by real clients into a real Berth: crane (an image, a second platform and an
// index), cosign (a signature in its default `sha256-<hex>.sig` tag scheme and an in-toto attestation as an OCI
// referrer), notation (a signature as an OCI referrer), oras (an SPDX SBOM as a referrer), helm (a chart), the
// CNR API (a package with releases, a channel and a deleted release), /packages (files) and plain OCI HTTP (a
// repository with thousands of tags). Signing is offline: generated keys, no transparency log.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { toolPath } from '../../scripts/tool-paths.mjs'
import { HELM_FILES, tarGz } from '../cnr/helpers.js'
import { killWithThisProcess, type ServerProcess } from '../helpers/server-process.js'
import { tarLayer } from '../helpers/tar-layer.js'

export const PASSWORDS = { alice: 'alice-password-1', carol: 'carol-password-1' }
export const MANY_TAGS = 2500
export const SBOM_TYPE = 'application/spdx+json'
export const NOTATION_TYPE = 'application/vnd.cncf.notary.signature'
/** What `cosign attest --new-bundle-format` pushes as a referrer. */
export const SIGSTORE_BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json'

const basic = (user: keyof typeof PASSWORDS): string => `Basic ${Buffer.from(`${user}:${PASSWORDS[user]}`).toString('base64')}`
const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

async function run (tool: 'crane' | 'oras' | 'helm' | 'cosign' | 'notation', args: string[], env: Record<string, string>, cwd: string): Promise<string> {
  const child = spawn(toolPath(tool), args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  killWithThisProcess(child)
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>(resolve => child.once('close', resolve))
  if (code !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${String(code)}:\n${out}`)
  return out
}

export interface Seeded {
  imageDigest: string
  /** The manifest digests of what refers to imageDigest. */
  signatures: { cosign: string, notation: string }
  sbom: string
  attestation: string
  chartTarball: Buffer
  packageFile: Buffer
}

export async function seed (server: ServerProcess, dir: string): Promise<Seeded> {
  const R = server.host
  const home = path.join(dir, 'home')
  mkdirSync(path.join(home, '.docker'), { recursive: true })
  const dockerConfig = path.join(home, '.docker', 'config.json')
  writeFileSync(dockerConfig, JSON.stringify({ auths: { [R]: { auth: Buffer.from(`alice:${PASSWORDS.alice}`).toString('base64') } } }))
  const env = {
    HOME: home,
    DOCKER_CONFIG: path.join(home, '.docker'),
    XDG_CONFIG_HOME: path.join(home, '.config'),
    HELM_REGISTRY_CONFIG: dockerConfig,
    HELM_CACHE_HOME: path.join(home, '.cache', 'helm'),
    HELM_CONFIG_HOME: path.join(home, '.config', 'helm'),
    HELM_DATA_HOME: path.join(home, '.local', 'helm'),
    COSIGN_PASSWORD: '' // the generated key pair has no password
  }
  writeFileSync(path.join(dir, 'layer.tar'), tarLayer('hello.txt', 'hello from the web UI test\n'.repeat(200)))
  writeFileSync(path.join(dir, 'layer2.tar'), tarLayer('other.txt', 'another layer\n'))

  // crane: two single-platform images and an index over them; v2 is a second tag to delete later.
  await run('crane', ['append', '--insecure', '-f', 'layer.tar', '-t', `${R}/alice/app:v1`], env, dir)
  await run('crane', ['mutate', '--insecure', '--set-platform', 'linux/amd64', '-a', 'org.opencontainers.image.description=The web UI test image',
    '-t', `${R}/alice/app:v1`, `${R}/alice/app:v1`], env, dir)
  await run('crane', ['append', '--insecure', '-f', 'layer2.tar', '-b', `${R}/alice/app:v1`, '-t', `${R}/alice/app:arm`], env, dir)
  await run('crane', ['mutate', '--insecure', '--set-platform', 'linux/arm64', '-t', `${R}/alice/app:arm`, `${R}/alice/app:arm`], env, dir)
  await run('crane', ['index', 'append', '--insecure', '-m', `${R}/alice/app:v1`, '-m', `${R}/alice/app:arm`, '-t', `${R}/alice/app:multi`], env, dir)
  await run('crane', ['copy', '--insecure', `${R}/alice/app:arm`, `${R}/alice/app:v2`], env, dir)
  const imageDigest = (await run('crane', ['digest', '--insecure', `${R}/alice/app:v1`], env, dir)).trim()

  // Signatures, an attestation and an SBOM of v1, each as its own client stores it.
  const subject = `${R}/alice/app@${imageDigest}`
  await run('cosign', ['generate-key-pair'], env, dir)
  // cosign's default: the signature is the manifest tagged sha256-<hex>.sig, not a referrer.
  await run('cosign', ['sign', '--key', 'cosign.key', '--tlog-upload=false', '--allow-http-registry', '--yes', subject], env, dir)
  // An in-toto attestation in a Sigstore bundle, pushed as an OCI referrer.
  writeFileSync(path.join(dir, 'provenance.json'), JSON.stringify({ buildType: 'https://berth.test/ui', builder: { id: 'berth-ui-test' } }))
  await run('cosign', ['attest', '--key', 'cosign.key', '--tlog-upload=false', '--allow-http-registry', '--yes', '--new-bundle-format',
    '--type', 'slsaprovenance', '--predicate', 'provenance.json', subject], env, dir)
  // notation: an OCI referrer signed with a generated test certificate.
  await run('notation', ['cert', 'generate-test', '--default', 'berth-test'], env, dir)
  await run('notation', ['sign', '--insecure-registry', subject], env, dir)
  writeFileSync(path.join(dir, 'sbom.spdx.json'), JSON.stringify({
    spdxVersion: 'SPDX-2.3', dataLicense: 'CC0-1.0', SPDXID: 'SPDXRef-DOCUMENT', name: 'alice/app', documentNamespace: 'https://berth.test/spdx/alice/app',
    creationInfo: { created: '2025-01-01T00:00:00Z', creators: ['Tool: berth-ui-test'] }, packages: []
  }))
  await run('oras', ['attach', '--plain-http', '--artifact-type', SBOM_TYPE, subject, 'sbom.spdx.json:application/spdx+json'], env, dir)
  const cosignTag = `${imageDigest.replace(':', '-')}.sig`
  const cosignSignature = (await run('crane', ['digest', '--insecure', `${R}/alice/app:${cosignTag}`], env, dir)).trim()
  const referrersResponse = await fetch(`${server.url}/v2/alice/app/referrers/${imageDigest}`, { headers: { authorization: basic('alice') } })
  const referrers = (await referrersResponse.json() as { manifests: Array<{ digest: string, artifactType?: string }> }).manifests
  const referrer = (type: string): string => {
    const found = referrers.filter(r => r.artifactType === type)
    if (found.length !== 1) throw new Error(`expected one referrer of type ${type}, got ${JSON.stringify(referrers)}`)
    return found[0]?.digest as string
  }

  // helm: a chart in alice/charts.
  await run('helm', ['create', 'webchart'], env, dir)
  await run('helm', ['package', 'webchart'], env, dir)
  await run('helm', ['push', '--plain-http', 'webchart-0.1.0.tgz', `oci://${R}/alice/charts`], env, dir)

  // The CNR API: alice/stack 1.0.0 and 1.1.0 (helm), channel stable -> 1.1.0, and 0.9.0 pushed then deleted.
  const cnr = async (method: string, p: string, body?: unknown): Promise<void> => {
    const res = await fetch(`${server.url}/cnr/api/v1/packages/alice/stack${p}`, {
      method, headers: { authorization: basic('alice'), 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body)
    })
    if (!res.ok) throw new Error(`CNR ${method} ${p}: ${res.status} ${await res.text()}`)
  }
  let chartTarball: Buffer = Buffer.alloc(0)
  for (const release of ['0.9.0', '1.0.0', '1.1.0']) {
    chartTarball = await tarGz(HELM_FILES('stack', release))
    await cnr('POST', '', { release, media_type: 'helm', blob: chartTarball.toString('base64') })
  }
  await cnr('POST', '/channels/stable/1.1.0')
  await cnr('DELETE', '/0.9.0/helm')

  // /packages: two versions of one package, one of another.
  const packageFile = await tarGz({ 'tool/README': 'tool 1.2.0\n' })
  for (const [file, body] of [['tool-1.1.0.tar.gz', await tarGz({ 'tool/README': 'tool 1.1.0\n' })], ['tool-1.2.0.tar.gz', packageFile],
    ['agent-0.3.0.tar.gz', await tarGz({ 'agent/README': 'agent\n' })]] as const) {
    const res = await fetch(`${server.url}/packages/${file}`, { method: 'PUT', headers: { authorization: basic('alice') }, body: new Uint8Array(body) })
    if (!res.ok) throw new Error(`PUT /packages/${file}: ${res.status}`)
  }

  // Thousands of tags on one small image, over plain OCI HTTP.
  const api = async (method: string, p: string, body?: Buffer | string, type?: string): Promise<Response> => {
    const res = await fetch(`${server.url}/v2/alice/many${p}`, {
      method, headers: { authorization: basic('alice'), ...(type === undefined ? {} : { 'content-type': type }) },
      body: typeof body === 'string' || body === undefined ? body : new Uint8Array(body)
    })
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`)
    return res
  }
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
  await api('POST', `/blobs/uploads/?digest=${sha256(config)}`, config, 'application/octet-stream')
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: []
  })
  const tags = Array.from({ length: MANY_TAGS }, (_, i) => `t${String(i).padStart(5, '0')}`)
  let next = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < tags.length) {
      const tag = tags[next++] as string
      await api('PUT', `/manifests/${tag}`, manifest, 'application/vnd.oci.image.manifest.v1+json')
    }
  }))
  return {
    imageDigest,
    signatures: { cosign: cosignSignature, notation: referrer(NOTATION_TYPE) },
    sbom: referrer(SBOM_TYPE),
    attestation: referrer(SIGSTORE_BUNDLE_TYPE),
    chartTarball,
    packageFile
  }
}
