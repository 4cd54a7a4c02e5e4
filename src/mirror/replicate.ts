// Push replication (BERTH_REPLICATION): a rule pushes the local repositories matching its pattern to a remote
// registry when they change. Each manifest push (push-completed event) to a matching repository queues a copy
// in the store's outbox, one record per rule, while the push is still being answered, so an acknowledged push
// is never lost to a crash. The outboxes are a durable queue (src/queue/durable-queue.ts, which holds the
// protocol), one queue per rule, that every replica works: a record is claimed with a lease so two replicas
// never copy it at once, a claim whose holder died expires and the record is taken again, and a failed copy is
// retried with backoff until it uses up its attempts. The queue is unordered: a copy waiting for its retry does
// not hold back the copies behind it. A copy skips what the remote already holds (copy.ts), so a repeat costs
// HEADs. Deletes are not replicated.
import type { Logger } from 'pino'
import { globMatches } from '../gc/retention.js'
import type { EventOf, RegistryEvents } from '../registry/events.js'
import type { Registry } from '../registry/index.js'
import { encodeRecord, readRecord } from '../registry/records.js'
import { isValidName } from '../registry/reference.js'
import { createDurableQueue, createQueueWorker, createSortableIds, type Entry, type Settled } from '../queue/durable-queue.js'
import { paths } from '../storage/paths.js'
import { addTally, copyImage, emptyTally, localEnd, remoteEnd, type CopyTally } from './copy.js'
import { createRegistryClient, type RegistryClient, type RemoteRegistry } from './registry-client.js'
import { COSIGN_TAG, cosignSignatureTag, isSigned } from './signatures.js'

export interface ReplicationRule {
  name: string
  /** Local repository names: a glob (`*` one path segment, `**` any), or a regular expression between slashes. */
  repositories: string
  target: RemoteRegistry
  /** Remote repositories are `<targetPrefix>/<local name>`. */
  targetPrefix?: string
  /** Push only images with a signature (an unsigned image is pushed once its signature is). */
  onlySigned: boolean
}

const RULE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/

/** Parses BERTH_REPLICATION (a JSON list of rules); throws an Error that says what is wrong. */
export function parseReplicationRules (raw: string | undefined): ReplicationRule[] {
  if (raw === undefined || raw.trim() === '') return []
  let list: unknown
  try { list = JSON.parse(raw) } catch { throw new Error('BERTH_REPLICATION must be a JSON list of rules') }
  if (!Array.isArray(list)) throw new Error('BERTH_REPLICATION must be a JSON list of rules')
  const rules = list.map((entry: unknown, i): ReplicationRule => {
    const where = `BERTH_REPLICATION[${i}]`
    if (entry === null || typeof entry !== 'object') throw new Error(`${where} must be an object`)
    const e = entry as Record<string, unknown>
    if (typeof e.name !== 'string' || !RULE_NAME.test(e.name)) throw new Error(`${where}.name must be lowercase letters, digits, '.', '_' or '-'`)
    if (typeof e.repositories !== 'string' || e.repositories === '') throw new Error(`${where}.repositories must be a glob or a /regular expression/`)
    if (isRegex(e.repositories)) {
      try { new RegExp(e.repositories.slice(1, -1)) } catch { throw new Error(`${where}.repositories is not a valid regular expression`) }
    }
    const target = e.target as Record<string, unknown> | undefined
    if (target === undefined || target === null || typeof target !== 'object' || typeof target.url !== 'string') throw new Error(`${where}.target.url is required`)
    let url: URL | undefined
    try { url = new URL(target.url) } catch {}
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new Error(`${where}.target.url must be an http:// or https:// URL`)
    for (const field of ['username', 'password'] as const) {
      if (target[field] !== undefined && typeof target[field] !== 'string') throw new Error(`${where}.target.${field} must be a string`)
    }
    if (e.targetPrefix !== undefined && (typeof e.targetPrefix !== 'string' || (e.targetPrefix !== '' && !isValidName(e.targetPrefix)))) {
      throw new Error(`${where}.targetPrefix must be a repository name prefix`)
    }
    if (e.onlySigned !== undefined && typeof e.onlySigned !== 'boolean') throw new Error(`${where}.onlySigned must be true or false`)
    return {
      name: e.name,
      repositories: e.repositories,
      target: {
        url: target.url.replace(/\/+$/, ''),
        ...(typeof target.username === 'string' ? { username: target.username } : {}),
        ...(typeof target.password === 'string' ? { password: target.password } : {})
      },
      ...(typeof e.targetPrefix === 'string' && e.targetPrefix !== '' ? { targetPrefix: e.targetPrefix } : {}),
      onlySigned: e.onlySigned === true
    }
  })
  const names = rules.map(r => r.name)
  if (new Set(names).size !== names.length) throw new Error('BERTH_REPLICATION names a rule twice')
  return rules
}

