// The only module that reads process.env. Everything else receives a typed Config.
import path from 'node:path'
import { syncedMirrors, type SyncedMirror } from './mirror/sync.js'
import { parseReplicationRules, type ReplicationRule } from './mirror/replicate.js'
import { USERNAME_MAX_LENGTH, isValidUsername, passwordProblem } from './auth/credential-rules.js'
import { mirrorsFrom, type MirrorConfig } from './mirror/config.js'

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
  /** On SIGTERM/SIGINT, in-flight requests get this long to finish before they are cut (src/lifecycle.ts). */
  shutdownTimeoutMs: number
  /**
   * Accept sparse manifests (BERTH_SPARSE_MANIFESTS): an index whose child manifests are not all in the
   * repository, an image manifest whose layers are not all uploaded. For mirrors of one platform of a
   * multi-arch image. The config blob is still required.
   */
  sparseManifests: boolean
  /** Start even when open (no users) on a non-loopback HOST (BERTH_ALLOW_OPEN; see src/open-bind.ts). */
  allowOpen: boolean
  /** Server processes sharing the port (BERTH_WORKERS, src/workers.ts); 1 serves from this process alone. */
  workers: number
  /** Bearer token GET /metrics requires (BERTH_METRICS_TOKEN); without one, it answers loopback clients only. */
  metricsToken?: string
  /** Users, tokens and permissions (src/auth); see authConfigFrom() at the end of this file. */
  auth: AuthConfig
  /** Event notifications (src/webhooks); see webhookConfigFrom() at the end of this file. */
  webhooks: WebhookConfig
  /** Garbage collection (src/gc); see gcConfigFrom() at the end of this file. */
  gc: GcConfig
  /** Registries Berth mirrors (BERTH_MIRRORS, parsed in src/mirror/config.ts). */
  mirrors: MirrorConfig[]
  /** Scheduled sync and push replication (src/mirror); see mirrorSyncConfigFrom() at the end of this file. */
  mirrorSync: MirrorSyncConfig
}

/** `root` (BERTH_DATA_DIR) is where the filesystem driver keeps its data; the s3 driver does not use it. */
export type StorageConfig = { root: string } & ({ driver: 'filesystem' } | { driver: 's3', s3: S3Config })

export interface S3Config {
  /** http(s)://host[:port] of the S3 API (MinIO). */
  endpoint: string
  accessKey: string
  secretKey: string
  bucket: string
  region: string
  /** A request to S3 fails (503 to clients) after this long without progress. */
  timeoutMs: number
  /** Blob GETs without a Range header answer 307 to a presigned URL instead of streaming through Berth. */
  presignedRedirects: boolean
  /** Endpoint presigned URLs name, when clients reach S3 at another address than Berth does. */
  publicEndpoint?: string
  presignExpirySeconds: number
}

/** The variables of the core and storage configuration (CONFIG_ENV_VARS, at the end of this file, lists them all). */
const CORE_ENV_VARS = [
  'PORT', 'HOST', 'LOG_LEVEL', 'BERTH_STORAGE', 'BERTH_DATA_DIR', 'BERTH_MAX_MANIFEST_BYTES', 'BERTH_UPLOAD_TTL_SECONDS',
  'BERTH_SHUTDOWN_TIMEOUT_SECONDS', 'BERTH_S3_ENDPOINT', 'BERTH_S3_ACCESS_KEY', 'BERTH_S3_SECRET_KEY', 'BERTH_S3_BUCKET', 'BERTH_S3_REGION',
  'BERTH_S3_TIMEOUT_SECONDS', 'BERTH_S3_PRESIGNED_REDIRECTS', 'BERTH_S3_PUBLIC_ENDPOINT', 'BERTH_S3_PRESIGN_EXPIRY_SECONDS',
  'BERTH_SPARSE_MANIFESTS', 'BERTH_ALLOW_OPEN', 'BERTH_WORKERS', 'BERTH_METRICS_TOKEN'
] as const

/** The variables BERTH_STORAGE=s3 cannot do without. */
export const S3_REQUIRED_ENV_VARS = ['BERTH_S3_ENDPOINT', 'BERTH_S3_ACCESS_KEY', 'BERTH_S3_SECRET_KEY', 'BERTH_S3_BUCKET'] as const

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

const MiB = 1024 * 1024

