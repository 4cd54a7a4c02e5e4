// Who may do what. A user owns the namespace with their name (`alice/…`); admins may do anything; a namespace
// policy shares a namespace with other users (read or write lists, "*" meaning every signed-in user); and a
// public repository may be pulled by anyone, signed in or not. Writing implies reading. `pull` needs read;
// `push` and `delete` need write.
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import { invalidAuthRequest } from './errors.js'
import { isValidName } from '../registry/reference.js'
import { RecordCache } from './records.js'
import type { RepositoryAction } from './scopes.js'
import { isValidUsername, type User } from './users.js'

export interface NamespacePolicy {
  read: string[]
  write: string[]
}

export type Visibility = 'public' | 'private'
export const VISIBILITIES: readonly Visibility[] = ['public', 'private']

/** Any signed-in user, in a policy list. */
export const EVERY_USER = '*'

/** The namespace a repository belongs to: its first path component. */
export function namespaceOf (name: string): string {
  const slash = name.indexOf('/')
  return slash === -1 ? name : name.slice(0, slash)
}

function listed (list: readonly string[], user: User): boolean {
  return list.includes(user.username) || list.includes(EVERY_USER)
}

export function createPolicies (driver: StorageDriver, { cacheTtlMs, defaultVisibility }: { cacheTtlMs: number, defaultVisibility: Visibility }) {
  const policies = new RecordCache<NamespacePolicy>(driver, cacheTtlMs)
  const visibilities = new RecordCache<{ visibility: Visibility }>(driver, cacheTtlMs)

  const isNamespace = (namespace: string): boolean => !namespace.includes('/') && isValidName(namespace)
  const assertNamespace = (namespace: string): void => {
    if (!isNamespace(namespace)) throw invalidAuthRequest(`invalid namespace "${namespace}": one repository-name component`)
  }

  const api = {
    async policy (namespace: string): Promise<NamespacePolicy> {
      if (!isNamespace(namespace)) return { read: [], write: [] }
      return await policies.get(paths.authPolicy(namespace)) ?? { read: [], write: [] }
    },

    /** Adds `member` (a user name or "*") to a namespace's read or write list. */
    async grant (namespace: string, member: string, level: 'read' | 'write'): Promise<NamespacePolicy> {
      assertNamespace(namespace)
      if (member !== EVERY_USER && !isValidUsername(member)) throw invalidAuthRequest(`invalid user name "${member}"`)
      const stored = await policies.update(paths.authPolicy(namespace), current => {
        const policy = current ?? { read: [], write: [] }
        if (policy[level].includes(member)) return undefined
        return { ...policy, [level]: [...policy[level], member].sort() }
      })
      return stored ?? { read: [], write: [] }
    },

    /** Removes `member` from the read list, the write list, or both (level undefined). */
    async revoke (namespace: string, member: string, level?: 'read' | 'write'): Promise<NamespacePolicy> {
      assertNamespace(namespace)
      const stored = await policies.update(paths.authPolicy(namespace), current => {
        if (current === undefined) return undefined
        const next = {
          read: level === 'write' ? current.read : current.read.filter(m => m !== member),
          write: level === 'read' ? current.write : current.write.filter(m => m !== member)
        }
        return next.read.length === current.read.length && next.write.length === current.write.length ? undefined : next
      })
      return stored ?? { read: [], write: [] }
    },

    /** Every namespace that has a policy, with it, in name order. */
    async list (): Promise<Array<{ namespace: string } & NamespacePolicy>> {
      const out: Array<{ namespace: string } & NamespacePolicy> = []
      let startAfter: string | undefined
      for (;;) {
        const page = await driver.list(paths.authPoliciesPrefix, { limit: 1000, startAfter })
        for (const key of page.keys) {
          const policy = await policies.get(key)
          if (policy !== undefined) out.push({ namespace: paths.authPolicyFromKey(key), ...policy })
        }
        if (!page.truncated) return out
        startAfter = page.keys.at(-1)
      }
    },

    /** The namespaces a policy shares with `user` (read or write, by name or "*"): one read per policy. */
    async sharedWith (user: User): Promise<string[]> {
      return (await api.list()).filter(p => listed(p.read, user) || listed(p.write, user)).map(p => p.namespace)
    },

    /** The repositories recorded as `visibility` (not those that merely have the default), in name order. */
    async * withVisibility (visibility: Visibility): AsyncGenerator<string> {
      let startAfter: string | undefined
      for (;;) {
        const page = await driver.list(paths.authVisibilityPrefix, { limit: 1000, startAfter })
        for (const key of page.keys) {
          if ((await visibilities.get(key))?.visibility === visibility) yield paths.authVisibilityFromKey(key)
        }
        if (!page.truncated || page.keys.length === 0) return
        startAfter = page.keys.at(-1)
      }
    },

    async visibility (name: string): Promise<Visibility> {
      return (await visibilities.get(paths.authVisibility(name)))?.visibility ?? defaultVisibility
    },

    /** Makes a repository public (anyone may pull it) or private. The CNR push `visibility` field lands here. */
    async setVisibility (name: string, visibility: Visibility): Promise<void> {
      if (!VISIBILITIES.includes(visibility)) throw invalidAuthRequest(`visibility must be "public" or "private" (got "${String(visibility)}")`)
      await visibilities.update(paths.authVisibility(name), current => current?.visibility === visibility ? undefined : { visibility })
    },

    /**
     * Whether `user` (undefined: anonymous) may do `action` to repository `name`, by the rules at the top of
     * this file. Tokens are not considered here: they can only narrow this (src/auth/service.ts).
     */
    async permits (user: User | undefined, name: string, action: RepositoryAction): Promise<boolean> {
      if (user?.admin === true) return true
      if (user !== undefined) {
        const namespace = namespaceOf(name)
        if (namespace === user.username) return true
        const policy = await api.policy(namespace)
        if (listed(policy.write, user)) return true
        if (action === 'pull' && listed(policy.read, user)) return true
      }
      return action === 'pull' && await api.visibility(name) === 'public'
    }
  }
  return api
}

export type Policies = ReturnType<typeof createPolicies>
