// MinIO for the benchmark's s3 runs (scripts/minio.sh), one bucket for the registries that do not create their
// own, and the `mc cp` baseline: the same file uploaded to and downloaded from the bucket with no registry between.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { Client } from 'minio'
import { toolPath } from '../../scripts/tool-paths.mjs'
import type { S3Target } from './registries.js'

const run = promisify(execFile)

export async function startMinio (): Promise<{ target: S3Target, stop: () => Promise<void> }> {
  const { stdout } = await run('bash', ['scripts/minio.sh', 'start'])
  const env = Object.fromEntries([...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map(m => [m[1] as string, m[2] as string]))
  const target: S3Target = {
    endpoint: env.BERTH_S3_ENDPOINT as string,
    accessKey: env.BERTH_S3_ACCESS_KEY as string,
    secretKey: env.BERTH_S3_SECRET_KEY as string,
    bucket: 'bench'
  }
  const url = new URL(target.endpoint)
  const client = new Client({ endPoint: url.hostname, port: Number(url.port), useSSL: false, accessKey: target.accessKey, secretKey: target.secretKey })
  await client.makeBucket(target.bucket, 'us-east-1')
  const stop = async (): Promise<void> => {
    await run('bash', ['scripts/minio.sh', 'stop'], { env: { ...process.env, BERTH_MINIO_PID: env.BERTH_MINIO_PID, BERTH_MINIO_DIR: env.BERTH_MINIO_DIR } })
  }
  process.once('exit', () => { try { process.kill(Number(env.BERTH_MINIO_PID), 'SIGKILL') } catch {} })
  return { target, stop }
}

/** `mc cp` of the file into the bucket and back out; MB/s each way. */
export async function mcCopy (target: S3Target, blob: { file: string, size: number }): Promise<{ push: number, pull: number }> {
  const mc = toolPath('mc')
  if (!existsSync(mc)) throw new Error(`${mc} is missing: run node scripts/install-tools.mjs mc`)
  const config = mkdtempSync(path.join(tmpdir(), 'bench-mc-'))
  try {
    const mcRun = async (...args: string[]): Promise<number> => {
      const started = performance.now()
      await run(mc, ['--config-dir', config, '--quiet', ...args], { maxBuffer: 1 << 20 })
      return (performance.now() - started) / 1000
    }
    await mcRun('alias', 'set', 'bench', target.endpoint, target.accessKey, target.secretKey)
    const push = await mcRun('cp', blob.file, `bench/${target.bucket}/mc-baseline`)
    const pull = await mcRun('cp', `bench/${target.bucket}/mc-baseline`, path.join(config, 'pulled'))
    return { push: blob.size / 1e6 / push, pull: blob.size / 1e6 / pull }
  } finally {
    rmSync(config, { recursive: true, force: true })
  }
}