/** pino's levels: anything else makes the logger throw at startup. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const driver = env.BERTH_STORAGE === undefined || env.BERTH_STORAGE === '' ? 'filesystem' : env.BERTH_STORAGE
  const root = path.resolve(env.BERTH_DATA_DIR ?? './data')
  let storage: StorageConfig
  if (driver === 'filesystem') {
    storage = { driver, root }
  } else if (driver === 's3') {
    storage = { driver, root, s3: s3From(env) }
  } else {
    throw new ConfigError(`BERTH_STORAGE must be "filesystem" or "s3" (got "${driver}")`)
  }
  const mirrors = mirrorsFrom({ BERTH_MIRRORS: env.BERTH_MIRRORS })
  return {
    host: env.HOST === undefined || env.HOST === '' ? '127.0.0.1' : env.HOST,
    port: intFrom(env, 'PORT', 5000, 0, 65535),
    logLevel: choiceFrom(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    storage,
    maxManifestBytes: intFrom(env, 'BERTH_MAX_MANIFEST_BYTES', 4 * MiB, 4 * MiB, 64 * MiB),
    pageSize: { default: 1000, max: 10000 },
    uploadTtlMs: intFrom(env, 'BERTH_UPLOAD_TTL_SECONDS', 24 * 3600, 60, 30 * 24 * 3600) * 1000,
    shutdownTimeoutMs: intFrom(env, 'BERTH_SHUTDOWN_TIMEOUT_SECONDS', 30, 0, 3600) * 1000,
    sparseManifests: boolFrom(env, 'BERTH_SPARSE_MANIFESTS', false),
    allowOpen: boolFrom(env, 'BERTH_ALLOW_OPEN', false),
    // One process by default. More share the port (one per core pays on small reads); each costs its idle RSS.
    workers: intFrom(env, 'BERTH_WORKERS', 1, 1, 64),
    ...(env.BERTH_METRICS_TOKEN === undefined || env.BERTH_METRICS_TOKEN === '' ? {} : { metricsToken: env.BERTH_METRICS_TOKEN }),
    auth: authConfigFrom(env),
    webhooks: webhookConfigFrom(env),
    gc: gcConfigFrom(env),
    mirrors,
    mirrorSync: mirrorSyncConfigFrom(env, mirrors)
  }
}

function s3From (env: NodeJS.ProcessEnv): S3Config {
  const missing = S3_REQUIRED_ENV_VARS.filter(name => (env[name] ?? '') === '')
  if (missing.length > 0) throw new ConfigError(`BERTH_STORAGE=s3 needs ${missing.join(', ')}`)
  const bucket = env.BERTH_S3_BUCKET as string
  // S3 bucket naming rules: 3-63 lowercase letters, digits, dots and hyphens, starting and ending alphanumeric.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw new ConfigError(`BERTH_S3_BUCKET must be a valid bucket name: 3-63 characters of a-z, 0-9, '.' and '-' (got "${bucket}")`)
  }
  const region = env.BERTH_S3_REGION === undefined || env.BERTH_S3_REGION === '' ? 'us-east-1' : env.BERTH_S3_REGION
  if (!/^[a-z0-9-]+$/.test(region)) throw new ConfigError(`BERTH_S3_REGION must look like us-east-1 (got "${region}")`)
  const presignedRedirects = boolFrom(env, 'BERTH_S3_PRESIGNED_REDIRECTS', false)
  const publicEndpoint = env.BERTH_S3_PUBLIC_ENDPOINT === undefined || env.BERTH_S3_PUBLIC_ENDPOINT === ''
    ? undefined
    : endpointFrom(env, 'BERTH_S3_PUBLIC_ENDPOINT')
  return {
    endpoint: endpointFrom(env, 'BERTH_S3_ENDPOINT'),
    accessKey: env.BERTH_S3_ACCESS_KEY as string,
    secretKey: env.BERTH_S3_SECRET_KEY as string,
    bucket,
    region,
    timeoutMs: intFrom(env, 'BERTH_S3_TIMEOUT_SECONDS', 10, 1, 600) * 1000,
    presignedRedirects,
    ...(publicEndpoint === undefined ? {} : { publicEndpoint }),
    presignExpirySeconds: intFrom(env, 'BERTH_S3_PRESIGN_EXPIRY_SECONDS', 1200, 60, 7 * 24 * 3600)
  }
}

/** An http(s) URL with a host, no path, query or credentials; returned without a trailing slash. */
function endpointFrom (env: NodeJS.ProcessEnv, name: string): string {
  const raw = env[name] ?? ''
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(`${name} must be a URL such as http://127.0.0.1:9000 (got "${raw}")`)
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '' ||
    (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' ||
    url.username !== '' || url.password !== '') {
    throw new ConfigError(`${name} must be an http:// or https:// URL with only a host and an optional port (got "${raw}")`)
  }
  return `${url.protocol}//${url.host}`
}

