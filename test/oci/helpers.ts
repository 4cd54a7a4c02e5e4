// Small helpers for the /v2 API tests: digests, pushes through the HTTP API, the OCI error envelope,
// and direct looks at the filesystem store behind a test app.
import { createHash } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { Config } from '../../src/config.js'
import { paths } from '../../src/storage/paths.js'

export type Res = LightMyRequestResponse

/** The parts of a response the assertions read: an inject() response or a raw HTTP one. */
export interface AnyRes {
  statusCode: number
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip'
} as const

/**
 * Options for a test that documents a server bug: `{ todo: 'server bug: …' }`, which tap reports without
 * running. Set BERTH_RUN_SERVER_BUGS=1 to run these tests for real (to see them fail, or pass once fixed).
 */
export const ZERO_DIGEST = `sha256:${'0'.repeat(64)}`

export function sha256 (data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

export function sha512 (data: Buffer | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`
}

/** A header as one string (inject may hand back numbers or arrays). */
export function header (res: AnyRes, name: string): string | undefined {
  const value = res.headers[name.toLowerCase()]
  if (value === undefined) return undefined
  return Array.isArray(value) ? value.join(', ') : String(value)
}

/** Every value of a header that may be sent more than once. */
export function headerList (res: AnyRes, name: string): string[] {
  const value = res.headers[name.toLowerCase()]
  if (value === undefined) return []
  return (Array.isArray(value) ? value : [String(value)]).flatMap(v => v.split(',')).map(v => v.trim())
}

/**
 * Asserts the OCI error envelope {"errors":[{code,message,detail}]} with a JSON content type (never HTML),
 * and the status when given. Returns the code, and the first error for further checks.
 */
export function ociError (t: Test, res: AnyRes, status?: number, label = ''): string {
  return ociErrorEntry(t, res, status, label).code
}

export function ociErrorEntry (t: Test, res: AnyRes, status?: number, label = ''): { code: string, message: string, detail: unknown } {
  const at = label === '' ? '' : `${label}: `
  if (status !== undefined) t.equal(res.statusCode, status, `${at}error status`)
  t.match(header(res, 'content-type') ?? '', /^application\/json\b/, `${at}error content type is JSON`)
  let body: unknown
  try {
    body = JSON.parse(res.body)
  } catch {
    t.fail(`${at}error body is not JSON: ${res.body.slice(0, 200)}`)
    return { code: '', message: '', detail: undefined }
  }
  const errors = (body as { errors?: unknown }).errors
  t.ok(Array.isArray(errors) && errors.length >= 1, `${at}body has a non-empty errors array`)
  const first = (Array.isArray(errors) ? errors[0] : undefined) as Record<string, unknown> | undefined
  t.type(first?.code, 'string', `${at}error code is a string`)
  t.type(first?.message, 'string', `${at}error message is a string`)
  t.ok(first !== undefined && 'detail' in first, `${at}error has a detail member`)
  return { code: String(first?.code), message: String(first?.message), detail: first?.detail }
}

/** Asserts the envelope, status and code in one call. */
export function expectError (t: Test, res: AnyRes, status: number, code: string, label = ''): { code: string, message: string, detail: unknown } {
  const entry = ociErrorEntry(t, res, status, label)
  t.equal(entry.code, code, `${label === '' ? '' : `${label}: `}error code ${code}`)
  return entry
}

/** Pushes a blob monolithically (POST ?digest=) and asserts the 201. Returns its digest. */
export async function pushBlob (app: FastifyInstance, name: string, bytes: Buffer | string, algorithm: 'sha256' | 'sha512' = 'sha256'): Promise<string> {
  const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes)
  const digest = algorithm === 'sha256' ? sha256(data) : sha512(data)
  const res = await app.inject({
    method: 'POST',
    url: `/v2/${name}/blobs/uploads/?digest=${digest}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: data
  })
  if (res.statusCode !== 201) throw new Error(`pushBlob ${name} ${digest}: ${res.statusCode} ${res.body}`)
  return digest
}

export interface Pushed {
  res: Res
  digest: string
  bytes: Buffer
}

/** PUTs a manifest (object → JSON.stringify, or exact bytes) with a Content-Type. Does not assert. */
export async function putManifest (app: FastifyInstance, name: string, reference: string, doc: unknown, mediaType?: string, query = ''): Promise<Pushed> {
  const bytes = Buffer.isBuffer(doc) ? doc : Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc))
  const headers: Record<string, string> = {}
  if (mediaType !== undefined) headers['content-type'] = mediaType
  const res = await app.inject({ method: 'PUT', url: `/v2/${name}/manifests/${reference}${query}`, headers, payload: bytes })
  return { res, digest: sha256(bytes), bytes }
}

