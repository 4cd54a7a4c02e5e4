// Authentication and authorization failures, in no API's dialect. Each surface renders them its own way:
// /v2 as the OCI envelope (UNAUTHORIZED 401 with a Bearer challenge, DENIED 403, TOOMANYREQUESTS 429),
// the CNR API as {"code","message","details"} (unauthorized-access 401, forbidden 403). `authErrorView()`
// gives every surface the status, the codes and the headers in one place.

export type AuthFailure =
  /** No credentials where some are needed, or credentials that do not check out (401). */
  | 'unauthenticated'
  /** The caller is known but may not do this (403). */
  | 'forbidden'
  /** Too many failed logins from this client (429, Retry-After). */
  | 'throttled'
  /** A malformed request: an unknown grant type, a bad scope, a weak password (400). */
  | 'invalid'
  /** The user already exists (signup, `user add`) (409). */
  | 'conflict'

export interface AuthErrorOptions {
  /** The scopes that would have let the request through, for a Docker `WWW-Authenticate: Bearer` challenge. */
  scopes?: string[]
  /** `invalid_token` or `insufficient_scope`, for the challenge's `error` attribute (RFC 6750 §3). */
  tokenError?: 'invalid_token' | 'insufficient_scope'
  retryAfterSeconds?: number
  detail?: unknown
}

export class AuthError extends Error {
  override readonly name = 'AuthError'
  /** The complete `WWW-Authenticate` value, once a surface that sends challenges has computed it. */
  challenge?: string
  constructor (readonly reason: AuthFailure, message: string, readonly options: AuthErrorOptions = {}) {
    super(message)
  }
}

export interface AuthErrorView {
  status: number
  /** Code for the OCI envelope. */
  ociCode: 'UNAUTHORIZED' | 'DENIED' | 'TOOMANYREQUESTS' | 'INVALID_REQUEST'
  /** Code for the CNR/APPR body (appr/exception.py spelling; `too-many-requests` and `user-exists` are Berth's). */
  cnrCode: 'unauthorized-access' | 'forbidden' | 'too-many-requests' | 'invalid-usage' | 'user-exists'
  message: string
  /** Headers every dialect sends (Retry-After). The Bearer challenge is separate: only /v2 sends it. */
  headers: Record<string, string>
}

const VIEWS = {
  unauthenticated: { status: 401, ociCode: 'UNAUTHORIZED', cnrCode: 'unauthorized-access' },
  forbidden: { status: 403, ociCode: 'DENIED', cnrCode: 'forbidden' },
  throttled: { status: 429, ociCode: 'TOOMANYREQUESTS', cnrCode: 'too-many-requests' },
  invalid: { status: 400, ociCode: 'INVALID_REQUEST', cnrCode: 'invalid-usage' },
  conflict: { status: 409, ociCode: 'DENIED', cnrCode: 'user-exists' }
} as const

export function authErrorView (err: AuthError): AuthErrorView {
  const headers: Record<string, string> = {}
  if (err.options.retryAfterSeconds !== undefined) headers['Retry-After'] = String(err.options.retryAfterSeconds)
  return { ...VIEWS[err.reason], message: err.message, headers }
}

export const unauthenticated = (message = 'authentication required', options: AuthErrorOptions = {}): AuthError =>
  new AuthError('unauthenticated', message, options)
export const forbidden = (message = 'requested access to the resource is denied', options: AuthErrorOptions = {}): AuthError =>
  new AuthError('forbidden', message, options)
export const invalidAuthRequest = (message: string): AuthError => new AuthError('invalid', message)
