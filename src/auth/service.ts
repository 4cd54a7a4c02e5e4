// The auth service: who is calling (identify), what they may do (permits, check, require), tokens for them
// (grant + the token kinds in tokens.ts), and the CNR login and signup. HTTP-light: it reads the
// Authorization header and the client address of a request, and throws AuthError, which each API surface
// renders in its own dialect. With no users in the store, Berth runs open: everyone may do everything.
import { createHmac, randomBytes } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { AuthConfig } from '../config.js'
import type { StorageDriver } from '../storage/driver.js'
import type { Page, PageRequest } from '../registry/pagination.js'
import { lruCache } from '../util/lru.js'
import { AuthError, forbidden, unauthenticated } from './errors.js'
import { loadSigningKey, type SigningKey } from './keys.js'
import { createPolicies, type Visibility } from './policy.js'
import { claimsGrant, expandActions, repositoryScope, type AccessEntry, type RepositoryAction } from './scopes.js'
import { createSignOuts } from './sign-outs.js'
import { LoginThrottle } from './throttle.js'
import { createTokens, type VerifiedToken } from './tokens.js'
import { createUsers, type User } from './users.js'

/** Who a request comes from. `claims` is set when a Docker access token was presented: it narrows what is allowed. */
export type Identity =
  | { kind: 'anonymous', claims?: AccessEntry[] }
  | { kind: 'user', user: User, via: 'basic' | 'access-token' | 'identity-token', claims?: AccessEntry[] }

export const ANONYMOUS: Identity = Object.freeze({ kind: 'anonymous' })

/**
 * The outcome of an access check. `unauthenticated`: the caller is anonymous and must sign in (401);
 * `insufficient_scope`: the user may do it but the token presented does not say so (401: get another token);
 * `forbidden`: the signed-in user may not (403).
 */
export type Decision = 'allow' | 'unauthenticated' | 'insufficient_scope' | 'forbidden'

export interface AuthDeps {
  /** Milliseconds since the epoch; tests move it. */
  now?: () => number
}

/** The actions a Bearer challenge asks for when `action` is refused: a push needs pull too (clients fetch first). */
function challengeActions (action: RepositoryAction): RepositoryAction[] {
  return action === 'push' ? ['pull', 'push'] : [action]
}

