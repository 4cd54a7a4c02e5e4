// The benchmark's workloads. Load generators are the same for every registry: wrk for small requests,
// curl for whole-blob transfers, zb for zot's own mixed tests, and Node's fetch for chunked pushes.
// Every workload checks what it got (status, digest) so a fast wrong answer never counts.
import { execFile, spawn } from 'node:child_process'
import { createHash, randomFillSync } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import type { RunningRegistry } from './registries.js'

const run = promisify(execFile)
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json'

export const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

async function expect (res: Response, status: number[], what: string): Promise<Response> {
  if (!status.includes(res.status)) throw new Error(`${what}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`)
  return res
}

function absolute (reg: RunningRegistry, location: string | null): string {
  if (location === null) throw new Error('no Location header')
  return new URL(location, reg.url).toString()
}

/** Pushes a small blob in one POST + PUT. */
export async function pushBlob (reg: RunningRegistry, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes)
  const start = await expect(await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' }), [202], 'start upload')
  await start.arrayBuffer()
  const url = new URL(absolute(reg, start.headers.get('location')))
  url.searchParams.set('digest', digest)
  const res = await fetch(url, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'Content-Type': 'application/octet-stream' } })
  await (await expect(res, [201], 'commit upload')).arrayBuffer()
  return digest
}

/** Pushes a one-layer image manifest under `tag` and returns its digest and bytes. */
export async function pushImage (reg: RunningRegistry, repo: string, tag: string, layer: Buffer): Promise<{ digest: string, bytes: Buffer, layer: string }> {
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
  const configDigest = await pushBlob(reg, repo, config)
  const layerDigest = await pushBlob(reg, repo, layer)
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }]
  }))
  await putManifest(reg, repo, tag, manifest)
  return { digest: sha256(manifest), bytes: manifest, layer: layerDigest }
}

export async function putManifest (reg: RunningRegistry, repo: string, reference: string, manifest: Buffer): Promise<void> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT', body: new Uint8Array(manifest), headers: { 'Content-Type': MANIFEST_TYPE }
  })
  await (await expect(res, [201], `put manifest ${reference}`)).arrayBuffer()
}

/** wrk GETs of one URL; returns requests per second. Fails if any answer was not 2xx/3xx. */
export async function wrk (url: string, opts: { headers?: Record<string, string>, connections: number, seconds: number }): Promise<number> {
  const args = ['-t', '2', '-c', String(opts.connections), '-d', `${opts.seconds}s`]
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`)
  const { stdout } = await run('wrk', [...args, url], { maxBuffer: 1 << 20 })
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)
  if (errors !== null) throw new Error(`wrk ${url}: ${errors[1]} non-2xx answers`)
  const socketErrors = /Socket errors: (.*)/.exec(stdout)
  if (socketErrors !== null && /(read|write|timeout) [1-9]/.test(socketErrors[1] as string)) throw new Error(`wrk ${url}: socket errors ${socketErrors[1]}`)
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout)
  if (rps === null) throw new Error(`wrk ${url}: no Requests/sec in ${stdout}`)
  return Number(rps[1])
}

/**
 * HEAD requests with ab (apache2-utils): wrk cannot measure HEAD, its parser waits for the body that a HEAD
 * answer's Content-Length announces. Returns requests per second; fails on any non-2xx answer.
 */
export async function abHead (url: string, opts: { headers?: Record<string, string>, connections: number, seconds: number }): Promise<number> {
  const args = ['-k', '-i', '-q', '-c', String(opts.connections), '-t', String(opts.seconds), '-n', '100000000']
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`)
  const { stdout } = await run('ab', [...args, url], { maxBuffer: 1 << 20 })
  const failed = /Failed requests:\s+(\d+)/.exec(stdout)
  const non2xx = /Non-2xx responses:\s+(\d+)/.exec(stdout)
  if ((failed !== null && failed[1] !== '0') || non2xx !== null) throw new Error(`ab ${url}: failed ${failed?.[1]}, non-2xx ${non2xx?.[1] ?? 0}`)
  const rps = /Requests per second:\s+([\d.]+)/.exec(stdout)
  if (rps === null) throw new Error(`ab ${url}: no Requests per second in ${stdout}`)
  return Number(rps[1])
}

/** A file of random bytes and its digest, written in 64 MiB pieces so memory stays small. */
export function makeBlobFile (dir: string, bytes: number, name = 'blob'): { file: string, digest: string, size: number } {
  const file = path.join(dir, `${name}-${bytes}`)
  const fd = openSync(file, 'w')
  const hash = createHash('sha256')
  const piece = Buffer.allocUnsafe(64 * 1024 * 1024)
  for (let written = 0; written < bytes;) {
    const n = Math.min(piece.length, bytes - written)
    randomFillSync(piece, 0, n)
    hash.update(piece.subarray(0, n))
    writeSync(fd, piece, 0, n)
    written += n
  }
  closeSync(fd)
  return { file, digest: `sha256:${hash.digest('hex')}`, size: bytes }
}

