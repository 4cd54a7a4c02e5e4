// Retention policies: which tags and untagged manifests of a repository garbage collection removes. They live in
// the store (gc/retention/<name>), written by `berth retention set`, so every replica applies the same rules.
//
// A policy applies to the repositories its glob matches (`*` within one path component, `**` across them);
// when several match, the one with the longest glob wins. Without a matching policy, a repository loses nothing
// but what no manifest references.
import { readRecord, writeRecord } from '../registry/records.js'
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'

export interface RetentionPolicy {
  /** The policy's name (its key). */
  name: string
  /** Glob of the repository names it applies to: `team/*`, `team/**`, `**`. */
  repositories: string
  /** Keep the newest N tags by push time (the last write of the tag). */
  keepLastTags?: number
  /** Keep the tags this regular expression matches whole, whatever their age. */
  keepTags?: string
  /** Delete manifests that no tag reaches (directly or through an index) once their link is this old. */
  untaggedAfterSeconds?: number
  /** Keep referrers (signatures, SBOMs) as long as their subject is kept; default true. */
  keepReferrers: boolean
}

export class RetentionError extends Error {
  override readonly name = 'RetentionError'
}

const POLICY_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/
const GLOB = /^(\*\*|\*|[a-z0-9._-]+)(\/(\*\*|\*|[a-z0-9._-]+))*$/

/** Checks a policy's fields; throws RetentionError naming what is wrong. */
export function validatePolicy (policy: RetentionPolicy): RetentionPolicy {
  if (!POLICY_NAME.test(policy.name)) throw new RetentionError(`policy names are 1-64 of a-z, 0-9, '.', '_' and '-' (got "${policy.name}")`)
  if (!GLOB.test(policy.repositories)) throw new RetentionError(`--repos must be a repository glob such as team/* or team/** (got "${policy.repositories}")`)
  if (policy.keepLastTags !== undefined && (!Number.isInteger(policy.keepLastTags) || policy.keepLastTags < 0)) {
    throw new RetentionError('--keep-last must be a whole number')
  }
  if (policy.keepTags !== undefined) {
    try { new RegExp(policy.keepTags) } catch { throw new RetentionError(`--keep-tags is not a valid regular expression: ${policy.keepTags}`) }
  }
  if (policy.untaggedAfterSeconds !== undefined && (!Number.isInteger(policy.untaggedAfterSeconds) || policy.untaggedAfterSeconds < 0)) {
    throw new RetentionError('--untagged-after must be a whole number of seconds')
  }
  return policy
}

/** Whether repository `name` matches `glob`. */
export function globMatches (glob: string, name: string): boolean {
  const pattern = glob.split('/').map(part => part === '**' ? '.*' : part === '*' ? '[^/]+' : part.replace(/\./g, '\\.')).join('/')
  return new RegExp(`^${pattern.replace(/\/\.\*$/, '(/.*)?')}$`).test(name)
}

/** The policy for `name` among `policies`: the matching one with the longest glob. */
export function policyFor (policies: RetentionPolicy[], name: string): RetentionPolicy | undefined {
  let best: RetentionPolicy | undefined
  for (const policy of policies) {
    if (globMatches(policy.repositories, name) && (best === undefined || policy.repositories.length > best.repositories.length)) best = policy
  }
  return best
}

/** Whether a policy deletes tags at all (else every tag is kept). */
export function prunesTags (policy: RetentionPolicy | undefined): boolean {
  return policy !== undefined && (policy.keepLastTags !== undefined || policy.keepTags !== undefined)
}

export function createRetention (driver: StorageDriver) {
  return {
    async set (policy: RetentionPolicy): Promise<void> {
      await writeRecord(driver, paths.gcRetention(validatePolicy(policy).name), policy)
    },

    async get (name: string): Promise<RetentionPolicy | undefined> {
      return POLICY_NAME.test(name) ? await readRecord<RetentionPolicy>(driver, paths.gcRetention(name)) : undefined
    },

    async delete (name: string): Promise<boolean> {
      return POLICY_NAME.test(name) && await driver.delete(paths.gcRetention(name))
    },

    /** Every policy, by name. There are few: an operator writes each one. */
    async list (): Promise<RetentionPolicy[]> {
      const found: RetentionPolicy[] = []
      let startAfter: string | undefined
      for (;;) {
        const page = await driver.list(paths.gcRetentionPrefix, { limit: 1000, startAfter })
        for (const key of page.keys) {
          const policy = await readRecord<RetentionPolicy>(driver, key)
          if (policy !== undefined) found.push(policy)
        }
        if (!page.truncated || page.keys.length === 0) return found
        startAfter = page.keys.at(-1)
      }
    }
  }
}

export type Retention = ReturnType<typeof createRetention>
