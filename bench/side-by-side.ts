// Side-by-side benchmark: Berth, CNCF Distribution v3.1.1 and zot v2.1.20, each alone on a fresh store on
// 127.0.0.1, rounds interleaved (round 1: A B C, round 2: A B C, ...), the same load generators for all.
// Prints one Markdown table per store with each registry's median over the rounds and Berth's ratio to the
// best of the others. Benchmarks are not tests: nothing here asserts on timing.
//
// usage: npm run build && npx tsx bench/side-by-side.ts [--store fs|s3|both] [--rounds 2] [--seconds 10]
//          [--large-mib 1024] [--tags 10000] [--zb-requests 300] [--only Berth,zot]
// needs: wrk, ab (apache2-utils) and curl (apt), Distribution (node scripts/install-tools.mjs registry), and for --store s3 MinIO
//        and mc (node scripts/install-tools.mjs minio mc). zot and zb are read from ~/.cache/berth/tools/zot-v2.1.20/
//        (or BERTH_BENCH_ZOT_DIR); without them zot's column says why.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { berth, distribution, rssSampler, treeRss, zot, ZOT_DIR, type RegistryKind, type RunningRegistry, type S3Target } from './lib/registries.js'
import { abHead, blobPull, catSpeed, chunkedPush, makeBlobFile, monolithicPush, pushImage, tagMany, wrk, zb } from './lib/workloads.js'
import { startMinio, mcCopy } from './lib/minio.js'

const run = promisify(execFile)
const { values: args } = parseArgs({
  options: {
    store: { type: 'string', default: 'fs' },
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '10' },
    'large-mib': { type: 'string', default: '1024' },
    tags: { type: 'string', default: '10000' },
    // zb runs each test for this many requests: at 50, a run was over before Node's JIT had warmed up.
    'zb-requests': { type: 'string', default: '300' },
    only: { type: 'string' }
  }
})
const ROUNDS = Number(args.rounds)
const SECONDS = Number(args.seconds)
const LARGE = Number(args['large-mib']) * 1024 * 1024
const TAGS = Number(args.tags)
const ZB_REQUESTS = Number(args['zb-requests'])
const stores = args.store === 'both' ? ['fs', 's3'] as const : [args.store as 'fs' | 's3']
const kinds = [berth, distribution, zot].filter(k => args.only === undefined || args.only.split(',').some(o => k.name.startsWith(o)))

/** One row of the table: how a figure is read and which way is better. */
interface Row { key: string, label: string, unit: string, higherIsBetter: boolean }
const ROWS: Row[] = [
  { key: 'manifestGetTag', label: 'manifest GET by tag, wrk c=32', unit: 'req/s', higherIsBetter: true },
  { key: 'manifestHeadTag', label: 'manifest HEAD by tag, ab -k c=32', unit: 'req/s', higherIsBetter: true },
  { key: 'manifestGetDigest', label: 'manifest GET by digest, wrk c=32', unit: 'req/s', higherIsBetter: true },
  { key: 'blobGet4k', label: '4 KiB blob GET, wrk c=32', unit: 'req/s', higherIsBetter: true },
  { key: 'monolithicPush', label: 'large blob monolithic push (POST, PUT ?digest)', unit: 'MB/s', higherIsBetter: true },
  { key: 'chunkedPush', label: 'large blob chunked push, 10 MiB PATCHes', unit: 'MB/s', higherIsBetter: true },
  { key: 'blobPull', label: 'large blob pull', unit: 'MB/s', higherIsBetter: true },
  { key: 'zbPull1', label: 'zb -c 10 Pull 1MB', unit: 'req/s', higherIsBetter: true },
  { key: 'zbPull10', label: 'zb -c 10 Pull 10MB', unit: 'req/s', higherIsBetter: true },
  { key: 'zbChunk1', label: 'zb -c 10 Push Chunk Streamed 1MB', unit: 'req/s', higherIsBetter: true },
  { key: 'zbChunk10', label: 'zb -c 10 Push Chunk Streamed 10MB', unit: 'req/s', higherIsBetter: true },
  { key: 'zbMono1', label: 'zb -c 10 Push Monolith 1MB', unit: 'req/s', higherIsBetter: true },
  { key: 'zbMono10', label: 'zb -c 10 Push Monolith 10MB', unit: 'req/s', higherIsBetter: true },
  { key: 'tagPageSlowdown', label: 'tag-list page n=100: middle of the big repo vs a 100-tag repo (× slower)', unit: '×', higherIsBetter: false },
  { key: 'idleRss', label: 'idle RSS', unit: 'MiB', higherIsBetter: false },
  { key: 'peakAboveIdle', label: 'peak RSS above idle during large push/pull', unit: 'MiB', higherIsBetter: false }
]

