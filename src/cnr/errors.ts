// CNR/APPR errors: the code table of appr/exception.py (plus the few codes Berth adds), the CnrError the
// CNR service throws, and the CNR dialect, which renders every error as the top-level {"code","message","details"}
// body with the code's status (the shared part of answering an error is src/http/error-reply.ts).
import { AuthError, authErrorView } from '../auth/index.js'
import { RegistryError, type RegistryFailure } from '../errors/registry-error.js'
import { errorReply, type Dialect, type ErrorView } from '../http/error-reply.js'
import type { CnrError as CnrErrorBody } from '../types/generated/cnr/index.js'

export const CNR_CODES = {
  'invalid-usage': 400,
  'unauthorized-access': 401,
  forbidden: 403,
  'package-not-found': 404,
  'package-release-not-found': 404,
  'channel-not-found': 404,
  'resource-not-found': 404,
  'method-not-allowed': 405,
  'package-exists': 409,
  'resource-in-use': 409,
  'user-exists': 409,
  'tag-immutable': 409,
  'quota-exceeded': 403,
  'invalid-release': 422,
  'invalid-parameters': 422,
  'too-many-requests': 429,
  'internal-error': 500,
  unsupported: 501,
  unavailable: 503
} as const satisfies Record<string, number>

export type CnrCode = keyof typeof CNR_CODES

export class CnrError extends Error {
  override readonly name = 'CnrError'
  readonly status: number
  constructor (
    readonly code: CnrCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
    status?: number
  ) {
    super(message)
    this.status = status ?? CNR_CODES[code]
  }

  toBody (): CnrErrorBody {
    return { code: this.code, message: this.message, details: this.details }
  }
}

// Factories, worded as appr/exception.py words them (with the channel-not-found details put right).
export const packageNotFound = (pkg: string, release: string | null = null, mediaType: string | null = null): CnrError =>
  new CnrError('package-not-found', `package ${pkg} doesn't exist, v: ${release ?? 'None'}, type: ${mediaType ?? 'None'}`,
    { package: pkg, release, media_type: mediaType })

export const releaseNotFound = (pkg: string, query: string): CnrError =>
  new CnrError('package-release-not-found', `No release match '${query}' for package '${pkg}'`, { package: pkg, release_query: query })

export const channelNotFound = (pkg: string, channel: string): CnrError =>
  new CnrError('channel-not-found', `Channel '${channel}' doesn't exist for package '${pkg}'`, { channel, package: pkg, release: null })

export const invalidRelease = (release: string, key: 'release' | 'version' = 'release', why = ''): CnrError =>
  new CnrError('invalid-release', `Invalid release '${release}'${why === '' ? '' : `: ${why}`}`, { [key]: release })

export const invalidUsage = (message: string, details: Record<string, unknown> = {}): CnrError =>
  new CnrError('invalid-usage', message, details)

/** Registry errors the CNR service did not translate itself (a digest or name grammar, say). */
const REASONS: Record<RegistryFailure, CnrCode> = {
  'blob-unknown': 'resource-not-found',
  'upload-unknown': 'resource-not-found',
  'manifest-unknown': 'resource-not-found',
  'name-unknown': 'resource-not-found',
  'not-found': 'resource-not-found',
  unsupported: 'method-not-allowed',
  'digest-invalid': 'invalid-usage',
  'manifest-blob-unknown': 'invalid-usage',
  'manifest-invalid': 'invalid-usage',
  'name-invalid': 'invalid-usage',
  'size-invalid': 'invalid-usage',
  'tag-invalid': 'invalid-usage',
  'range-invalid': 'invalid-usage',
  'invalid-request': 'invalid-usage',
  'tag-immutable': 'tag-immutable',
  'quota-exceeded': 'quota-exceeded'
}

/** Codes for errors known only by their status (Fastify's, the HTTP parser's); other 4xx are invalid-usage. */
const BY_STATUS: Record<number, CnrCode> = {
  401: 'unauthorized-access',
  403: 'forbidden',
  404: 'resource-not-found',
  405: 'method-not-allowed',
  429: 'too-many-requests',
  501: 'unsupported',
  503: 'unavailable'
}

function cnrView (error: CnrError): ErrorView {
  return { status: error.status, headers: error.headers, contentType: 'application/json', body: JSON.stringify(error.toBody()) }
}

/** The CNR/APPR dialect: the top-level {"code","message","details"} body. */
export const cnrDialect: Dialect = {
  name: 'cnr',
  view (err) {
    if (err instanceof CnrError) return cnrView(err)
    if (err instanceof AuthError) {
      // Denials in APPR's words: unauthorized-access 401, forbidden 403 (and Berth's too-many-requests 429,
      // user-exists 409). No Bearer challenge: appr and helm-cnr clients replay their login token instead.
      const view = authErrorView(err)
      const detail = err.options.detail
      const details = detail !== null && typeof detail === 'object' && !Array.isArray(detail) ? detail as Record<string, unknown> : {}
      return cnrView(new CnrError(view.cnrCode, view.message, details, view.headers, view.status))
    }
    if (err instanceof RegistryError) {
      const headers: Record<string, string> = err.facts.allow === undefined ? {} : { Allow: err.facts.allow }
      // Governance refusals carry their facts (tag, rule; usage, limit) as the details themselves.
      const own = (err.reason === 'tag-immutable' || err.reason === 'quota-exceeded') && err.detail !== null && typeof err.detail === 'object'
      return cnrView(new CnrError(REASONS[err.reason], err.message, own ? err.detail as Record<string, unknown> : { detail: err.detail }, headers))
    }
    return undefined
  },
  generic (status, message) {
    const code = BY_STATUS[status] ?? (status >= 500 ? 'internal-error' : 'invalid-usage')
    return cnrView(new CnrError(code, message, {}, {}, status))
  }
}

/** Renders any error thrown in the CNR scope. */
export const cnrErrorHandler = errorReply(cnrDialect)
