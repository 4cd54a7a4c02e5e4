// Runs a real MinIO server for a tap test: the pinned build from scripts/tools.json (installed by
// `node scripts/install-tools.mjs minio`, which npm test's pretest runs), on 127.0.0.1, a free port and a
// temporary directory. Missing binary = a failing test with instructions, never a skip. The server can be
// killed, paused and restarted (same port, same data) for fault tests; it is stopped when the test ends.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from 'minio'
import type { Test } from 'tap'
import { toolPath } from '../../scripts/tool-paths.mjs'
import { freePort, killWithThisProcess } from './server-process.js'

export interface MinioServer {
  endpoint: string
  accessKey: string
  secretKey: string
  /** An admin client for assertions (lists objects and incomplete multipart uploads). */
  client: Client
  /** Berth's environment for BERTH_STORAGE=s3 on this server and `bucket`. */
  env: (bucket: string, extra?: Record<string, string>) => Record<string, string>
  /** Stops the server abruptly (SIGKILL). */
  kill: () => Promise<void>
  /** Starts it again on the same port with the same data. */
  restart: () => Promise<void>
  /** SIGSTOP: a server that accepts connections but never answers. Resolves once every thread is stopped. */
  pause: () => Promise<void>
  resume: () => void
}

let counter = 0

/** A bucket name no other test uses. */
export function uniqueBucket (label = 't'): string {
  return `berth-${label}-${process.pid}-${++counter}-${randomBytes(3).toString('hex')}`.toLowerCase().slice(0, 63)
}

export function minioBinary (): string {
  const binary = toolPath('minio')
  if (!existsSync(binary)) {
    throw new Error(`MinIO is not installed at ${binary}: run \`node scripts/install-tools.mjs minio\` ` +
      '(npm test runs it as pretest). These tests need a real MinIO server and are never skipped.')
  }
  return binary
}

export async function startMinio (t: Test): Promise<MinioServer> {
  const binary = minioBinary()
  const port = await freePort()
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-minio-test-'))
  const accessKey = `berth${randomBytes(4).toString('hex')}`
  const secretKey = randomBytes(16).toString('hex')
  const endpoint = `http://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  let log = ''

  const launch = async (): Promise<void> => {
    log = ''
    const proc = spawn(binary, ['server', '--quiet', '--address', `127.0.0.1:${port}`, path.join(dir, 'data')], {
      env: { ...process.env, MINIO_ROOT_USER: accessKey, MINIO_ROOT_PASSWORD: secretKey, MINIO_BROWSER: 'off', MINIO_UPDATE: 'off' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    child = proc
    killWithThisProcess(proc) // MinIO dies with the test process even when that is killed without teardown
    proc.stdout?.on('data', (d: Buffer) => { log += d.toString() })
    proc.stderr?.on('data', (d: Buffer) => { log += d.toString() })
    for (let i = 0; i < 300; i++) {
      if (proc.exitCode !== null) throw new Error(`MinIO exited with ${proc.exitCode} during startup:\n${log}`)
      try {
        // Ready, and answering signed S3 requests (its IAM is loaded a moment after the probe turns green).
        if ((await fetch(`${endpoint}/minio/health/ready`)).ok) {
          await client.listBuckets()
          return
        }
      } catch {}
      await sleep(100)
    }
    proc.kill('SIGKILL')
    throw new Error(`MinIO did not become ready on ${endpoint} within 30 s:\n${log}`)
  }

  const kill = async (): Promise<void> => {
    const proc = child
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise(resolve => proc.once('exit', resolve))
    proc.kill('SIGCONT')
    proc.kill('SIGKILL')
    await exited
  }

  const client = new Client({ endPoint: '127.0.0.1', port, useSSL: false, accessKey, secretKey, region: 'us-east-1' })
  await launch()
  t.teardown(async () => {
    await kill()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    endpoint,
    accessKey,
    secretKey,
    client,
    env: (bucket, extra = {}) => ({
      BERTH_STORAGE: 's3',
      BERTH_S3_ENDPOINT: endpoint,
      BERTH_S3_ACCESS_KEY: accessKey,
      BERTH_S3_SECRET_KEY: secretKey,
      BERTH_S3_BUCKET: bucket,
      BERTH_S3_REGION: 'us-east-1',
      ...extra
    }),
    kill,
    restart: async () => {
      await kill()
      await launch()
    },
    pause: async () => {
      const pid = child?.pid
      if (pid === undefined) throw new Error('MinIO is not running')
      process.kill(pid, 'SIGSTOP')
      // The stop reaches each thread when it is next scheduled: wait until all of them are stopped ('T').
      for (let i = 0; i < 200 && !allStopped(pid); i++) await sleep(10)
      if (!allStopped(pid)) throw new Error('MinIO did not stop')
    },
    resume: () => { child?.kill('SIGCONT') }
  }
}

function allStopped (pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).every(task => {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8')
      return /^\S+ \(.*\) [Tt] /.test(stat)
    })
  } catch {
    return false
  }
}

/** Every object name in the bucket (the driver's internal names, '!'-suffixed). */
export async function listObjectNames (client: Client, bucket: string): Promise<string[]> {
  const names: string[] = []
  for (let token = ''; ;) {
    const page = await client.listObjectsV2Query(bucket, '', token, '', 1000, '')
    for (const o of page.objects) if (o.name !== undefined) names.push(o.name)
    if (!page.isTruncated) return names
    token = page.nextContinuationToken
  }
}

/** The multipart uploads still open in the bucket. */
export async function listMultipartUploads (client: Client, bucket: string): Promise<string[]> {
  const result = await client.listIncompleteUploadsQuery(bucket, '', '', '', '')
  return result.uploads.map(u => `${u.key} ${u.uploadId}`)
}

// ---- pushing through a real Berth server (fetch), for the tests on MinIO ----------------------------------------

/** POST a new upload session; returns its Location (a path). */
export async function startUpload (base: string, name: string): Promise<string> {
  const res = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST' })
  await res.arrayBuffer()
  const location = res.headers.get('location')
  if (res.status !== 202 || location === null) throw new Error(`POST upload: ${res.status}`)
  return location
}

/** PATCH one chunk with Content-Range. */
export async function patchChunk (base: string, location: string, chunk: Buffer, start: number): Promise<Response> {
  return await fetch(new URL(location, base), {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${start + chunk.length - 1}` },
    body: bytes(chunk)
  })
}

/** PUT ?digest= to complete a session, with an optional last chunk. */
export async function completeUpload (base: string, location: string, digest: string, last?: Buffer): Promise<Response> {
  const url = new URL(location, base)
  url.searchParams.set('digest', digest)
  return await fetch(url, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream' },
    ...(last === undefined ? {} : { body: bytes(last) })
  })
}

/** A whole blob in one request (POST ?digest=). */
export async function pushMonolithic (base: string, name: string, digest: string, data: Buffer): Promise<Response> {
  return await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: bytes(data)
  })
}

/** A Buffer as a fetch body (a view, not a copy). */
export function bytes (data: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.length)
}
