// Write policies the registry services consult before they write: immutable tags and storage quotas
// (implemented in src/governance). The services call the guard before the first byte of a write, so a refused
// write leaves the store as it was. Without one configured, every write is allowed at no cost.
import { RegistryError } from '../errors/registry-error.js'
import type { Marks } from '../gc/marks.js'

export interface RegistryGuard {
  /**
   * The immutable-tag rule matcher of the repository's namespace, or undefined when it has no rules (answered
   * from a short cache: no store read per request). The matcher returns the first rule a tag matches.
   */
  immutableRules: (name: string) => Promise<((tag: string) => string | undefined) | undefined>
  /**
   * Throws quota-exceeded when holding `size` more bytes (of blob or manifest `digest`, when known) would take the
   * repository's namespace past its quota. A digest the namespace already holds costs nothing.
   */
  checkQuota: (name: string, digest: string | undefined, size: number) => Promise<void>
}

/** What the blob and tag services consult as they write: GC liveness marks (src/gc/marks.ts) and the guard. */
export interface WritePolicies {
  marks?: Marks
  guard?: RegistryGuard
}

export const allowAll: RegistryGuard = {
  immutableRules: async () => undefined,
  checkQuota: async () => {}
}

/** The refusal of a change to an immutable tag, naming the tag and the rule. */
export function tagImmutable (name: string, tag: string, rule: string, digest: string, change: 'moved' | 'deleted'): RegistryError {
  return new RegistryError('tag-immutable',
    `tag "${tag}" of ${name} is immutable (rule "${rule}" of namespace ${name.split('/')[0] ?? name}): it names ${digest} and cannot be ${change}`,
    { repository: name, tag, rule, digest })
}