function boolFrom (env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = (env[name] ?? '').toLowerCase()
  if (raw === '') return fallback
  if (['true', '1', 'yes', 'on'].includes(raw)) return true
  if (['false', '0', 'no', 'off'].includes(raw)) return false
  throw new ConfigError(`${name} must be true or false (got "${env[name] ?? ''}")`)
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

// ---- authentication (src/auth) ---------------------------------------------------------------------------------

export interface AuthConfig {
  /** The `service` of Bearer challenges and the audience of every token (BERTH_AUTH_SERVICE). */
  service: string
  /** Absolute URL of the token endpoint for challenges; by default derived from each request's Host. */
  realm?: string
  /** Lifetime of access tokens (the token endpoint's `expires_in`). */
  tokenTtlSeconds: number
  /** Lifetime of identity tokens: OAuth2 refresh tokens and the CNR login token. */
  refreshTokenTtlSeconds: number
  /** Idle lifetime of a web UI session: each use in its second half renews it for this long. */
  uiSessionTtlSeconds: number
  /** Admin created (or whose password is reset) at startup: BERTH_ADMIN_USER and BERTH_ADMIN_PASSWORD. */
  admin?: { username: string, password: string }
  /** Whether the CNR signup route creates users. Off unless BERTH_SIGNUP=true. */
  signup: boolean
  /** Visibility of repositories that have none recorded. */
  defaultVisibility: 'public' | 'private'
  /** A client with this many failed logins within the window gets 429 until the oldest ages out. */
  loginMaxFailures: number
  loginWindowSeconds: number
  /** How long a process may serve users, policies and visibilities from memory before re-reading the store. */
  cacheTtlMs: number
}

/** The environment variables authConfigFrom() reads. */
export const AUTH_ENV_VARS = [
  'BERTH_AUTH_SERVICE', 'BERTH_AUTH_REALM', 'BERTH_TOKEN_TTL_SECONDS', 'BERTH_REFRESH_TOKEN_TTL_SECONDS',
  'BERTH_UI_SESSION_TTL_SECONDS', 'BERTH_ADMIN_USER', 'BERTH_ADMIN_PASSWORD', 'BERTH_SIGNUP', 'BERTH_DEFAULT_VISIBILITY',
  'BERTH_LOGIN_MAX_FAILURES', 'BERTH_LOGIN_WINDOW_SECONDS', 'BERTH_AUTH_CACHE_SECONDS'
] as const

export function authConfigFrom (env: NodeJS.ProcessEnv): AuthConfig {
  const service = env.BERTH_AUTH_SERVICE === undefined || env.BERTH_AUTH_SERVICE === '' ? 'berth' : env.BERTH_AUTH_SERVICE
  if (!/^[\x21\x23-\x5b\x5d-\x7e]{1,255}$/.test(service)) {
    throw new ConfigError(`BERTH_AUTH_SERVICE must be 1-255 printable characters without spaces, quotes or backslashes (got "${service}")`)
  }
  let realm: string | undefined
  if (env.BERTH_AUTH_REALM !== undefined && env.BERTH_AUTH_REALM !== '') {
    realm = env.BERTH_AUTH_REALM
    let url: URL | undefined
    try { url = new URL(realm) } catch {}
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || realm.includes('"')) {
      throw new ConfigError(`BERTH_AUTH_REALM must be the absolute http(s) URL of the token endpoint, e.g. https://registry.example/v2/token (got "${realm}")`)
    }
  }
  const adminUser = env.BERTH_ADMIN_USER ?? ''
  const adminPassword = env.BERTH_ADMIN_PASSWORD ?? ''
  if ((adminUser === '') !== (adminPassword === '')) {
    throw new ConfigError('BERTH_ADMIN_USER and BERTH_ADMIN_PASSWORD must be set together')
  }
  // Checked here, with the rules `berth user add` applies, so that a bad value stops startup with one line.
  if (adminUser !== '' && !isValidUsername(adminUser)) {
    throw new ConfigError(`BERTH_ADMIN_USER must be 1-${USERNAME_MAX_LENGTH} lowercase letters and digits, separated by '.', '_' or '-' (got "${adminUser}")`)
  }
  const passwordIssue = adminPassword === '' ? undefined : passwordProblem(adminPassword)
  if (passwordIssue !== undefined) throw new ConfigError(`BERTH_ADMIN_PASSWORD: ${passwordIssue}`)
  return {
    service,
    ...(realm === undefined ? {} : { realm }),
    tokenTtlSeconds: intFrom(env, 'BERTH_TOKEN_TTL_SECONDS', 300, 60, 24 * 3600),
    refreshTokenTtlSeconds: intFrom(env, 'BERTH_REFRESH_TOKEN_TTL_SECONDS', 30 * 24 * 3600, 300, 365 * 24 * 3600),
    uiSessionTtlSeconds: intFrom(env, 'BERTH_UI_SESSION_TTL_SECONDS', 12 * 3600, 60, 30 * 24 * 3600),
    ...(adminUser === '' ? {} : { admin: { username: adminUser, password: adminPassword } }),
    signup: choiceFrom(env, 'BERTH_SIGNUP', ['false', 'true'], 'false') === 'true',
    defaultVisibility: choiceFrom(env, 'BERTH_DEFAULT_VISIBILITY', ['private', 'public'], 'private'),
    loginMaxFailures: intFrom(env, 'BERTH_LOGIN_MAX_FAILURES', 10, 1, 10_000),
    loginWindowSeconds: intFrom(env, 'BERTH_LOGIN_WINDOW_SECONDS', 300, 1, 24 * 3600),
    cacheTtlMs: intFrom(env, 'BERTH_AUTH_CACHE_SECONDS', 5, 0, 3600) * 1000
  }
}

