// Who may do what on /v2. Every request is checked after routing and before its handler: the route says what
// it needs (routes.ts `RouteAccess`), src/auth decides. Anonymous callers that need a credential get 401
// UNAUTHORIZED with a Docker Bearer challenge naming the scope to ask the token endpoint for; signed-in callers
// that may not get 403 DENIED; a token that lacks a scope its user has gets 401 with error="insufficient_scope",
// so the client fetches a new one. With no users, Berth is open and nothing is checked.
import type { FastifyRequest } from 'fastify'
import { AuthError, CATALOG_SCOPE, repositoryScope, type Auth, type Identity, ANONYMOUS } from '../auth/index.js'
import type { Catalog } from '../registry/catalog.js'
import type { Page, PageRequest } from '../registry/pagination.js'
import { isValidName } from '../registry/reference.js'
import type { RouteMatch } from './routes.js'

/** What a handler knows about the caller. */
export interface OciAccess {
  identity: Identity
  /** Whether the caller may pull `name` (its permissions, and the claims of its token): for mount sources. */
  mayRead: (name: string) => Promise<boolean>
  /**
   * Where a mount without `from` (automatic mount) may take a blob from: `'any'` repository or the shared store
   * (an open registry, admins), or else only the repositories the caller may pull, so that a mount reveals and
   * hands over nothing of the others. Listed lazily: the mount stops at the first that links the blob.
   */
  mountSources: 'any' | ((catalog: Catalog) => AsyncIterable<string>)
  /** One page of repository names, filtered to those the caller may pull. */
  readableNames: (fetch: (request: PageRequest) => Promise<Page<string>>, request: PageRequest) => Promise<Page<string>>
}

const fetchPage = async (fetch: (request: PageRequest) => Promise<Page<string>>, request: PageRequest): Promise<Page<string>> => await fetch(request)

const OPEN: OciAccess = {
  identity: ANONYMOUS,
  mayRead: async () => true,
  mountSources: 'any',
  readableNames: fetchPage
}

/**
 * The repositories `identity` may pull, found without scanning the store: one listing of the catalog per
 * namespace the user owns or a policy shares with them, then the public repositories (the recorded ones, or
 * the whole catalog when repositories are public by default). Each is checked like a pull before it is
 * yielded. A token narrows this to the repositories its `access` claim names (a client cannot ask in advance
 * for a scope on a source it does not know, so a token usually allows only the target itself).
 */
async function * pullableRepositories (auth: Auth, identity: Identity, catalog: Catalog): AsyncGenerator<string> {
  const seen = new Set<string>()
  const pullable = async (name: string): Promise<boolean> => {
    if (seen.has(name)) return false
    seen.add(name)
    return await auth.check(identity, name, 'pull') === 'allow'
  }
  if (identity.claims !== undefined) {
    for (const entry of identity.claims) {
      if (entry.type === 'repository' && await pullable(entry.name)) yield entry.name
    }
    return
  }
  if (identity.kind !== 'user') return
  for (const namespace of [identity.user.username, ...await auth.policies.sharedWith(identity.user)]) {
    for await (const name of catalog.names(namespace)) if (await pullable(name)) yield name
  }
  const publicNames = auth.config.defaultVisibility === 'public' ? catalog.names() : auth.policies.withVisibility('public')
  for await (const name of publicNames) if (await pullable(name)) yield name
}

/** The scopes a challenge for this request names: the route's repository, and a mount source to pull from. */
function scopesFor (request: FastifyRequest, match: RouteMatch): string[] {
  switch (match.access) {
    case 'base': return []
    case 'catalog': return [CATALOG_SCOPE]
    case 'push': {
      const scopes = [repositoryScope(match.name, ['pull', 'push'])]
      const from = (request.query as Record<string, unknown> | undefined)?.from
      if (typeof from === 'string' && isValidName(from) && from !== match.name) scopes.push(repositoryScope(from, ['pull']))
      return scopes
    }
    default: return [repositoryScope(match.name, [match.access])]
  }
}

/** Authenticates and authorizes one /v2 request. Throws AuthError (with its challenge set) when refused. */
export async function authorizeOci (auth: Auth, request: FastifyRequest, match: RouteMatch): Promise<OciAccess> {
  try {
    if (!await auth.enabled()) return OPEN
    const identity = await auth.identify(request)
    if (match.access === 'base' || match.access === 'catalog') {
      // Any credential will do (clients probe GET /v2/ to learn how to authenticate); an anonymous token too.
      if (identity.kind === 'anonymous' && identity.claims === undefined) throw new AuthError('unauthenticated', 'authentication required')
    } else {
      await auth.require(identity, match.name, match.access)
    }
    return {
      identity,
      mayRead: async name => await auth.check(identity, name, 'pull') === 'allow',
      mountSources: identity.kind === 'user' && identity.user.admin ? 'any' : catalog => pullableRepositories(auth, identity, catalog),
      readableNames: async (fetch, page) => await auth.readablePage(identity, fetch, page)
    }
  } catch (err) {
    if (err instanceof AuthError && err.reason === 'unauthenticated') {
      err.challenge = auth.challenge(request, scopesFor(request, match), err.options.tokenError)
    }
    throw err
  }
}
