// Docker token scopes (distribution's docs/spec/auth/scope.md): `repository:<name>:<action>[,<action>…]` and
// `registry:catalog:*`, and the `access` claim of a token, which lists what it grants in the same terms.
import { isValidName } from '../registry/reference.js'
import { invalidAuthRequest } from './errors.js'

/** What can be done to a repository. `pull` reads; `push` writes and uploads; `delete` removes manifests and blobs. */
export type RepositoryAction = 'pull' | 'push' | 'delete'
export const REPOSITORY_ACTIONS: readonly RepositoryAction[] = ['pull', 'push', 'delete']

/** One entry of a token's `access` claim, and one requested scope. */
export interface AccessEntry {
  type: string
  name: string
  actions: string[]
}

export const CATALOG_SCOPE = 'registry:catalog:*'

/**
 * Parses the scopes of a token request: repeated `scope` parameters, each possibly holding several
 * space-separated scopes (the OAuth2 form). Unknown resource types are kept (and later granted nothing).
 */
export function parseScopes (values: string[]): AccessEntry[] {
  const entries: AccessEntry[] = []
  for (const scope of values.flatMap(v => v.split(' ')).filter(s => s !== '')) {
    const first = scope.indexOf(':')
    const last = scope.lastIndexOf(':')
    if (first <= 0 || last === first) throw invalidAuthRequest(`malformed scope "${scope}"`)
    // `repository(plugin):name:pull` carries a resource class; it does not change what is asked for.
    const type = scope.slice(0, first).replace(/\(.*\)$/, '')
    const name = scope.slice(first + 1, last)
    const actions = scope.slice(last + 1).split(',').filter(a => a !== '')
    if (type === 'repository' && !isValidName(name)) throw invalidAuthRequest(`invalid repository name in scope "${scope}"`)
    const existing = entries.find(e => e.type === type && e.name === name)
    if (existing === undefined) entries.push({ type, name, actions: [...new Set(actions)] })
    else existing.actions = [...new Set([...existing.actions, ...actions])]
  }
  return entries
}

export function formatScope (entry: AccessEntry): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(',')}`
}

export function repositoryScope (name: string, actions: RepositoryAction[]): string {
  return formatScope({ type: 'repository', name, actions })
}

/** The actions a requested action list stands for: `*` is every repository action. */
export function expandActions (actions: string[]): RepositoryAction[] {
  if (actions.includes('*')) return [...REPOSITORY_ACTIONS]
  return REPOSITORY_ACTIONS.filter(a => actions.includes(a))
}

/** Whether a token's `access` claim grants `action` on repository `name`. */
export function claimsGrant (claims: readonly AccessEntry[], name: string, action: RepositoryAction): boolean {
  return claims.some(e => e.type === 'repository' && e.name === name && (e.actions.includes(action) || e.actions.includes('*')))
}

/** Checks the shape of an `access` claim read from a verified token. */
export function isAccessClaim (value: unknown): value is AccessEntry[] {
  return Array.isArray(value) && value.every(e =>
    typeof e === 'object' && e !== null &&
    typeof (e as AccessEntry).type === 'string' && typeof (e as AccessEntry).name === 'string' &&
    Array.isArray((e as AccessEntry).actions) && (e as AccessEntry).actions.every(a => typeof a === 'string'))
}