/** PUTs a manifest and requires 201. */
export async function pushManifest (app: FastifyInstance, name: string, reference: string, doc: unknown, mediaType: string, query = ''): Promise<Pushed> {
  const pushed = await putManifest(app, name, reference, doc, mediaType, query)
  if (pushed.res.statusCode !== 201) {
    throw new Error(`pushManifest ${name}:${reference}: ${pushed.res.statusCode} ${pushed.res.body}`)
  }
  return pushed
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  [key: string]: unknown
}

export function descriptor (mediaType: string, bytes: Buffer | string, extra: Record<string, unknown> = {}): Descriptor {
  const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes)
  return { mediaType, digest: sha256(data), size: data.length, ...extra }
}

export interface Image {
  config: Descriptor
  layers: Descriptor[]
  manifest: Record<string, unknown>
}

/**
 * Pushes a config blob and one layer blob (distinct per `seed`), and returns an OCI image manifest
 * document for them (not pushed).
 */
export async function pushImageBlobs (app: FastifyInstance, name: string, seed: string, extra: Record<string, unknown> = {}): Promise<Image> {
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }))
  const layerBytes = Buffer.from(`layer bytes for ${seed}`)
  await pushBlob(app, name, configBytes)
  await pushBlob(app, name, layerBytes)
  const config = descriptor(MT.ociConfig, configBytes)
  const layers = [descriptor(MT.ociLayer, layerBytes)]
  return { config, layers, manifest: { schemaVersion: 2, mediaType: MT.ociManifest, config, layers, ...extra } }
}

/** Pushes an image (blobs and manifest) under `reference`. */
export async function pushImage (app: FastifyInstance, name: string, reference: string, seed = reference, extra: Record<string, unknown> = {}): Promise<Pushed & Image> {
  const image = await pushImageBlobs(app, name, seed, extra)
  const pushed = await pushManifest(app, name, reference, image.manifest, MT.ociManifest)
  return { ...image, ...pushed }
}

// ---- the store behind a test app ----
// Keys are read through the app's storage driver (the key layout is src/storage/paths.ts); diskFiles()
// looks at the files themselves, whatever the driver names them.

/** The stored bytes of a blob (or manifest) in the content-addressed store, or undefined when absent. */
export async function storedBlob (app: FastifyInstance, digest: string): Promise<Buffer | undefined> {
  const key = paths.blob(digest)
  if (await app.berth.registry.driver.stat(key) === undefined) return undefined
  return await app.berth.registry.driver.readAll(key)
}

/** Every key under a prefix (ending in '/'), in order; [] when there is none. */
export async function storeKeys (app: FastifyInstance, prefix: string): Promise<string[]> {
  const keys: string[] = []
  let startAfter: string | undefined
  for (;;) {
    const page = await app.berth.registry.driver.list(prefix, { limit: 1000, startAfter })
    keys.push(...page.keys)
    if (!page.truncated) return keys
    startAfter = page.keys.at(-1)
  }
}

/** Regular files on disk below <root>/objects/<dir>, relative to that directory; [] when it does not exist. */
export async function diskFiles (config: Config, dir: string): Promise<string[]> {
  const root = path.join(config.storage.root, 'objects', ...dir.split('/').filter(s => s !== ''))
  const out: string[] = []
  const walk = async (current: string): Promise<void> => {
    let entries
    try {
      entries = await fs.readdir(current, { withFileTypes: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name)
      if (entry.isDirectory()) await walk(full)
      else out.push(path.relative(root, full).split(path.sep).join('/'))
    }
  }
  await walk(root)
  return out.sort()
}

/** Follows `Link: <url>; rel="next"`, returning the URL or undefined. */
export function nextLink (res: AnyRes): string | undefined {
  const link = header(res, 'link')
  if (link === undefined) return undefined
  const match = /^<([^>]+)>;\s*rel="next"$/.exec(link)
  if (match === null) throw new Error(`malformed Link header: ${link}`)
  return match[1]
}

/**
 * Sends a request over a real socket with the path exactly as given (inject() resolves `..` and `.`
 * segments the way a URL parser does, so paths like /v2/a/../b never reach the server through it).
 */
export async function rawRequest (app: FastifyInstance, method: string, rawPath: string): Promise<AnyRes> {
  if (!app.server.listening) await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}
