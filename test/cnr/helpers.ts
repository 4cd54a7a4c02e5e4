// Helpers for the CNR API tests: a real Berth server on a loopback port (built in-process, so each test
// can have a fresh store of its own), raw HTTP requests that can carry a body on any method (the APPR
// tests send JSON even on GET), tarball fixtures, and the checklist's seed package pushed through the API.
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import http, { type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import tar from 'tar-stream'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import { startServer } from '../helpers/server-process.js'

export interface Res {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  text: string
  json: <T = unknown>() => T
}

export interface RequestOptions {
  /** Sent as JSON (with Content-Type: application/json unless headers say otherwise). */
  json?: unknown
  body?: string | Buffer
  headers?: Record<string, string>
}

export interface Api {
  /** host:port */
  host: string
  url: string
  request: (method: string, path: string, options?: RequestOptions) => Promise<Res>
}

export function request (url: string, method: string, path: string, options: RequestOptions = {}): Promise<Res> {
  const headers: Record<string, string> = { ...options.headers }
  let body: Buffer | undefined
  if (options.json !== undefined) {
    body = Buffer.from(JSON.stringify(options.json))
    headers['content-type'] ??= 'application/json'
  } else if (options.body !== undefined) {
    body = Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body)
  }
  if (body !== undefined) headers['content-length'] = String(body.length)
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, url), { method, headers }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const data = Buffer.concat(chunks)
        const text = data.toString('utf8')
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data, text, json: <T>() => JSON.parse(text) as T })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * A Berth server on a fresh store (a temporary directory of its own, so the test may still use
 * t.testdir()), listening on 127.0.0.1; closed and removed when the test ends. CNR_TEST_LOG=1 logs.
 */
export async function startApi (t: Test, env: Record<string, string> = {}): Promise<Api & { app: FastifyInstance, dataDir: string }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-cnr-'))
  const log = process.env.CNR_TEST_LOG === '1'
  const config = loadConfig({ BERTH_DATA_DIR: dataDir, LOG_LEVEL: log ? 'debug' : 'silent', ...env })
  const app = await buildApp(await createBerth(config))
  t.teardown(async () => {
    await app.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`
  return { app, dataDir, host: `127.0.0.1:${port}`, url, request: async (method, path, options) => await request(url, method, path, options) }
}

/** Berth as a real child process (what `npm start` runs) on a fresh store; stopped when the test ends. */
export async function startServerApi (t: Test): Promise<Api> {
  const server = await startServer(t, { LOG_LEVEL: process.env.CNR_TEST_LOG === '1' ? 'debug' : 'error' })
  return { host: server.host, url: server.url, request: async (method, p, options) => await request(server.url, method, p, options) }
}

/** A gzipped tar of the given files, byte-for-byte reproducible. */
export async function tarGz (files: Record<string, string | Buffer>): Promise<Buffer> {
  const pack = tar.pack()
  for (const [name, content] of Object.entries(files)) {
    pack.entry({ name, mtime: new Date(0), mode: 0o644, uname: 'berth', gname: 'berth' }, content)
  }
  pack.finalize()
  const chunks: Buffer[] = []
  for await (const chunk of pack) chunks.push(chunk as Buffer)
  return gzipSync(Buffer.concat(chunks))
}

/** The CNR digest: sha256 of the uncompressed tar, hex. */
export function cnrDigest (tgz: Buffer): string {
  return createHash('sha256').update(gunzipSync(tgz)).digest('hex')
}

export function sha256 (data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

/** Asserts the CNR error body ({code, message, details}, JSON, never HTML) and the status. */
export function assertCnrError (t: Test, res: Res, status: number, code?: string): void {
  t.equal(res.status, status, `status ${status}`)
  t.match(res.headers['content-type'], /^application\/json/, 'error is JSON')
  const body = res.json<{ code: unknown, message: unknown, details: unknown }>()
  t.same(Object.keys(body).sort(), ['code', 'details', 'message'], 'error body is {code, message, details}')
  t.type(body.message, 'string')
  t.type(body.details, 'object')
  if (code !== undefined) t.equal(body.code, code, `error code ${code}`)
}

export const KPM_FILES = (release: string): Record<string, string> => ({
  'rocketchat/manifest.jsonnet': `{ package: { name: "titi/rocketchat", version: "${release}" } }\n`,
  'rocketchat/README.md': `rocketchat ${release}\n`
})

export const HELM_FILES = (name: string, version: string): Record<string, string> => ({
  [`${name}/Chart.yaml`]: `apiVersion: v2\nname: ${name}\nversion: ${version}\ndescription: ${name} chart for tests\ntype: application\nappVersion: "1.0"\n`,
  [`${name}/values.yaml`]: 'replicaCount: 1\n',
  [`${name}/templates/configmap.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  v: "${version}"\n`
})

export interface Seed {
  /** The tarball pushed for each release and media type, keyed `<release>/<media type>`. */
  blobs: Record<string, Buffer>
}

/** Pushes a release through the CNR API (JSON body, force as the string "true" when asked). */
export async function push (api: Api, pkg: string, release: string, mediaType: string, blob: Buffer, force = false): Promise<Res> {
  const body: Record<string, unknown> = { release, media_type: mediaType, blob: blob.toString('base64') }
  if (force) body.force = 'true'
  return await api.request('POST', `/cnr/api/v1/packages/${pkg}`, { json: body })
}

/**
 * The checklist's `db_with_data1`, pushed through the API: titi/rocketchat with 0.0.1 (kpm, helm), 1.0.1
 * (kpm) and 2.0.1 (kpm); channel dev -> 1.0.1 (releases [1.0.1]) and stable -> 2.0.1 (releases [2.0.1, 1.0.1]).
 */
export async function seedRocketchat (t: Test, api: Api): Promise<Seed> {
  const blobs: Record<string, Buffer> = {
    '0.0.1/kpm': await tarGz(KPM_FILES('0.0.1')),
    '0.0.1/helm': await tarGz(HELM_FILES('rocketchat', '0.0.1')),
    '1.0.1/kpm': await tarGz(KPM_FILES('1.0.1')),
    '2.0.1/kpm': await tarGz(KPM_FILES('2.0.1'))
  }
  for (const [key, blob] of Object.entries(blobs)) {
    const [release, mediaType] = key.split('/') as [string, string]
    const res = await push(api, 'titi/rocketchat', release, mediaType, blob)
    if (res.status !== 200) t.fail(`seeding ${key}: ${res.status} ${res.text}`)
  }
  for (const [channel, release] of [['dev', '1.0.1'], ['stable', '1.0.1'], ['stable', '2.0.1']]) {
    const res = await api.request('POST', `/cnr/api/v1/packages/titi/rocketchat/channels/${channel}/${release}`, { json: {} })
    if (res.status !== 200) t.fail(`seeding channel ${channel}: ${res.status} ${res.text}`)
  }
  return { blobs }
}
