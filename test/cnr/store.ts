// A Berth server for the bad-input tests whose store the test can see: every key of the filesystem store,
// to prove that a refused request leaves nothing behind, and a driver to plant records an older Berth wrote.
import { readdirSync } from 'node:fs'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js'
import { type Api, sha256, startApi } from './helpers.js'

export interface StoreApi extends Api {
  app: FastifyInstance
  dataDir: string
  /** Every object key in the store, sorted (temporary and lock files are not keys). */
  keys: () => string[]
  driver: () => Promise<FilesystemDriver>
}

export function listKeys (dataDir: string): string[] {
  const root = path.join(dataDir, 'objects')
  const keys: string[] = []
  const walk = (dir: string): void => {
    let entries
    try {
      entries = readdirSync(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(full)
      else keys.push(path.relative(root, full))
    }
  }
  walk(root)
  return keys.sort()
}

export async function startStoreApi (t: Test, env: Record<string, string> = {}): Promise<StoreApi> {
  const api = await startApi(t, env)
  return {
    ...api,
    keys: () => listKeys(api.dataDir),
    driver: async () => {
      const driver = new FilesystemDriver({ root: api.dataDir })
      await driver.init()
      return driver
    }
  }
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'

/** Uploads a blob through /v2 in one request. */
export async function uploadBlob (t: Test, api: Api, name: string, blob: Buffer): Promise<string> {
  const digest = sha256(blob)
  const res = await api.request('POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, { body: blob, headers: { 'content-type': 'application/octet-stream' } })
  t.equal(res.status, 201, `blob ${digest.slice(0, 19)} uploaded`)
  return digest
}

/**
 * Pushes, through /v2, a kpm package manifest (as another client would) whose layer is `layer`, with
 * optional manifest annotations; returns the PUT response.
 */
export async function putPackageManifest (t: Test, api: Api, name: string, tag: string, layer: Buffer, annotations?: Record<string, string>) {
  await uploadBlob(t, api, name, layer)
  await uploadBlob(t, api, name, Buffer.from('{}'))
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: 'application/vnd.appr.package-manifest.kpm.v0.json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
    layers: [{ mediaType: 'application/vnd.appr.package.kpm.v0.tar+gzip', digest: sha256(layer), size: layer.length }],
    ...(annotations === undefined ? {} : { annotations })
  })
  return await api.request('PUT', `/v2/${name}/manifests/${tag}`, { body: manifest, headers: { 'content-type': OCI_MANIFEST } })
}
