// Signed tokens (JWT, HS256, with jose). Two kinds, told apart by the `use` claim:
//   access    short-lived (BERTH_TOKEN_TTL_SECONDS), carries the Docker `access` claim: exactly what it grants.
//             Issued by the token endpoint; sent as `Authorization: Bearer` on /v2.
//   identity  long-lived (BERTH_REFRESH_TOKEN_TTL_SECONDS), no `access` claim: it proves who the user is and
//             grants whatever the user may do at the time of each request. It is the OAuth2 refresh token
//             (docker's "identity token") and the token the CNR login returns.
// Both carry `sub` (the user; absent for anonymous access tokens), `gen` (the user's password generation, so a
// new password or a deleted user revokes them), `aud` (the service), `iss` and `jti`.
// A web UI session is an identity token with `session: true` and its own, shorter lifetime: signing out
// revokes it by its `jti` (src/auth/sign-outs.ts), which other identity tokens never need to be checked for.
import { randomUUID } from 'node:crypto'
import { unauthenticated } from './errors.js'
import type { SigningKey } from './keys.js'
import { isAccessClaim, type AccessEntry } from './scopes.js'
import type { User } from './users.js'

export const TOKEN_ISSUER = 'berth'
/** Longer than any token Berth issues; anything bigger is refused before it is parsed. */
const MAX_TOKEN_LENGTH = 16 * 1024

export type TokenUse = 'access' | 'identity'

export interface VerifiedToken {
  use: TokenUse
  /** The user name; undefined for an anonymous access token. */
  subject?: string
  gen?: string
  /** The `access` claim of an access token. */
  access?: AccessEntry[]
  /** The token's id (`jti`). */
  id: string
  /** Whether it is a web UI session, which signing out revokes. */
  session: boolean
  issuedAt: number
  expiresAt: number
}

export interface IssuedToken {
  token: string
  expiresIn: number
  issuedAt: Date
}

export interface TokenOptions {
  key: () => Promise<SigningKey>
  service: string
  accessTtlSeconds: number
  identityTtlSeconds: number
  /** Milliseconds since the epoch; tests move it. */
  now: () => number
}

/** jose, loaded when the first token is signed or checked: an open registry never needs it. */
let jose: Promise<typeof import('jose')> | undefined
const loadJose = async (): Promise<typeof import('jose')> => await (jose ??= import('jose'))

export function createTokens ({ key, service, accessTtlSeconds, identityTtlSeconds, now }: TokenOptions) {
  async function sign (claims: Record<string, unknown>, subject: string | undefined, ttl: number): Promise<IssuedToken> {
    const { kid, secret } = await key()
    const { SignJWT } = await loadJose()
    const issuedAt = Math.floor(now() / 1000)
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(service)
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt)
      .setExpirationTime(issuedAt + ttl)
      .setJti(randomUUID())
    if (subject !== undefined) jwt.setSubject(subject)
    return { token: await jwt.sign(secret), expiresIn: ttl, issuedAt: new Date(issuedAt * 1000) }
  }

  return {
    /** An access token granting exactly `access` to `user` (undefined: anonymous). */
    async issueAccess (user: User | undefined, access: AccessEntry[]): Promise<IssuedToken> {
      return await sign({ use: 'access', access, ...(user === undefined ? {} : { gen: user.gen }) }, user?.username, accessTtlSeconds)
    },

    async issueIdentity (user: User): Promise<IssuedToken> {
      return await sign({ use: 'identity', gen: user.gen }, user.username, identityTtlSeconds)
    },

    /** A web UI session: an identity token that signing out revokes, living `ttlSeconds`. */
    async issueSession (user: User, ttlSeconds: number): Promise<IssuedToken> {
      return await sign({ use: 'identity', gen: user.gen, session: true }, user.username, ttlSeconds)
    },

    /**
     * Checks the signature, issuer, audience (this service) and lifetime. Throws AuthError `unauthenticated`
     * with `invalid_token` otherwise; the message says why, never what the token held.
     */
    async verify (token: string): Promise<VerifiedToken> {
      const invalid = (why: string) => unauthenticated(`invalid token: ${why}`, { tokenError: 'invalid_token' })
      if (token.length > MAX_TOKEN_LENGTH) throw invalid('too long')
      const { secret } = await key()
      const { errors: joseErrors, jwtVerify } = await loadJose()
      let payload
      try {
        ({ payload } = await jwtVerify(token, secret, {
          algorithms: ['HS256'],
          issuer: TOKEN_ISSUER,
          audience: service,
          currentDate: new Date(now()),
          clockTolerance: 5,
          requiredClaims: ['exp', 'iat']
        }))
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) throw invalid('expired')
        if (err instanceof joseErrors.JWTClaimValidationFailed) {
          throw invalid(err.claim === 'aud' ? 'issued for another service' : `bad ${err.claim} claim`)
        }
        if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw invalid('bad signature')
        throw invalid('malformed')
      }
      const use = payload.use
      if (use !== 'access' && use !== 'identity') throw invalid('unknown use')
      const subject = typeof payload.sub === 'string' ? payload.sub : undefined
      const gen = typeof payload.gen === 'string' ? payload.gen : undefined
      if (use === 'identity' && (subject === undefined || gen === undefined)) throw invalid('identity token without a subject')
      if (use === 'access' && !isAccessClaim(payload.access)) throw invalid('bad access claim')
      if (subject !== undefined && gen === undefined) throw invalid('no generation claim')
      const session = use === 'identity' && payload.session === true
      if (session && typeof payload.jti !== 'string') throw invalid('session without an id')
      return {
        use,
        ...(subject === undefined ? {} : { subject }),
        ...(gen === undefined ? {} : { gen }),
        ...(use === 'access' ? { access: payload.access as AccessEntry[] } : {}),
        id: payload.jti ?? '',
        session,
        issuedAt: (payload.iat ?? 0) * 1000,
        expiresAt: (payload.exp ?? 0) * 1000
      }
    }
  }
}

export type Tokens = ReturnType<typeof createTokens>
