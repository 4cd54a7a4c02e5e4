// Shared by the garbage-collection tests: replicas (createBerth instances over one store), image pushes through
// the registry services, and pulls that check every digest.
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import type { Test } from 'tap'
import { createBerth, type Berth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import { RegistryError } from '../../src/errors/registry-error.js'

export const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`
export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** A replica: its own driver, caches and services over the store `env` names. */
export async function replica (t: Test, env: Record<string, string>, overrides: { uploadTtlMs?: number } = {}): Promise<Berth> {
  const config = { ...loadConfig({ LOG_LEVEL: 'silent', BERTH_GC_INTERVAL_SECONDS: '0', ...env }), ...overrides }
  const berth = await createBerth(config)
  t.teardown(async () => { await berth.close() })
  return berth
}

export interface Image {
  repository: string
  tag: string
  digest: string
  blobs: string[]
}

/** Uploads a blob (a new one, or bytes the store already holds: the upload then only links them). */
export async function upload (berth: Berth, repository: string, bytes: Buffer): Promise<string> {
  return (await berth.registry.uploads.putMonolithic(repository, sha256(bytes), Readable.from([bytes]))).digest
}

/** Pushes an image: its layers, a config, the manifest with a tag, as a client would. */
export async function pushImage (berth: Berth, repository: string, tag: string, layers: Buffer[], subject?: { digest: string, size: number }): Promise<Image> {
  const config = Buffer.from(JSON.stringify({ tag, nonce: randomBytes(4).toString('hex') }))
  for (const layer of layers) await upload(berth, repository, layer)
  await upload(berth, repository, config)
  const doc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: layers.map(l => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(l), size: l.length })),
    ...(subject === undefined ? {} : { subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...subject } })
  }
  const bytes = Buffer.from(JSON.stringify(doc))
  const put = await berth.registry.manifests.put(repository, subject === undefined ? tag : sha256(bytes), bytes, doc.mediaType)
  return { repository, tag, digest: put.digest, blobs: [sha256(config), ...layers.map(sha256)] }
}

/** A push as a client retries it: a manifest refused for a blob collected meanwhile is pushed again. */
export async function pushWithRetry (berth: Berth, repository: string, tag: string, layers: Buffer[]): Promise<Image> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await pushImage(berth, repository, tag, layers)
    } catch (err) {
      if (attempt < 3 && err instanceof RegistryError && err.reason === 'manifest-blob-unknown') continue
      throw err
    }
  }
}

/** Pulls the image's manifest and every blob it references; returns the problems found (none: intact). */
export async function pullProblems (berth: Berth, image: Image): Promise<string[]> {
  const problems: string[] = []
  const { registry } = berth
  try {
    const ref = await registry.manifests.resolve(image.repository, image.tag)
    const manifest = await registry.manifests.read(ref)
    if (sha256(manifest.bytes) !== image.digest) problems.push(`${image.tag}: manifest digest differs`)
    const doc = JSON.parse(manifest.bytes.toString('utf8')) as { config: { digest: string }, layers: Array<{ digest: string }> }
    for (const digest of [doc.config.digest, ...doc.layers.map(l => l.digest)]) {
      const { size } = await registry.blobs.stat(image.repository, digest)
      const chunks: Buffer[] = []
      for await (const chunk of await registry.blobs.open(image.repository, digest)) chunks.push(chunk as Buffer)
      const bytes = Buffer.concat(chunks)
      if (bytes.length !== size || sha256(bytes) !== digest) problems.push(`${image.tag}: blob ${digest} differs`)
    }
  } catch (err) {
    problems.push(`${image.repository}:${image.tag}: ${(err as Error).message}`)
  }
  return problems
}