function choiceFrom<T extends string> (env: NodeJS.ProcessEnv, name: string, choices: readonly T[], fallback: T): T {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = raw.toLowerCase() as T
  if (!choices.includes(value)) throw new ConfigError(`${name} must be ${choices.join(' or ')} (got "${raw}")`)
  return value
}

// ---- webhooks (src/webhooks) -----------------------------------------------------------------------------------

export interface WebhookConfig {
  /** Receivers of every event (BERTH_WEBHOOK_URLS); empty: webhooks are off and nothing is written or run. */
  urls: string[]
  /** HMAC-SHA256 key of the Berth-Signature header. */
  secret: string
  /** Share of manifest GETs announced as pull events, 0 (off) to 1. */
  pullSample: number
  /** A delivery that failed this many times is kept as failed (`berth webhooks list --failed`). */
  maxAttempts: number
  /** Delay before the first retry; each further retry waits twice as long, up to retryMaxMs. */
  retryMs: number
  retryMaxMs: number
  /** A receiver that has not answered within this time has failed the attempt. */
  timeoutMs: number
  /** How often each replica looks for deliveries that other replicas wrote or that are due for a retry. */
  pollMs: number
}

export const WEBHOOK_ENV_VARS = [
  'BERTH_WEBHOOK_URLS', 'BERTH_WEBHOOK_SECRET', 'BERTH_WEBHOOK_PULL_SAMPLE', 'BERTH_WEBHOOK_MAX_ATTEMPTS',
  'BERTH_WEBHOOK_RETRY_MS', 'BERTH_WEBHOOK_RETRY_MAX_MS', 'BERTH_WEBHOOK_TIMEOUT_SECONDS', 'BERTH_WEBHOOK_POLL_MS'
] as const

const WEBHOOK_SECRET_MIN_LENGTH = 16