async function curl (args: string[]): Promise<{ code: number, seconds: number }> {
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', ...args], { maxBuffer: 1 << 20 })
  const [code, seconds] = stdout.trim().split(' ')
  return { code: Number(code), seconds: Number(seconds) }
}

/** POST, then one streamed PUT ?digest= of the whole file (curl -T). Returns MB/s over both requests. */
export async function monolithicPush (reg: RunningRegistry, repo: string, blob: { file: string, digest: string, size: number }): Promise<number> {
  const started = performance.now()
  const start = await expect(await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' }), [202], 'start upload')
  await start.arrayBuffer()
  const url = new URL(absolute(reg, start.headers.get('location')))
  url.searchParams.set('digest', blob.digest)
  const put = await curl(['-X', 'PUT', '-T', blob.file, '-H', 'Content-Type: application/octet-stream', url.toString()])
  if (put.code !== 201) throw new Error(`monolithic push: HTTP ${put.code}`)
  return blob.size / 1e6 / ((performance.now() - started) / 1000)
}

/** POST, 10 MiB PATCHes with Content-Range, then PUT ?digest=. Returns MB/s. */
export async function chunkedPush (reg: RunningRegistry, repo: string, blob: { file: string, digest: string, size: number }, chunk = 10 * 1024 * 1024): Promise<number> {
  const fd = openSync(blob.file, 'r')
  const buffer = Buffer.allocUnsafe(chunk)
  try {
    const started = performance.now()
    const start = await expect(await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' }), [202], 'start upload')
    await start.arrayBuffer()
    let location = absolute(reg, start.headers.get('location'))
    for (let offset = 0; offset < blob.size;) {
      const n = readSync(fd, buffer, 0, Math.min(chunk, blob.size - offset), offset)
      const res = await fetch(location, {
        method: 'PATCH',
        body: new Uint8Array(buffer.buffer, buffer.byteOffset, n),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + n - 1}`, 'Content-Length': String(n) }
      })
      await (await expect(res, [202], `PATCH at ${offset}`)).arrayBuffer()
      location = absolute(reg, res.headers.get('location'))
      offset += n
    }
    const url = new URL(location)
    url.searchParams.set('digest', blob.digest)
    await (await expect(await fetch(url, { method: 'PUT' }), [201], 'commit chunked upload')).arrayBuffer()
    return blob.size / 1e6 / ((performance.now() - started) / 1000)
  } finally {
    closeSync(fd)
  }
}

/** GETs a whole blob with curl and checks its digest by streaming it through sha256sum. Returns MB/s. */
export async function blobPull (reg: RunningRegistry, repo: string, blob: { digest: string, size: number }, passes = 3): Promise<number> {
  const url = `${reg.url}/v2/${repo}/blobs/${blob.digest}`
  // The median of a few pulls: the first pull of a process also pays for its JIT warming up, and with several
  // workers each pull may land on another.
  const speeds: number[] = []
  for (let i = 0; i < passes; i++) {
    const timed = await curl(['-L', url])
    if (timed.code !== 200) throw new Error(`blob pull: HTTP ${timed.code}`)
    speeds.push(blob.size / 1e6 / timed.seconds)
  }
  // An unmeasured pass checks the bytes, so the measured passes pay no hashing cost.
  const check = await run('bash', ['-c', `curl -sSL '${url}' | sha256sum`], { maxBuffer: 1 << 20 })
  if (`sha256:${check.stdout.split(' ')[0]}` !== blob.digest) throw new Error('blob pull: digest mismatch')
  return speeds.sort((a, b) => a - b)[Math.floor(speeds.length / 2)] as number
}

/** Time to `cat` the file, as the machine's ceiling for serving it (MB/s). */
export async function catSpeed (file: string, size: number): Promise<number> {
  const started = performance.now()
  await run('bash', ['-c', `cat '${file}' > /dev/null`])
  return size / 1e6 / ((performance.now() - started) / 1000)
}

/** zot's zb benchmark tool, one named test; returns requests per second, or undefined when zb failed. */
export async function zb (zbBin: string, reg: RunningRegistry, test: string, opts: { concurrency: number, requests: number }): Promise<number | undefined> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-zb-'))
  try {
    const code = await new Promise<number>(resolve => {
      // zb removes its working directory when it is done, so it gets one of its own below where its results land.
      const child = spawn(zbBin, ['-c', String(opts.concurrency), '-n', String(opts.requests), '-t', `^${test}$`, '-o', 'ci-cd', '-d', path.join(dir, 'work'), reg.url],
        { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] })
      child.once('exit', c => { resolve(c ?? 1) })
    })
    if (code !== 0) return undefined
    const results = JSON.parse(readFileSync(path.join(dir, 'ci-cd.json'), 'utf8')) as Array<{ name: string, value: number }>
    return results.find(r => r.name === test)?.value
  } catch {
    return undefined
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Tags `count` tags t000000… on one manifest, `concurrency` PUTs at a time. */
export async function tagMany (reg: RunningRegistry, repo: string, manifest: Buffer, count: number, concurrency = 8): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++
      await putManifest(reg, repo, `t${String(i).padStart(6, '0')}`, manifest)
    }
  }))
}
