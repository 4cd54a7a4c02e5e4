// Start-up: opening the configured store with bounded checks, naming the variable at fault when the
// environment is unusable (ConfigError, one line and exit 2 in server.ts and the CLI), and the one log line
// that says what this process is serving.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { ConfigError, type Config, type StorageConfig } from './config.js'
import type { StorageDriver } from './storage/driver.js'
import { innerDriver } from './metrics/store.js'
import { FilesystemDriver } from './storage/drivers/filesystem.js'
import { createDriver } from './storage/factory.js'

/**
 * A data directory that does not answer within this long is unusable. Some paths never do: mkdir under /proc
 * blocks forever, and so does a dead network mount.
 */
const DATA_DIR_PROBE_MS = 10_000
/** The S3 driver retries an endpoint that is still starting for about this long (src/storage/drivers/s3.ts). */
const S3_STARTUP_WAIT_MS = 10_000

/** Socket errors that mean the S3 endpoint cannot be reached at all, as opposed to refusing the request. */
const UNREACHABLE = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'EPROTO'
])

/** S3 error codes for an access key or secret the endpoint does not accept. */
const REFUSED_CREDENTIALS = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch'])

/** Opens the configured store, or fails with a ConfigError that names the variable at fault. */
export async function openStore (storage: StorageConfig): Promise<StorageDriver> {
  if (storage.driver === 'filesystem') {
    await probeDataDir(storage.root)
    try {
      return await createDriver(storage)
    } catch (err) {
      throw new ConfigError(`BERTH_DATA_DIR: cannot use ${storage.root}: ${(err as Error).message}`)
    }
  }
  const { endpoint, bucket, timeoutMs } = storage.s3
  const bound = Math.max(timeoutMs, S3_STARTUP_WAIT_MS)
  try {
    return await withTimeout(createDriver(storage), bound, () => new ConfigError(
      `BERTH_S3_ENDPOINT: ${endpoint} did not answer within ${bound / 1000} s (BERTH_S3_TIMEOUT_SECONDS)`))
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const code = errorCode(err)
    if (code !== undefined && UNREACHABLE.has(code)) {
      throw new ConfigError(`BERTH_S3_ENDPOINT: cannot reach ${endpoint} (${code}) to use bucket "${bucket}"`)
    }
    if (code !== undefined && REFUSED_CREDENTIALS.has(code)) {
      throw new ConfigError(`BERTH_S3_ACCESS_KEY, BERTH_S3_SECRET_KEY: ${endpoint} refused the credentials (${code})`)
    }
    if (causes(err).some(e => e.name === 'S3TimeoutError')) {
      throw new ConfigError(`BERTH_S3_ENDPOINT: ${endpoint} did not answer within ${timeoutMs / 1000} s (BERTH_S3_TIMEOUT_SECONDS)`)
    }
    // The driver's message names the settings at fault (bucket, region).
    throw new ConfigError((err as Error).message.replace(/\s+/g, ' '))
  }
}

/**
 * Creates the data directory and writes, fsyncs and removes a probe file in it, within DATA_DIR_PROBE_MS.
 * The probe's name is unique, so replicas sharing the directory do not disturb each other.
 */
async function probeDataDir (root: string): Promise<void> {
  const probe = async (): Promise<void> => {
    await fs.mkdir(root, { recursive: true })
    const file = path.join(root, `.probe-${randomUUID()}`)
    const handle = await fs.open(file, 'wx')
    try {
      await handle.writeFile('berth start-up probe\n')
      await handle.sync()
    } finally {
      await handle.close()
      await fs.rm(file, { force: true })
    }
  }
  try {
    await withTimeout(probe(), DATA_DIR_PROBE_MS, () => new ConfigError(
      `BERTH_DATA_DIR: ${root} did not answer within ${DATA_DIR_PROBE_MS / 1000} s; it must be a writable directory`))
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`BERTH_DATA_DIR: cannot write to ${root}: ${(err as Error).message}`)
  }
}

/** Listens as configured; an address in use, refused or unknown is a ConfigError naming PORT or HOST. */
export async function listen (app: FastifyInstance, config: Pick<Config, 'host' | 'port'>): Promise<void> {
  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    const code = errorCode(err)
    const where = `${config.host}:${config.port}`
    if (code === 'EADDRINUSE') throw new ConfigError(`PORT: ${where} is already in use`)
    if (code === 'EACCES') throw new ConfigError(`PORT: no permission to listen on ${where}`)
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAFNOSUPPORT') {
      throw new ConfigError(`HOST: cannot listen on "${config.host}" (${code})`)
    }
    throw err
  }
}

/** Berth's version, from the package.json next to src/ and dist/. */
export function version (): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string }
    return pkg.version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

/** Logs, once listening, what this process serves: version, store, auth mode and address. */
export async function logStarted (app: FastifyInstance, config: Config): Promise<void> {
  const storage = config.storage
  const location = storage.driver === 'filesystem' ? storage.root : `${storage.s3.endpoint}/${storage.s3.bucket}`
  const auth = await app.berth.auth.enabled() ? 'users' : 'open'
  const address = listenAddress(app)
  const berth = version()
  app.log.info({ version: berth, storage: storage.driver, location, auth, address, workers: config.workers },
    `berth ${berth} started: ${storage.driver} store at ${location}, auth ${auth}, listening on ${address}`)
  const driver = innerDriver(app.berth.driver)
  if (driver instanceof FilesystemDriver) {
    const { tempFiles, lockFiles, uploads } = driver.cleaned
    if (tempFiles + lockFiles + uploads > 0) {
      app.log.info({ tempFiles, lockFiles, uploads }, `removed leftovers of crashed processes from ${storage.root}: ` +
        `${tempFiles} temp files, ${lockFiles} lock files, ${uploads} orphaned upload staging directories`)
    }
  }
}

function listenAddress (app: FastifyInstance): string {
  const address = app.server.address() as AddressInfo | string | null
  if (address === null) return 'none'
  if (typeof address === 'string') return address
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}

/** An error and its causes, outermost first (an AggregateError of a dual-stack connect counts its first error). */
function causes (err: unknown): Array<Error & { code?: unknown }> {
  const chain: Array<Error & { code?: unknown }> = []
  for (let e = err; e instanceof Error && chain.length < 5;) {
    chain.push(e)
    e = e.cause ?? (e instanceof AggregateError ? e.errors[0] : undefined)
  }
  return chain
}

/** The first string `code` along the chain of causes (a socket's errno, or an S3 error code). */
function errorCode (err: unknown): string | undefined {
  const withCode = causes(err).find(e => typeof e.code === 'string')
  return withCode?.code as string | undefined
}

async function withTimeout<T> (work: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(timeoutError()) }, ms)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}
