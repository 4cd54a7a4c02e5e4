// Listing pages at 100 and at 100,000 entries, straight against a storage driver (no HTTP): the time to
// serve one page of 100 keys from the middle of a prefix. The filesystem store is filled by writing its
// files directly (100,000 fsynced writes would take minutes and measure nothing of interest here); MinIO is
// filled through the driver, 32 writes at a time.
//
// usage: npx tsx bench/listing-pages.ts [--entries 100000] [--store fs|s3]   (s3: a throwaway MinIO, scripts/minio.sh)
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { FilesystemDriver } from '../src/storage/drivers/filesystem.js'
import type { StorageDriver } from '../src/storage/driver.js'
import { S3Driver } from '../src/storage/drivers/s3/index.js'
import { startMinio } from './lib/minio.js'

const { values: args } = parseArgs({ options: { entries: { type: 'string', default: '100000' }, store: { type: 'string', default: 'fs' } } })
const BIG = Number(args.entries)
const name = (i: number): string => `t${String(i).padStart(7, '0')}`

async function pageMs (driver: StorageDriver, prefix: string, count: number): Promise<number> {
  // The first page of a small listing; a page from the middle of a big one.
  const startAfter = count <= 100 ? undefined : `${prefix}${name(Math.floor(count / 2))}`
  await driver.list(prefix, { limit: 100, startAfter }) // warm
  const rounds = 50
  const began = process.hrtime.bigint()
  for (let r = 0; r < rounds; r++) {
    const page = await driver.list(prefix, { limit: 100, startAfter })
    if (page.keys.length !== 100) throw new Error(`short page: ${page.keys.length}`)
  }
  return Number(process.hrtime.bigint() - began) / 1e6 / rounds
}

/** The time of a page at 100 entries and at BIG, once the JIT has warmed up (the last of three passes counts). */
async function compare (driver: StorageDriver): Promise<{ few: number, many: number }> {
  let few = 0
  let many = 0
  for (let pass = 0; pass < 3; pass++) {
    few = await pageMs(driver, 'repositories/few/_tags/', 100)
    many = await pageMs(driver, 'repositories/many/_tags/', BIG)
  }
  return { few, many }
}

function report (store: string, { few, many }: { few: number, many: number }): void {
  process.stdout.write(`${store}: page of 100 at 100 entries ${few.toFixed(3)} ms, at ${BIG} entries ${many.toFixed(3)} ms: ${(many / few).toFixed(2)}× slower\n`)
}

async function filesystem (): Promise<void> {
  const root = mkdtempSync(path.join(tmpdir(), 'bench-listing-'))
  try {
    const driver = new FilesystemDriver({ root })
    await driver.init()
    for (const [dir, count] of [['few', 100], ['many', BIG]] as const) {
      const full = path.join(root, 'objects', 'repositories', dir, '_tags')
      mkdirSync(full, { recursive: true })
      for (let i = 0; i < count; i++) writeFileSync(path.join(full, `${name(i)}~`), '{}')
    }
    // Listings are only kept once a directory has been left alone for a moment (see FilesystemDriver.sortedNames).
    await new Promise(resolve => setTimeout(resolve, 1500))
    report('filesystem', await compare(driver))
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

async function minio (): Promise<void> {
  const { target, stop } = await startMinio()
  try {
    const driver = new S3Driver({ ...target, bucket: 'bench-listing', region: 'us-east-1', timeoutMs: 30_000 })
    await driver.init()
    const record = Buffer.from('{}')
    for (const [dir, count] of [['few', 100], ['many', BIG]] as const) {
      let next = 0
      await Promise.all(Array.from({ length: 32 }, async () => {
        while (next < count) await driver.write(`repositories/${dir}/_tags/${name(next++)}`, record)
      }))
    }
    report('MinIO', await compare(driver))
    await driver.close()
  } finally {
    await stop()
  }
}

await (args.store === 's3' ? minio() : filesystem())