type Figures = Partial<Record<string, number>>

type BlobFile = { file: string, digest: string, size: number }

/** `blob` is pushed whole and pulled back; `other`, of the same size, is pushed in chunks (a new blob, not a dedupe). */
async function measure (reg: RunningRegistry, blob: BlobFile, other: BlobFile, zbBin: string | undefined): Promise<Figures> {
  const f: Figures = {}
  const wrkOpts = { connections: 32, seconds: SECONDS }
  const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json' }
  await new Promise(resolve => setTimeout(resolve, 2000))
  f.idleRss = treeRss(reg.pid) / 1024 / 1024

  const small = Buffer.alloc(4096, 7)
  const image = await pushImage(reg, 'bench/app', 'v1', small)
  f.manifestGetTag = await wrk(`${reg.url}/v2/bench/app/manifests/v1`, { ...wrkOpts, headers: accept })
  f.manifestHeadTag = await abHead(`${reg.url}/v2/bench/app/manifests/v1`, { ...wrkOpts, headers: accept })
  f.manifestGetDigest = await wrk(`${reg.url}/v2/bench/app/manifests/${image.digest}`, { ...wrkOpts, headers: accept })
  f.blobGet4k = await wrk(`${reg.url}/v2/bench/app/blobs/${image.layer}`, wrkOpts)

  const idle = treeRss(reg.pid)
  let sampler = rssSampler(reg.pid)
  f.monolithicPush = await monolithicPush(reg, 'bench/big', blob)
  let peak = sampler.stop()
  sampler = rssSampler(reg.pid)
  f.chunkedPush = await chunkedPush(reg, 'bench/chunked', other)
  peak = Math.max(peak, sampler.stop())
  sampler = rssSampler(reg.pid)
  f.blobPull = await blobPull(reg, 'bench/big', blob)
  peak = Math.max(peak, sampler.stop())
  f.peakAboveIdle = Math.max(0, peak - idle) / 1024 / 1024

  if (zbBin !== undefined) {
    const tests: Array<[string, string]> = [['zbPull1', 'Pull 1MB'], ['zbPull10', 'Pull 10MB'], ['zbChunk1', 'Push Chunk Streamed 1MB'],
      ['zbChunk10', 'Push Chunk Streamed 10MB'], ['zbMono1', 'Push Monolith 1MB'], ['zbMono10', 'Push Monolith 10MB']]
    for (const [key, test] of tests) f[key] = await zb(zbBin, reg, test, { concurrency: 10, requests: ZB_REQUESTS })
  }

  if (TAGS > 0) {
    // The manifest's blobs must be in each repository before it can be tagged there.
    for (const repo of ['bench/few', 'bench/many']) await pushImage(reg, repo, 't000000', small)
    await tagMany(reg, 'bench/few', image.bytes, 100)
    await tagMany(reg, 'bench/many', image.bytes, TAGS)
    const middle = `t${String(Math.floor(TAGS / 2)).padStart(6, '0')}`
    const few = await wrk(`${reg.url}/v2/bench/few/tags/list?n=100`, { connections: 4, seconds: Math.max(3, SECONDS / 2) })
    const many = await wrk(`${reg.url}/v2/bench/many/tags/list?n=100&last=${middle}`, { connections: 4, seconds: Math.max(3, SECONDS / 2) })
    f.tagPageSlowdown = few / many
  }
  return f
}

const median = (values: number[]): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

const format = (v: number | undefined, unit: string): string =>
  v === undefined ? 'n/a' : unit === '×' ? `${v.toFixed(1)}×` : v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1)