function isRegex (pattern: string): boolean {
  return pattern.length >= 2 && pattern.startsWith('/') && pattern.endsWith('/')
}

export function ruleMatches (rule: ReplicationRule, repository: string): boolean {
  return isRegex(rule.repositories)
    ? new RegExp(`^(?:${rule.repositories.slice(1, -1)})$`).test(repository)
    : globMatches(rule.repositories, repository)
}

/** A copy a rule's outbox asks for. */
export interface CopyRequest {
  repository: string
  /** The manifest to copy, with its referrers. */
  digest: string
  /** Tags to point at it on the remote. */
  tags: string[]
  /** Copied whether signed or not (a signature in cosign's tag scheme). */
  artifact?: boolean
}

/** A copy waiting in a rule's outbox. */
export type PendingCopy = Entry<CopyRequest>

export interface RuleStatus {
  /** When the last copy of this rule finished or failed. */
  at: string
  result: 'ok' | 'failed' | 'skipped-unsigned'
  /** The last copy: `<repository>@<digest>` and its tags. */
  last: string
  /** Copies pushed so far (all replicas). */
  pushed: number
  lastError?: string
}

export interface PushReport {
  rule: string
  repository: string
  digest: string
  tags: string[]
  outcome: 'pushed' | 'skipped-unsigned' | 'retrying' | 'failed'
  written: CopyTally
  error?: string
}

export interface ReplicationOptions {
  log: Logger
  onPush?: (report: PushReport) => void
  clientFor?: (remote: RemoteRegistry) => RegistryClient
  /** How long a claim holds before another replica may take the record (renewed while copying). */
  leaseMs?: number
  /** How often each replica looks for copies queued by others or due for a retry. */
  pollMs?: number
  retryMs?: number
  retryMaxMs?: number
  maxAttempts?: number
}

