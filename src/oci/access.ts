// Who may do what on /v2. Every request is checked after routing and before its handler: the route says what
// it needs (routes.ts `RouteAccess`), src/auth decides. Anonymous callers that need a credential get 401
// UNAUTHORIZED with a Docker Bearer challenge naming the scope to ask the token endpoint for; signed-in callers
// that may not get 403 DENIED; a token that lacks a scope its user has gets 401 with error="insufficient_scope",
// so the client fetches a new one. With no users, Berth is open and nothing is checked.
import type { FastifyRequest } from 'fastify'
import { AuthError, CATALOG_SCOPE, repositoryScope, type Auth, type Identity, ANONYMOUS } from '../auth/index.js'
import type { Page, PageRequest } from '../registry/pagination.js'
import { isValidName } from '../registry/reference.js'
import type { RouteMatch } from './routes.js'

/** What a handler knows about the caller. */
export interface OciAccess {
  identity: Identity
  /** Whether the caller may pull `name` (its permissions, and the claims of its token): for mount sources. */
  mayRead: (name: string) => Promise<boolean>
  /**
   * Whether a mount without `from` may link any blob already in the store. Only on an open registry or for
   * admins: for anyone else it would reveal, and hand over, blobs of repositories they cannot read.
   */
  autoMount: boolean
  /** One page of repository names, filtered to those the caller may pull. */
  readableNames: (fetch: (request: PageRequest) => Promise<Page<string>>, request: PageRequest) => Promise<Page<string>>
}

const fetchPage = async (fetch: (request: PageRequest) => Promise<Page<string>>, request: PageRequest): Promise<Page<string>> => await fetch(request)

const OPEN: OciAccess = {
  identity: ANONYMOUS,
  mayRead: async () => true,
  autoMount: true,
  readableNames: fetchPage
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
      autoMount: identity.kind === 'user' && identity.user.admin,
      readableNames: async (fetch, page) => await auth.readablePage(identity, fetch, page)
    }
  } catch (err) {
    if (err instanceof AuthError && err.reason === 'unauthenticated') {
      err.challenge = auth.challenge(request, scopesFor(request, match), err.options.tokenError)
    }
    throw err
  }
}
