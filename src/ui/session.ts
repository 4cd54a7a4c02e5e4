// The web UI's session: the browser holds a Berth identity token (the refresh token the token endpoint issues
// for access_type=offline) in an HttpOnly, SameSite=Strict cookie, never in script-readable storage. A request
// to an API path that carries the cookie and no Authorization header is served as if it carried
// `Authorization: Bearer <token>`, so the UI has exactly the rights the APIs give that user. State-changing
// requests also need the double-submit CSRF token (a second, script-readable cookie echoed in a header);
// without it the cookie is ignored and the request stays anonymous, so the API refuses it in its own dialect.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'

export const SESSION_COOKIE = 'berth_session'
export const CSRF_COOKIE = 'berth_csrf'
export const CSRF_HEADER = 'x-berth-csrf'

/** The API prefixes whose requests a session cookie may authorize. */
const API_PREFIXES = ['/v2/', '/v2?', '/cnr/', '/api/v1/', '/packages']
/** Credential exchanges: a cookie never stands in for credentials there. */
const CREDENTIAL_PATHS = /^\/(v2\/token|(cnr\/)?api\/v1\/users)(\/|\?|$)/

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export function parseCookies (header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>()
  if (header === undefined) return cookies
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    const name = part.slice(0, eq).trim()
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim())
  }
  return cookies
}

function sameSecret (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y)
}

/** Whether a state-changing request proves it comes from the UI's own pages (double-submit CSRF token). */
export function csrfVerified (request: FastifyRequest): boolean {
  const cookie = parseCookies(request.headers.cookie).get(CSRF_COOKIE)
  const header = request.headers[CSRF_HEADER]
  return cookie !== undefined && typeof header === 'string' && sameSecret(cookie, header)
}

/** The session token a request's cookie carries, if it is well-formed (a JWT: base64url parts). */
export function sessionToken (request: FastifyRequest): string | undefined {
  const token = parseCookies(request.headers.cookie).get(SESSION_COOKIE)
  return token !== undefined && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token) ? token : undefined
}

/**
 * An onRequest hook: lends the session cookie to API requests as a Bearer token (see the top of this file).
 * Callback-style and synchronous: it runs on every request, and most (API clients, no cookie) leave at once.
 */
export function sessionToAuthorization (request: FastifyRequest, _reply: FastifyReply, done: () => void): void {
  lendSessionToken(request)
  done()
}

function lendSessionToken (request: FastifyRequest): void {
  if (request.headers.authorization !== undefined || request.headers.cookie === undefined) return
  const url = request.url
  if (!API_PREFIXES.some(prefix => url.startsWith(prefix)) && url !== '/v2') return
  if (CREDENTIAL_PATHS.test(url)) return
  const token = sessionToken(request)
  if (token === undefined) return
  if (!SAFE_METHODS.has(request.method) && !csrfVerified(request)) return
  request.headers.authorization = `Bearer ${token}`
}

function cookie (request: FastifyRequest, name: string, value: string, { httpOnly, maxAge }: { httpOnly: boolean, maxAge: number }): string {
  const parts = [`${name}=${value}`, 'Path=/', 'SameSite=Strict', `Max-Age=${maxAge}`]
  if (httpOnly) parts.push('HttpOnly')
  if (request.protocol === 'https') parts.push('Secure')
  return parts.join('; ')
}

/** Sets the CSRF cookie when the browser has none yet; returns its value. */
export function ensureCsrfCookie (request: FastifyRequest, reply: FastifyReply): string {
  const existing = parseCookies(request.headers.cookie).get(CSRF_COOKIE)
  if (existing !== undefined && /^[A-Za-z0-9_-]{20,}$/.test(existing)) return existing
  const value = randomBytes(24).toString('base64url')
  reply.header('Set-Cookie', cookie(request, CSRF_COOKIE, value, { httpOnly: false, maxAge: 7 * 24 * 3600 }))
  return value
}

export function setSessionCookie (request: FastifyRequest, reply: FastifyReply, token: string, maxAge: number): void {
  reply.header('Set-Cookie', cookie(request, SESSION_COOKIE, token, { httpOnly: true, maxAge }))
}

export function clearSessionCookie (request: FastifyRequest, reply: FastifyReply): void {
  reply.header('Set-Cookie', cookie(request, SESSION_COOKIE, '', { httpOnly: true, maxAge: 0 }))
}
