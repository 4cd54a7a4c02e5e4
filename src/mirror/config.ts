// BERTH_MIRRORS: the registries Berth mirrors, as a JSON list of entries. Each maps a local name prefix to an
// upstream registry (and a name prefix there). Checked at startup: a bad value stops the server with one line
// naming the variable (ConfigError). Read by the pull-through cache (cache.ts) and by scheduled sync.
import { ConfigError } from '../config.js'

export interface MirrorSyncConfig {
  repositories: string[]
  /** Tags to copy, as a regular expression over the whole tag (default: every tag). */
  tags?: string
  /** Between two scheduled runs; 0: only `berth mirror sync NAME` runs it. */
  intervalSeconds: number
  onlySigned: boolean
}

export interface MirrorConfig {
  /** Local names `<prefix>/<rest>` are mirrored; the prefix is also the mirror's name in logs and metrics. */
  prefix: string
  /** Base URL of the upstream registry, e.g. https://registry-1.docker.io */
  upstream: string
  /** `<prefix>/<rest>` is `<upstreamPrefix>/<rest>` upstream (just `<rest>` without one). */
  upstreamPrefix?: string
  username?: string
  password?: string
  /** How long a tag is served before it is checked again upstream (a HEAD). Manifests by digest never expire. */
  ttlSeconds: number
  /** Pushes into the prefix are refused unless this is true. */
  allowPush: boolean
  sync?: MirrorSyncConfig
}

const NAME_PATH = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/
const KEYS = new Set(['prefix', 'upstream', 'upstreamPrefix', 'username', 'password', 'ttlSeconds', 'allowPush', 'sync'])
const SYNC_KEYS = new Set(['repositories', 'tags', 'intervalSeconds', 'onlySigned'])
const DEFAULT_TTL_SECONDS = 24 * 3600

/** Parses BERTH_MIRRORS (unset or empty: no mirrors). */
export function mirrorsFrom (env: NodeJS.ProcessEnv): MirrorConfig[] {
  const raw = env.BERTH_MIRRORS
  if (raw === undefined || raw.trim() === '') return []
  const bad = (what: string): ConfigError => new ConfigError(`BERTH_MIRRORS: ${what}`)
  let list: unknown
  try {
    list = JSON.parse(raw)
  } catch (err) {
    throw bad(`must be a JSON list of mirror entries (${(err as Error).message})`)
  }
  if (!Array.isArray(list)) throw bad('must be a JSON list of mirror entries, e.g. [{"prefix":"hub","upstream":"https://registry-1.docker.io","upstreamPrefix":"library"}]')
  const mirrors = list.map((entry: unknown, i): MirrorConfig => {
    const at = `entry ${i}`
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw bad(`${at} must be an object`)
    const e = entry as Record<string, unknown>
    const unknown = Object.keys(e).find(k => !KEYS.has(k))
    if (unknown !== undefined) throw bad(`${at} has an unknown key "${unknown}" (known: ${[...KEYS].join(', ')})`)
    const str = (key: string, required: boolean): string | undefined => {
      const v = e[key]
      if (v === undefined && !required) return undefined
      if (typeof v !== 'string' || v === '') throw bad(`${at}: "${key}" must be a non-empty string`)
      return v
    }
    const prefix = str('prefix', true) as string
    if (!NAME_PATH.test(prefix)) throw bad(`${at}: "prefix" must be a repository name path such as "hub" or "mirror/quay" (got "${prefix}")`)
    const upstream = (str('upstream', true) as string).replace(/\/+$/, '')
    let url: URL | undefined
    try { url = new URL(upstream) } catch {}
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search !== '') {
      throw bad(`${at}: "upstream" must be an http:// or https:// URL with only a host and an optional port (got "${upstream}")`)
    }
    const upstreamPrefix = str('upstreamPrefix', false)
    if (upstreamPrefix !== undefined && !NAME_PATH.test(upstreamPrefix)) throw bad(`${at}: "upstreamPrefix" must be a repository name path such as "library" (got "${upstreamPrefix}")`)
    const username = str('username', false)
    const password = str('password', false)
    if ((username === undefined) !== (password === undefined)) throw bad(`${at}: "username" and "password" must be given together`)
    const ttl = e.ttlSeconds ?? DEFAULT_TTL_SECONDS
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0 || ttl > 365 * 24 * 3600) throw bad(`${at}: "ttlSeconds" must be an integer between 0 and 31536000`)
    const allowPush = e.allowPush ?? false
    if (typeof allowPush !== 'boolean') throw bad(`${at}: "allowPush" must be true or false`)
    return {
      prefix,
      upstream,
      ...(upstreamPrefix === undefined ? {} : { upstreamPrefix }),
      ...(username === undefined ? {} : { username, password: password as string }),
      ttlSeconds: ttl,
      allowPush,
      ...(e.sync === undefined ? {} : { sync: syncFrom(e.sync, at, bad) })
    }
  })
  for (const [i, m] of mirrors.entries()) {
    const overlap = mirrors.find((o, j) => j !== i && (o.prefix === m.prefix || m.prefix.startsWith(`${o.prefix}/`)))
    if (overlap !== undefined) throw bad(`prefix "${m.prefix}" overlaps prefix "${overlap.prefix}"`)
  }
  return mirrors
}

function syncFrom (value: unknown, at: string, bad: (what: string) => ConfigError): MirrorSyncConfig {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad(`${at}: "sync" must be an object`)
  const s = value as Record<string, unknown>
  const unknown = Object.keys(s).find(k => !SYNC_KEYS.has(k))
  if (unknown !== undefined) throw bad(`${at}: "sync" has an unknown key "${unknown}" (known: ${[...SYNC_KEYS].join(', ')})`)
  const repositories = s.repositories
  if (!Array.isArray(repositories) || repositories.length === 0 || !repositories.every(r => typeof r === 'string' && NAME_PATH.test(r))) {
    throw bad(`${at}: "sync.repositories" must be a non-empty list of repository names (below the prefix)`)
  }
  const tags = s.tags
  if (tags !== undefined) {
    if (typeof tags !== 'string') throw bad(`${at}: "sync.tags" must be a regular expression`)
    try { new RegExp(tags) } catch { throw bad(`${at}: "sync.tags" is not a valid regular expression: ${tags}`) }
  }
  const interval = s.intervalSeconds ?? 3600
  if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 0) {
    throw bad(`${at}: "sync.intervalSeconds" must be 0 (only \`berth mirror sync\` runs it) or a whole number of seconds`)
  }
  const onlySigned = s.onlySigned ?? false
  if (typeof onlySigned !== 'boolean') throw bad(`${at}: "sync.onlySigned" must be true or false`)
  return { repositories: repositories as string[], ...(tags === undefined ? {} : { tags }), intervalSeconds: interval, onlySigned }
}

/** The mirror whose prefix a repository name falls under, and the name upstream. */
export function mirrorFor (mirrors: readonly MirrorConfig[], name: string): { mirror: MirrorConfig, upstreamName: string } | undefined {
  for (const mirror of mirrors) {
    if (name.startsWith(`${mirror.prefix}/`)) {
      const rest = name.slice(mirror.prefix.length + 1)
      return { mirror, upstreamName: mirror.upstreamPrefix === undefined ? rest : `${mirror.upstreamPrefix}/${rest}` }
    }
  }
  return undefined
}
