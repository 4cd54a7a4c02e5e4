// Side-by-side benchmark: the same workloads against Berth and against CNCF Distribution (Debian's
// docker-registry package), each on a fresh filesystem store on 127.0.0.1. Bounded in size and time.
//
// usage: npm run build && npx tsx bench/compare-registries.ts [--large-mib 256] [--small 400] [--concurrency 8]
// needs: docker-registry on the PATH (apt-get install docker-registry)
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { freePort } from '../test/helpers/server-process.js'

const { values: args } = parseArgs({
  options: {
    'large-mib': { type: 'string', default: '256' },
    small: { type: 'string', default: '400' },
    concurrency: { type: 'string', default: '8' }
  }
})
const LARGE = Number(args['large-mib']) * 1024 * 1024
const SMALL_COUNT = Number(args.small)
const CONCURRENCY = Number(args.concurrency)
const CHUNK = 1024 * 1024

interface Registry { name: string, url: string, child: ChildProcess, dir: string }

/** fetch() bodies are typed as Uint8Array views; this one shares the Buffer's memory. */
const view = (b: Buffer): Uint8Array<ArrayBuffer> => new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.length)

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

async function waitReady (url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`${url}: exited with ${child.exitCode}`)
    try { if ((await fetch(`${url}/v2/`)).ok) return } catch {}
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`${url} did not start`)
}

async function startBerth (): Promise<Registry> {
  const port = await freePort()
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-berth-'))
  const child = spawn(process.execPath, ['dist/server.js'], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), BERTH_DATA_DIR: dir, LOG_LEVEL: 'warn' },
    stdio: 'inherit'
  })
  const url = `http://127.0.0.1:${port}`
  await waitReady(url, child)
  return { name: 'berth', url, child, dir }
}

async function startDistribution (): Promise<Registry> {
  const port = await freePort()
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-distribution-'))
  const config = path.join(dir, 'config.yml')
  writeFileSync(config, [
    'version: 0.1',
    'log: { level: warn }',
    `storage: { filesystem: { rootdirectory: ${dir}/data }, delete: { enabled: true } }`,
    `http: { addr: 127.0.0.1:${port} }`
  ].join('\n'))
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'inherit'] })
  const url = `http://127.0.0.1:${port}`
  await waitReady(url, child)
  return { name: 'distribution 2.8.2', url, child, dir }
}

async function pool<T> (items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) await fn(items[next++] as T)
  }))
}

async function ok (res: Response, what: string): Promise<Response> {
  if (!res.ok) throw new Error(`${what}: ${res.status} ${await res.text()}`)
  return res
}

