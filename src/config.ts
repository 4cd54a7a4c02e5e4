// The only module that reads process.env. Everything else receives a typed Config.
import path from 'node:path'

export interface Config {
  host: string
  port: number
  logLevel: string
  storage: StorageConfig
  /** Largest manifest accepted on PUT, in bytes (the OCI spec asks registries to take at least 4 MiB). */
  maxManifestBytes: number
  /** Default and maximum page sizes for tag, catalog and referrer listings. */
  pageSize: { default: number, max: number }
  /** Upload sessions untouched for this long are purged. */
  uploadTtlMs: number
}

export type StorageConfig = { driver: 'filesystem', root: string }

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

const MiB = 1024 * 1024

export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const storage = env.BERTH_STORAGE ?? 'filesystem'
  if (storage !== 'filesystem') {
    throw new ConfigError(`BERTH_STORAGE must be "filesystem" (got "${storage}")`)
  }
  return {
    host: env.HOST ?? '0.0.0.0',
    port: intFrom(env, 'PORT', 5000, 0, 65535),
    logLevel: env.LOG_LEVEL ?? 'info',
    storage: { driver: 'filesystem', root: path.resolve(env.BERTH_DATA_DIR ?? './data') },
    maxManifestBytes: intFrom(env, 'BERTH_MAX_MANIFEST_BYTES', 4 * MiB, 4 * MiB, 64 * MiB),
    pageSize: { default: 1000, max: 10000 },
    uploadTtlMs: intFrom(env, 'BERTH_UPLOAD_TTL_SECONDS', 24 * 3600, 60, 30 * 24 * 3600) * 1000
  }
}

function intFrom (env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max} (got "${raw}")`)
  }
  return n
}