export function webhookConfigFrom (env: NodeJS.ProcessEnv): WebhookConfig {
  const urls = (env.BERTH_WEBHOOK_URLS ?? '').split(',').map(u => u.trim()).filter(u => u !== '')
  for (const raw of urls) {
    let url: URL | undefined
    try { url = new URL(raw) } catch {}
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '' || url.hash !== '') {
      throw new ConfigError(`BERTH_WEBHOOK_URLS must be comma-separated http:// or https:// URLs (got "${raw}")`)
    }
    // Receivers are listed by the CLI and in logs: a password in the URL would be shown there.
    if (url.username !== '' || url.password !== '') throw new ConfigError(`BERTH_WEBHOOK_URLS must not hold credentials (got "${url.host}")`)
  }
  if (new Set(urls).size !== urls.length) throw new ConfigError('BERTH_WEBHOOK_URLS lists a URL twice')
  const secret = env.BERTH_WEBHOOK_SECRET ?? ''
  if (urls.length > 0 && secret.length < WEBHOOK_SECRET_MIN_LENGTH) {
    throw new ConfigError(`BERTH_WEBHOOK_URLS needs BERTH_WEBHOOK_SECRET, at least ${WEBHOOK_SECRET_MIN_LENGTH} characters (every event is signed with it)`)
  }
  const rawSample = env.BERTH_WEBHOOK_PULL_SAMPLE ?? ''
  const pullSample = rawSample === '' ? 0 : Number(rawSample)
  if (!Number.isFinite(pullSample) || pullSample < 0 || pullSample > 1) {
    throw new ConfigError(`BERTH_WEBHOOK_PULL_SAMPLE must be a number from 0 (no pull events) to 1 (every pull) (got "${rawSample}")`)
  }
  const retryMs = intFrom(env, 'BERTH_WEBHOOK_RETRY_MS', 1000, 10, 3600_000)
  const retryMaxMs = intFrom(env, 'BERTH_WEBHOOK_RETRY_MAX_MS', 300_000, 10, 24 * 3600_000)
  if (retryMaxMs < retryMs) throw new ConfigError('BERTH_WEBHOOK_RETRY_MAX_MS must not be less than BERTH_WEBHOOK_RETRY_MS')
  return {
    urls,
    secret,
    pullSample,
    maxAttempts: intFrom(env, 'BERTH_WEBHOOK_MAX_ATTEMPTS', 10, 1, 1000),
    retryMs,
    retryMaxMs,
    timeoutMs: intFrom(env, 'BERTH_WEBHOOK_TIMEOUT_SECONDS', 10, 1, 300) * 1000,
    pollMs: intFrom(env, 'BERTH_WEBHOOK_POLL_MS', 1000, 10, 3600_000)
  }
}

// ---- garbage collection (src/gc) -------------------------------------------------------------------------------

export interface GcConfig {
  /** Between two background collections; 0 turns them off. */
  intervalMs: number
  /** Nothing written or referenced by a push more recently than this is collected. */
  graceMs: number
}

export const GC_ENV_VARS = ['BERTH_GC_INTERVAL_SECONDS', 'BERTH_GC_GRACE_SECONDS'] as const

export function gcConfigFrom (env: NodeJS.ProcessEnv): GcConfig {
  return {
    // Every 6 hours: space comes back the same day, and a run (which reads the whole store) stays rare.
    intervalMs: intFrom(env, 'BERTH_GC_INTERVAL_SECONDS', 6 * 3600, 0, 30 * 24 * 3600) * 1000,
    // A day: far longer than any push (a client that checked a blob may push its manifest hours later).
    graceMs: intFrom(env, 'BERTH_GC_GRACE_SECONDS', 24 * 3600, 1, 365 * 24 * 3600) * 1000
  }
}

// ---- scheduled sync and push replication (src/mirror) ---------------------------------------------------------

export interface MirrorSyncConfig {
  /** The BERTH_MIRRORS entries with a `sync` section (the mirror configuration reads the rest of each entry). */
  mirrors: SyncedMirror[]
  /** Push replication rules (BERTH_REPLICATION). */
  replication: ReplicationRule[]
}

// BERTH_MIRRORS is parsed in src/mirror/config.ts, BERTH_REPLICATION in src/mirror/replicate.ts.
export const MIRROR_SYNC_ENV_VARS = ['BERTH_MIRRORS', 'BERTH_REPLICATION'] as const

/** The sync view of the mirrors (BERTH_MIRRORS, already parsed), and the push replication rules. */
export function mirrorSyncConfigFrom (env: NodeJS.ProcessEnv, mirrors: readonly MirrorConfig[]): MirrorSyncConfig {
  try {
    return { mirrors: syncedMirrors(mirrors), replication: parseReplicationRules(env.BERTH_REPLICATION) }
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
}

/** Every environment variable loadConfig() reads (checked against docker-compose.yml by test/compose.test.ts). */
export const CONFIG_ENV_VARS = [...CORE_ENV_VARS, ...AUTH_ENV_VARS, ...WEBHOOK_ENV_VARS, ...GC_ENV_VARS, ...MIRROR_SYNC_ENV_VARS] as const