export function createAuth (driver: StorageDriver, config: AuthConfig, { now = Date.now }: AuthDeps = {}) {
  const users = createUsers(driver, { cacheTtlMs: config.cacheTtlMs })
  const policies = createPolicies(driver, { cacheTtlMs: config.cacheTtlMs, defaultVisibility: config.defaultVisibility })
  let signingKey: Promise<SigningKey> | undefined
  const key = async (): Promise<SigningKey> => {
    signingKey ??= loadSigningKey(driver).catch(err => { signingKey = undefined; throw err })
    return await signingKey
  }
  const tokens = createTokens({
    key, service: config.service, accessTtlSeconds: config.tokenTtlSeconds, identityTtlSeconds: config.refreshTokenTtlSeconds, now
  })
  const signOuts = createSignOuts(driver, now)
  const throttle = new LoginThrottle({ maxFailures: config.loginMaxFailures, windowMs: config.loginWindowSeconds * 1000, now })
  // Basic credentials sent on every request are checked with scrypt once, then remembered for a minute under an
  // HMAC of the pair (never the password itself), together with the user's password generation.
  const basicSecret = randomBytes(32)
  const basicVerified = lruCache<string, { username: string, gen: string }>(1000, { ttl: 60_000 })
  const identities = new WeakMap<FastifyRequest, Identity>()

  const auth = {
    config,
    users,
    policies,
    tokens,
    signOuts,
    throttle,

    /** Whether the rules apply: at least one user exists. Otherwise Berth is open (anonymous read and write). */
    async enabled (): Promise<boolean> {
      return await users.any()
    },

    /** The address failed logins are counted against. */
    clientOf (request: FastifyRequest): string {
      return request.ip
    },

    /**
     * Checks a user name and password, counting failures against `client` and refusing a client that failed too
     * often (AuthError `throttled`). Throws AuthError `unauthenticated` for bad credentials.
     */
    async login (username: string, password: string, client: string): Promise<User> {
      throttle.check(client)
      const user = await users.verify(username, password)
      if (user === undefined) {
        throttle.fail(client)
        throw unauthenticated('invalid username or password')
      }
      return user
    },

    /**
     * The identity an `Authorization` header value proves: nothing (anonymous), `Basic` (any case: the appr
     * client sends `basic`), or `Bearer` with an access or identity token. Throws AuthError `unauthenticated`
     * (or `throttled`) when the credentials do not check out. With auth off, credentials are ignored.
     */
    async identifyAuthorization (header: string | undefined, client: string): Promise<Identity> {
      if (header === undefined || header.trim() === '' || !await auth.enabled()) return ANONYMOUS
      const match = /^\s*(\S+)\s+(\S+)\s*$/.exec(header)
      const scheme = match?.[1]?.toLowerCase()
      const value = match?.[2] ?? ''
      if (scheme === 'basic') {
        const decoded = Buffer.from(value, 'base64').toString('utf8')
        const colon = decoded.indexOf(':')
        if (colon <= 0) throw unauthenticated('malformed Basic credentials')
        const username = decoded.slice(0, colon)
        const password = decoded.slice(colon + 1)
        throttle.check(client)
        const cacheKey = createHmac('sha256', basicSecret).update(username).update('\0').update(password).digest('base64')
        const remembered = basicVerified.get(cacheKey)
        if (remembered !== undefined) {
          const user = await users.get(remembered.username)
          if (user !== undefined && user.gen === remembered.gen) return { kind: 'user', user, via: 'basic' }
          basicVerified.delete(cacheKey)
        }
        const user = await auth.login(username, password, client)
        basicVerified.set(cacheKey, { username: user.username, gen: user.gen })
        return { kind: 'user', user, via: 'basic' }
      }
      if (scheme === 'bearer') return (await auth.identifyToken(value)).identity
      throw unauthenticated('unsupported authorization scheme: use Basic or Bearer')
    },

    /**
     * The identity a Bearer token proves, with the token's verified claims (the web UI reads a session's
     * lifetime and id from them). Throws AuthError `unauthenticated` as identifyAuthorization does.
     */
    async identifyToken (value: string): Promise<{ identity: Identity, token: VerifiedToken }> {
      const token = await tokens.verify(value)
      if (token.subject === undefined) return { identity: { kind: 'anonymous', claims: token.access ?? [] }, token }
      const user = await users.get(token.subject)
      if (user === undefined || user.gen !== token.gen) {
        throw unauthenticated('invalid token: revoked (the user was deleted or changed password)', { tokenError: 'invalid_token' })
      }
      if (token.session && await signOuts.isSignedOut(token.id, token.expiresAt)) {
        throw unauthenticated('invalid token: the session was signed out', { tokenError: 'invalid_token' })
      }
      const identity: Identity = token.use === 'access'
        ? { kind: 'user', user, via: 'access-token', claims: token.access ?? [] }
        : { kind: 'user', user, via: 'identity-token' }
      return { identity, token }
    },

    /** identifyAuthorization() for a request, computed once per request. */
    async identify (request: FastifyRequest): Promise<Identity> {
      const known = identities.get(request)
      if (known !== undefined) return known
      const identity = await auth.identifyAuthorization(request.headers.authorization, auth.clientOf(request))
      identities.set(request, identity)
      return identity
    },

    /** Whether the identity's user (or anyone, for anonymous callers) may do `action` to `name`. Ignores token claims. */
    async permits (identity: Identity, name: string, action: RepositoryAction): Promise<boolean> {
      if (!await auth.enabled()) return true
      return await policies.permits(identity.kind === 'user' ? identity.user : undefined, name, action)
    },

    /** The full check: the user's permissions, then the claims of the token presented, if any. */
    async check (identity: Identity, name: string, action: RepositoryAction): Promise<Decision> {
      if (!await auth.enabled()) return 'allow'
      if (!await auth.permits(identity, name, action)) return identity.kind === 'user' ? 'forbidden' : 'unauthenticated'
      if (identity.claims !== undefined && !claimsGrant(identity.claims, name, action)) return 'insufficient_scope'
      return 'allow'
    },

    /** check(), throwing AuthError unless allowed. The error carries the scope a Bearer challenge should name. */
    async require (identity: Identity, name: string, action: RepositoryAction): Promise<void> {
      const decision = await auth.check(identity, name, action)
      if (decision === 'allow') return
      const scopes = [repositoryScope(name, challengeActions(action))]
      if (decision === 'unauthenticated') throw unauthenticated('authentication required', { scopes, detail: { name, action } })
      if (decision === 'insufficient_scope') {
        throw unauthenticated(`the token presented does not grant ${action} on ${name}`, { scopes, tokenError: 'insufficient_scope', detail: { name, action } })
      }
      throw forbidden('requested access to the resource is denied', { detail: { name, action } })
    },

    /** identify() and require() for one request: the usual call for a route about one repository. */
    async requireAccess (request: FastifyRequest, name: string, action: RepositoryAction): Promise<Identity> {
      const identity = await auth.identify(request)
      await auth.require(identity, name, action)
      return identity
    },

    /**
     * What a token for `identity` may carry, given the scopes requested: for each repository, the requested
     * actions the identity may do (none: the entry is left out); the catalog to anyone (it is filtered per
     * caller); nothing of any other type.
     */
    async grant (identity: Identity, requested: AccessEntry[]): Promise<AccessEntry[]> {
      const granted: AccessEntry[] = []
      for (const entry of requested) {
        if (entry.type === 'registry' && entry.name === 'catalog') {
          granted.push({ type: 'registry', name: 'catalog', actions: ['*'] })
        } else if (entry.type === 'repository') {
          const actions: RepositoryAction[] = []
          for (const action of expandActions(entry.actions)) {
            if (await auth.permits(identity, entry.name, action)) actions.push(action)
          }
          if (actions.length > 0) granted.push({ type: 'repository', name: entry.name, actions })
        }
      }
      return granted
    },

    /**
     * One page of a listing, keeping only what the caller may pull: fetches pages of the underlying listing
     * (`fetch`, resumable after a cursor) until `limit` readable items are found or it is exhausted. `nameOf`
     * gives an item's repository name and `cursorOf` the value to resume after it (both default to the item,
     * for listings of names such as the catalog). Open registries and admins see everything in one fetch.
     */
    async readablePage<T> (
      identity: Identity,
      fetch: (request: PageRequest) => Promise<Page<T>>,
      { limit, last }: PageRequest,
      nameOf: (item: T) => string = item => String(item),
      cursorOf: (item: T) => string = nameOf
    ): Promise<Page<T>> {
      if (!await auth.enabled() || (identity.kind === 'user' && identity.user.admin)) {
        return await fetch(last === undefined ? { limit } : { limit, last })
      }
      const items: T[] = []
      let cursor = last
      for (;;) {
        const page = await fetch({ limit: Math.max(limit, 100), ...(cursor === undefined ? {} : { last: cursor }) })
        for (const [i, item] of page.items.entries()) {
          cursor = cursorOf(item)
          if (!await auth.permits(identity, nameOf(item), 'pull')) continue
          items.push(item)
          if (items.length === limit) return { items, truncated: page.truncated || i < page.items.length - 1 }
        }
        if (!page.truncated || page.items.length === 0) return { items, truncated: false }
      }
    },

    /** The CNR login: a token the appr client sends back verbatim as its Authorization header. */
    async cnrLogin (username: string, password: string, client: string): Promise<{ token: string }> {
      const user = await auth.login(username, password, client)
      return { token: `Bearer ${(await tokens.issueIdentity(user)).token}` }
    },

    /**
     * CNR signup (only when BERTH_SIGNUP=true): creates an ordinary user and returns a login token. Every
     * attempt counts against the client's throttle budget, so accounts cannot be created in bulk.
     */
    async signup (username: string, password: string, client: string): Promise<{ token: string }> {
      if (!config.signup) throw forbidden('signup is disabled on this registry')
      throttle.check(client)
      throttle.fail(client)
      const user = await users.add(username, password)
      return { token: `Bearer ${(await tokens.issueIdentity(user)).token}` }
    },

    /** A repository's visibility: public (anyone may pull) or private. */
    async visibility (name: string): Promise<Visibility> {
      return await policies.visibility(name)
    },

    /** Sets a repository's visibility: the CNR push `visibility` field, `berth repo visibility`. */
    async setVisibility (name: string, visibility: Visibility): Promise<void> {
      await policies.setVisibility(name, visibility)
    },

    /** Absolute URL of the token endpoint, for challenges. */
    realm (request: FastifyRequest): string {
      if (config.realm !== undefined) return config.realm
      // The Host header comes from the client: anything odd becomes localhost rather than part of a header.
      const host = typeof request.host === 'string' && /^[A-Za-z0-9.\-:[\]]+$/.test(request.host) ? request.host : 'localhost'
      return `${request.protocol}://${host}/v2/token`
    },

    /** A Docker `WWW-Authenticate: Bearer` challenge. */
    challenge (request: FastifyRequest, scopes: string[] = [], tokenError?: string): string {
      const parts = [`realm="${auth.realm(request)}"`, `service="${config.service}"`]
      if (scopes.length > 0) parts.push(`scope="${scopes.join(' ')}"`)
      if (tokenError !== undefined) parts.push(`error="${tokenError}"`)
      return `Bearer ${parts.join(',')}`
    },

    /**
     * Startup: creates (or repairs) the admin from BERTH_ADMIN_USER/BERTH_ADMIN_PASSWORD, makes sure the signing
     * key exists, and warns loudly when no user exists and Berth therefore runs open.
     */
    async bootstrap (log: FastifyBaseLogger): Promise<void> {
      const admin = config.admin
      if (admin !== undefined) {
        try {
          const existing = await users.get(admin.username)
          if (existing === undefined) {
            await users.add(admin.username, admin.password, { admin: true }).catch(err => {
              if (!(err instanceof AuthError && err.reason === 'conflict')) throw err // another replica won
            })
            log.info({ user: admin.username }, 'created the admin user from BERTH_ADMIN_USER')
          } else {
            if (!existing.admin) await users.setAdmin(admin.username, true)
            if (await users.verify(admin.username, admin.password) === undefined) {
              await users.setPassword(admin.username, admin.password)
              log.info({ user: admin.username }, 'reset the admin password from BERTH_ADMIN_PASSWORD')
            }
          }
        } catch (err) {
          if (err instanceof AuthError) throw new Error(`BERTH_ADMIN_USER/BERTH_ADMIN_PASSWORD: ${err.message}`)
          throw err
        }
      }
      if (!await auth.enabled()) {
        log.warn('NO USERS ARE CONFIGURED: Berth is running OPEN, anyone can pull, push and delete. ' +
          'Add a user with `berth user add <name>` (password on stdin) or set BERTH_ADMIN_USER and BERTH_ADMIN_PASSWORD; ' +
          'the rules apply as soon as one user exists.')
      } else {
        log.info({ service: config.service }, 'authentication is on')
      }
    }
  }
  return auth
}

export type Auth = ReturnType<typeof createAuth>