async function startUpload (r: Registry, repo: string): Promise<string> {
  const res = await ok(await fetch(`${r.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' }), 'POST upload')
  return new URL(res.headers.get('location') ?? '', r.url).toString()
}

const withDigest = (location: string, digest: string): string =>
  `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`

/** POST for a session, then one PUT with the whole blob: the flow every client supports. */
async function pushBlob (r: Registry, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data)
  const location = await startUpload(r, repo)
  await ok(await fetch(withDigest(location, digest), {
    method: 'PUT', body: view(data), headers: { 'content-type': 'application/octet-stream' }
  }), 'PUT blob')
  return digest
}

async function pullBlob (r: Registry, repo: string, digest: string): Promise<number> {
  const res = await ok(await fetch(`${r.url}/v2/${repo}/blobs/${digest}`), 'GET blob')
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk)
    bytes += chunk.length
  }
  if (`sha256:${hash.digest('hex')}` !== digest) throw new Error('pulled bytes differ')
  return bytes
}

async function timed (fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - start) / 1e9
}

const peakRssMiB = (child: ChildProcess): number => {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
}

async function run (r: Registry, large: Buffer): Promise<Record<string, string>> {
  const results: Record<string, string> = {}
  const mb = (bytes: number, seconds: number): string => `${(bytes / 1e6 / seconds).toFixed(0)} MB/s`
  const perSecond = (n: number, seconds: number): string => `${(n / seconds).toFixed(0)}/s`

  let digest = ''
  results['large blob push (POST + PUT)'] = mb(LARGE, await timed(async () => { digest = await pushBlob(r, 'bench/large', large) }))
  results['large blob pull'] = mb(LARGE, await timed(async () => { await pullBlob(r, 'bench/large', digest) }))

  const chunkedSeconds = await timed(async () => {
    let location = await startUpload(r, 'bench/chunked')
    for (let offset = 0; offset < LARGE; offset += CHUNK) {
      const chunk = large.subarray(offset, Math.min(offset + CHUNK, LARGE))
      const res = await ok(await fetch(location, {
        method: 'PATCH',
        body: view(chunk),
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` }
      }), 'PATCH')
      location = new URL(res.headers.get('location') ?? location, r.url).toString()
    }
    await ok(await fetch(withDigest(location, digest), { method: 'PUT' }), 'PUT complete')
  })
  results['chunked push (1 MiB PATCHes)'] = mb(LARGE, chunkedSeconds)

  const small = Array.from({ length: SMALL_COUNT }, () => randomBytes(4096))
  const digests: string[] = []
  results['4 KiB blob pushes'] = perSecond(SMALL_COUNT, await timed(async () => {
    await pool(small, async data => { digests.push(await pushBlob(r, 'bench/small', data)) })
  }))
  results['4 KiB blob pulls'] = perSecond(SMALL_COUNT, await timed(async () => {
    await pool(digests, async d => { await pullBlob(r, 'bench/small', d) })
  }))

  const config = Buffer.from('{}')
  const configDigest = await pushBlob(r, 'bench/manifests', config)
  const layer = await pushBlob(r, 'bench/manifests', randomBytes(1024))
  const tags = Array.from({ length: SMALL_COUNT }, (_, i) => `t${i}`)
  results['manifest PUTs (tagged)'] = perSecond(SMALL_COUNT, await timed(async () => {
    await pool(tags, async tag => {
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: 1024 }],
        annotations: { tag }
      })
      await ok(await fetch(`${r.url}/v2/bench/manifests/manifests/${tag}`, {
        method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }
      }), 'PUT manifest')
    })
  }))
  results['manifest GETs by tag'] = perSecond(SMALL_COUNT, await timed(async () => {
    await pool(tags, async tag => {
      await (await ok(await fetch(`${r.url}/v2/bench/manifests/manifests/${tag}`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' }
      }), 'GET manifest')).arrayBuffer()
    })
  }))
  results['tag list pages (n=100)'] = perSecond(SMALL_COUNT / 100, await timed(async () => {
    let next: string | null = `/v2/bench/manifests/tags/list?n=100`
    while (next !== null) {
      const res = await ok(await fetch(new URL(next, r.url)), 'GET tags')
      await res.arrayBuffer()
      next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1] ?? null
    }
  }))
  results['peak RSS'] = `${peakRssMiB(r.child).toFixed(0)} MiB`
  return results
}

const large = randomBytes(LARGE)
const table: Array<[string, Record<string, string>]> = []
for (const start of [startBerth, startDistribution]) {
  const registry = await start()
  try {
    table.push([registry.name, await run(registry, large)])
  } finally {
    registry.child.kill('SIGTERM')
    rmSync(registry.dir, { recursive: true, force: true })
  }
}
const rows = Object.keys(table[0]?.[1] ?? {})
console.log(`\n| workload (${args['large-mib']} MiB large blob, ${SMALL_COUNT} small items, concurrency ${CONCURRENCY}) | ${table.map(([n]) => n).join(' | ')} |`)
console.log(`| --- | ${table.map(() => '---').join(' | ')} |`)
for (const row of rows) console.log(`| ${row} | ${table.map(([, r]) => r[row]).join(' | ')} |`)
process.exit(0)
