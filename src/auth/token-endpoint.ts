// The Docker token endpoint, GET and POST /v2/token (distribution's docs/spec/auth/token.md and oauth.md):
//   GET  ?service=&scope=…[&offline_token=true]  with Basic credentials, an identity token, or none (anonymous)
//   POST grant_type=password (username, password) or grant_type=refresh_token (refresh_token), with service,
//        client_id, scope (space-separated) and access_type=offline to ask for a refresh token
// Answers {token, access_token, expires_in, issued_at} (+ refresh_token when one was asked for). The access token
// grants only what the caller may do of what was asked. Registered inside the /v2 scope, so errors are OCI ones.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { invalidAuthRequest, unauthenticated } from './errors.js'
import { parseScopes } from './scopes.js'
import type { Auth, Identity } from './service.js'
import type { User } from './users.js'

export interface TokenEndpointOptions {
  auth: Auth
}

export interface TokenResponse {
  token: string
  access_token: string
  expires_in: number
  issued_at: string
  refresh_token?: string
}

/** Every value of a parameter that may repeat (a query string parsed by Fastify, or a form). */
function values (params: unknown, key: string): string[] {
  const value = (params as Record<string, unknown> | undefined)?.[key]
  if (value === undefined) return []
  return (Array.isArray(value) ? value : [value]).map(String)
}

function single (params: unknown, key: string): string | undefined {
  const all = values(params, key)
  if (all.length > 1) throw invalidAuthRequest(`parameter ${key} must be given once`)
  return all[0]
}

function parseForm (body: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [key, value] of new URLSearchParams(body)) {
    const existing = out[key]
    out[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value]
  }
  return out
}

export async function tokenEndpoint (app: FastifyInstance, { auth }: TokenEndpointOptions): Promise<void> {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
    done(null, parseForm(body as string))
  })

  const checkService = (params: unknown): void => {
    const service = single(params, 'service')
    if (service !== undefined && service !== auth.config.service) {
      throw invalidAuthRequest(`this token service is for "${auth.config.service}", not "${service}"`)
    }
  }

  const respond = async (reply: FastifyReply, identity: Identity, params: unknown, offline: boolean): Promise<TokenResponse> => {
    const access = await auth.grant(identity, parseScopes(values(params, 'scope')))
    const user = identity.kind === 'user' ? identity.user : undefined
    const issued = await auth.tokens.issueAccess(user, access)
    const body: TokenResponse = {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt.toISOString()
    }
    if (offline && user !== undefined) body.refresh_token = (await auth.tokens.issueIdentity(user)).token
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache')
    return body
  }

  app.get('/token', async (request: FastifyRequest, reply: FastifyReply) => {
    checkService(request.query)
    const identity = await auth.identify(request)
    if (identity.claims !== undefined) throw unauthenticated('an access token cannot be exchanged for another token')
    return await respond(reply, identity, request.query, single(request.query, 'offline_token') === 'true')
  })

  app.post('/token', async (request: FastifyRequest, reply: FastifyReply) => {
    const form = request.body
    if (typeof form !== 'object' || form === null) {
      throw invalidAuthRequest('the token endpoint takes an application/x-www-form-urlencoded body for POST')
    }
    checkService(form)
    const grantType = single(form, 'grant_type')
    const client = auth.clientOf(request)
    let user: User
    if (grantType === 'password') {
      const username = single(form, 'username')
      const password = single(form, 'password')
      if (username === undefined || password === undefined) throw invalidAuthRequest('grant_type=password needs username and password')
      user = await auth.login(username, password, client)
    } else if (grantType === 'refresh_token') {
      const refreshToken = single(form, 'refresh_token')
      if (refreshToken === undefined) throw invalidAuthRequest('grant_type=refresh_token needs refresh_token')
      auth.throttle.check(client)
      let identity: Identity
      try {
        identity = await auth.identifyAuthorization(`Bearer ${refreshToken}`, client)
      } catch (err) {
        auth.throttle.fail(client)
        throw err
      }
      if (identity.kind !== 'user' || identity.via !== 'identity-token') {
        auth.throttle.fail(client)
        throw unauthenticated('invalid refresh token')
      }
      user = identity.user
    } else {
      throw invalidAuthRequest(`unsupported grant_type "${grantType ?? ''}": use password or refresh_token`)
    }
    return await respond(reply, { kind: 'user', user, via: 'identity-token' }, form, single(form, 'access_type') === 'offline')
  })
}