export function createReplication (registry: Registry, rules: ReplicationRule[], options: ReplicationOptions) {
  const { log, clientFor = createRegistryClient, leaseMs = 120_000, pollMs = 5000, retryMs = 2000, retryMaxMs = 600_000, maxAttempts = 20 } = options
  const driver = registry.driver
  const local = localEnd(registry)
  const clients = new Map<string, RegistryClient>()
  const ruleNamed = new Map(rules.map(rule => [rule.name, rule]))
  const queue = createDurableQueue<CopyRequest>(driver, {
    layout: {
      prefix: (rule, state) => state === 'pending' ? paths.replicationOutboxPrefix(rule) : paths.replicationFailedPrefix(rule),
      destinations: async () => rules.map(rule => rule.name)
    },
    leaseMs,
    retryMs,
    retryMaxMs,
    maxAttempts
  })
  const nextId = createSortableIds()

  const clientOf = (rule: ReplicationRule): RegistryClient => {
    let client = clients.get(rule.name)
    if (client === undefined) clients.set(rule.name, client = clientFor(rule.target))
    return client
  }
  const targetOf = (rule: ReplicationRule, repository: string): string =>
    rule.targetPrefix === undefined ? repository : `${rule.targetPrefix}/${repository}`

  /** The tags naming `digest` in `repository` (the reverse index the tags service keeps). */
  async function tagsNaming (repository: string, digest: string): Promise<string[]> {
    const prefix = paths.taggedPrefix(repository, digest)
    const found: string[] = []
    for (let startAfter: string | undefined; ;) {
      const page = await driver.list(prefix, { limit: 1000, startAfter })
      for (const key of page.keys) {
        const tag = key.slice(prefix.length)
        if ((await registry.tags.get(repository, tag))?.digest === digest) found.push(tag)
      }
      if (!page.truncated || page.keys.length === 0) return found
      startAfter = page.keys.at(-1)
    }
  }

  /** What a push asks each matching rule to copy. */
  async function onPushCompleted (event: EventOf<'push-completed'>): Promise<void> {
    const matching = rules.filter(rule => ruleMatches(rule, event.repository))
    if (matching.length === 0) return
    const copies: CopyRequest[] = []
    const { repository } = event
    const cosign = event.tags.map(tag => COSIGN_TAG.exec(tag)?.[1]).find(hex => hex !== undefined)
    if (event.subject !== undefined) {
      // A referrer: copy its subject again, which brings the referrer along (and a subject that was waiting
      // for its signature under onlySigned).
      copies.push({ repository, digest: event.subject, tags: await tagsNaming(repository, event.subject) })
    } else if (cosign !== undefined) {
      const subject = `sha256:${cosign}`
      copies.push({ repository, digest: subject, tags: await tagsNaming(repository, subject) })
      copies.push({ repository, digest: event.digest, tags: event.tags, artifact: true })
    } else {
      copies.push({ repository, digest: event.digest, tags: event.tags })
    }
    for (const rule of matching) for (const copy of copies) await queue.enqueue(rule.name, nextId(), copy)
    worker.wake()
  }

  async function updateStatus (rule: ReplicationRule, report: PushReport): Promise<void> {
    const key = paths.replicationStatus(rule.name)
    for (let tries = 0; tries < 5; tries++) {
      const current = await driver.readVersioned(key)
      const previous = current === undefined ? undefined : JSON.parse(current.data.toString('utf8')) as RuleStatus
      const next: RuleStatus = {
        at: new Date().toISOString(),
        result: report.outcome === 'pushed' ? 'ok' : report.outcome === 'skipped-unsigned' ? 'skipped-unsigned' : 'failed',
        last: `${report.repository}@${report.digest}${report.tags.length > 0 ? ` (${report.tags.join(', ')})` : ''}`,
        pushed: (previous?.pushed ?? 0) + (report.outcome === 'pushed' ? 1 : 0),
        ...(report.error !== undefined ? { lastError: report.error } : previous?.lastError !== undefined ? { lastError: previous.lastError } : {})
      }
      if (await driver.compareAndSwap(key, current?.version, encodeRecord(next)) !== undefined) return
    }
  }

  /** Copies one pending record to the remote. */
  async function copy (rule: ReplicationRule, pending: CopyRequest): Promise<Pick<PushReport, 'outcome' | 'written'>> {
    const client = clientOf(rule)
    const remote = remoteEnd(client)
    const target = targetOf(rule, pending.repository)
    const written = emptyTally()
    if (!await local.hasManifest(pending.repository, pending.digest)) return { outcome: 'pushed', written } // deleted since: nothing to copy
    if (rule.onlySigned && pending.artifact !== true) {
      const cosignTag = cosignSignatureTag(pending.digest)
      const tags = new Set<string>(await registry.tags.get(pending.repository, cosignTag) !== undefined ? [cosignTag] : [])
      if (!await isSigned(local, pending.repository, pending.digest, tags)) return { outcome: 'skipped-unsigned', written }
    }
    const { tally } = await copyImage(local, pending.repository, remote, target, pending.digest)
    addTally(written, tally)
    // A tag the remote already points at this digest costs its one HEAD.
    for (const tag of pending.tags) {
      // A tag that has moved on here since this copy was queued belongs to a later copy: re-pointing it now (a
      // retry can run after that later copy) would move the remote's tag back to the older image.
      const here = await registry.tags.get(pending.repository, tag)
      if (here !== undefined && here.digest !== pending.digest) continue
      if ((await client.headManifest(target, tag))?.digest === pending.digest) continue
      const { tally } = await copyImage(local, pending.repository, remote, target, pending.digest, { tag, referrers: false })
      addTally(written, tally)
    }
    return { outcome: 'pushed', written }
  }

  /** Logs an attempt and records it in the rule's status and metrics. */
  async function report ({ destination, entry, attempt, outcome, value, error }: Settled<CopyRequest, Pick<PushReport, 'outcome' | 'written'>>): Promise<void> {
    const rule = ruleNamed.get(destination) as ReplicationRule
    const base = { rule: rule.name, repository: entry.repository, digest: entry.digest, tags: entry.tags }
    let pushReport: PushReport
    if (outcome === 'done' && value !== undefined) {
      pushReport = { ...base, ...value }
      const level = value.outcome === 'pushed' ? 'info' : 'debug'
      log[level]({ rule: rule.name, repository: entry.repository, digest: entry.digest, tags: entry.tags, target: rule.target.url, written: value.written },
        value.outcome === 'pushed' ? 'replication: pushed' : 'replication: skipped an unsigned image')
    } else {
      pushReport = { ...base, outcome: outcome === 'failed' ? 'failed' : 'retrying', written: emptyTally(), ...(error === undefined ? {} : { error }) }
      log.warn({ rule: rule.name, repository: entry.repository, digest: entry.digest, attempts: attempt, error }, `replication: a push failed${outcome === 'failed' ? '; it used up its attempts' : ''}`)
    }
    await updateStatus(rule, pushReport).catch((err: unknown) => { log.warn({ err }, 'replication: could not record the status') })
    try { options.onPush?.(pushReport) } catch (err) { log.warn({ err }, 'a replication listener failed') }
  }

  const worker = createQueueWorker<CopyRequest, Pick<PushReport, 'outcome' | 'written'>>(queue, {
    name: 'replication',
    work: async claim => ({ ok: true, value: await copy(ruleNamed.get(claim.destination) as ReplicationRule, claim.entry) }),
    onSettled: report,
    ordered: false,
    pollMs,
    parallel: 1,
    log
  })

  return {
    rules,

    /** Queues the pushes made from now on; returns the unsubscribe function. */
    subscribe (events: RegistryEvents): () => void {
      if (rules.length === 0) return () => {}
      return events.on('push-completed', onPushCompleted)
    },

    /** Runs one pass over the outboxes now (tests, the CLI); returns once it is done. */
    drain: worker.drain,

    /** Per rule: the last push recorded, and how many copies wait (pending) or gave up (failed). */
    async status (): Promise<Array<{ rule: ReplicationRule, last?: RuleStatus, pending: number, failed: number }>> {
      return await Promise.all(rules.map(async rule => {
        const last = await readRecord<RuleStatus>(driver, paths.replicationStatus(rule.name))
        return {
          rule,
          ...(last === undefined ? {} : { last }),
          pending: await queue.count(rule.name, 'pending'),
          failed: await queue.count(rule.name, 'failed')
        }
      }))
    },

    /** Puts the copies of a rule that used up their attempts back in its queue; returns how many. */
    async retryFailed (rule: string): Promise<number> {
      // Ids are collected first: retrying moves entries out of the listing being read.
      const ids: string[] = []
      for await (const id of queue.ids(rule, 'failed')) ids.push(id)
      let count = 0
      for (const id of ids) if (await queue.redeliver(rule, id)) count++
      return count
    },

    /** Starts this replica's loop over the outboxes (the server does; the CLI does not). */
    start (): void {
      if (rules.length > 0) worker.start()
    },

    /** Stops the loop once the copy in flight is done. */
    stop: worker.stop
  }
}

export type Replication = ReturnType<typeof createReplication>