async function machine (): Promise<string> {
  const cpu = (await run('bash', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"])).stdout.trim()
  const cores = (await run('nproc')).stdout.trim()
  return `${cores} cores (${cpu}), Node ${process.version}`
}

async function main (): Promise<void> {
  const zbBin = existsSync(path.join(ZOT_DIR, 'zb')) ? path.join(ZOT_DIR, 'zb') : undefined
  const available = kinds.filter(k => {
    const why = k.missing()
    if (why !== undefined) process.stderr.write(`skipping ${k.name}: ${why}\n`)
    return why === undefined
  })
  const work = mkdtempSync(path.join(tmpdir(), 'bench-side-by-side-'))
  process.on('exit', () => { rmSync(work, { recursive: true, force: true }) })
  const blob = makeBlobFile(work, LARGE)
  const other = makeBlobFile(work, LARGE, 'chunked')
  const cat = await catSpeed(blob.file, blob.size)
  const lines: string[] = [`Machine: ${await machine()}. Large blob ${LARGE / 1024 / 1024} MiB, ${TAGS} tags, ${ROUNDS} rounds, wrk ${SECONDS} s.`, '']

  for (const store of stores) {
    let s3: S3Target | undefined
    let stopMinio = async (): Promise<void> => {}
    const baseline: Figures = { blobPull: cat }
    if (store === 's3') {
      const minio = await startMinio()
      s3 = minio.target
      stopMinio = minio.stop
      const mc = await mcCopy(minio.target, blob)
      baseline.monolithicPush = mc.push
      baseline.chunkedPush = mc.push
      baseline.blobPull = mc.pull
    }
    const results = new Map<string, Figures[]>()
    for (let round = 1; round <= ROUNDS; round++) {
      for (const kind of available) {
        process.stderr.write(`[${store}] round ${round}: ${kind.name}\n`)
        const reg = await kind.start(store, s3)
        try {
          const figures = await measure(reg, blob, other, zbBin)
          results.set(kind.name, [...(results.get(kind.name) ?? []), figures])
          process.stderr.write(`  ${JSON.stringify(figures)}\n`)
        } catch (err) {
          process.stderr.write(`  ${kind.name} failed: ${(err as Error).message}\n`)
        } finally {
          await reg.stop()
        }
      }
    }
    await stopMinio()
    lines.push(...table(store, available, results, baseline), '')
  }
  process.stdout.write(`${lines.join('\n')}\n`)
}

function table (store: string, available: RegistryKind[], results: Map<string, Figures[]>, baseline: Figures): string[] {
  const baselineName = store === 's3' ? '`mc cp`' : '`cat`'
  const others = available.filter(k => k !== berth)
  const out = [
    `### ${store === 's3' ? 'MinIO' : 'filesystem'} store`,
    '',
    `| workload | ${available.map(k => k.name).join(' | ')} | Berth / best other | Berth / ${baselineName} |`,
    `| --- | ${available.map(() => '---:').join(' | ')} | ---: | ---: |`
  ]
  for (const row of ROWS) {
    const value = (k: RegistryKind): number | undefined =>
      median((results.get(k.name) ?? []).map(f => f[row.key]).filter((v): v is number => v !== undefined))
    const mine = value(berth)
    const theirs = others.map(value).filter((v): v is number => v !== undefined)
    const best = theirs.length === 0 ? undefined : row.higherIsBetter ? Math.max(...theirs) : Math.min(...theirs)
    const ratio = mine === undefined || best === undefined ? 'n/a'
      : row.higherIsBetter ? `${(mine / best).toFixed(2)}` : `${(best / Math.max(mine, 1e-9)).toFixed(2)}`
    const base = baseline[row.key]
    const vsBase = mine === undefined || base === undefined ? '' : (mine / base).toFixed(2)
    out.push(`| ${row.label} (${row.unit}) | ${available.map(k => format(value(k), row.unit)).join(' | ')} | ${ratio} | ${vsBase} |`)
  }
  out.push('', `Ratios above 1 mean Berth is better (for RSS and the tag-page slowdown, lower figures are better, so the ratio is theirs / Berth's). ${baselineName} of the same large blob: ${format(baseline.blobPull, 'MB/s')} MB/s${baseline.monolithicPush !== undefined ? `; upload ${format(baseline.monolithicPush, 'MB/s')} MB/s` : ''}.`)
  return out
}

main().catch(err => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
