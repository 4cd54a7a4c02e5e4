// CNR/APPR errors: the code table of appr/exception.py (plus the few codes Berth adds), the CnrError the
// CNR service throws, and the scope's error handler, which renders every error as the top-level
// {"code","message","details"} body with the code's status. Never HTML, never a stack trace.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AuthError, authErrorView } from '../auth/index.js'
import { RegistryError } from '../errors/registry-error.js'
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

/** Renders any error thrown in the CNR scope. */
export async function cnrErrorHandler (err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const error = toCnrError(err, request)
  if (reply.sent || reply.raw.headersSent) {
    request.raw.destroy() // a streamed body had already started: all we can do is cut it off
    return
  }
  reply.removeHeader('Content-Length').removeHeader('Content-Disposition')
  await reply.code(error.status).headers(error.headers).type('application/json').send(JSON.stringify(error.toBody()))
}

function toCnrError (err: FastifyError | Error, request: FastifyRequest): CnrError {
  if (err instanceof CnrError) return err
  if (err instanceof AuthError) {
    // Denials in APPR's words: unauthorized-access 401, forbidden 403 (and Berth's too-many-requests 429,
    // user-exists 409). No Bearer challenge: appr and helm-cnr clients replay their login token instead.
    const view = authErrorView(err)
    const detail = err.options.detail
    const details = detail !== null && typeof detail === 'object' && !Array.isArray(detail) ? detail as Record<string, unknown> : {}
    return new CnrError(view.cnrCode, view.message, details, view.headers, view.status)
  }
  if (err instanceof RegistryError && err.status < 500) {
    // A registry rule the CNR service did not translate (a digest or name grammar, say): still a client error.
    return new CnrError(err.status === 404 ? 'resource-not-found' : 'invalid-usage', err.message, { detail: err.detail }, {}, err.status)
  }
  if (err.name === 'StorageUnavailableError') {
    request.log.warn({ err }, 'storage unavailable')
    return new CnrError('unavailable', 'the storage backend is unavailable; retry later')
  }
  const status = (err as FastifyError).statusCode
  if (status !== undefined && status >= 400 && status < 500) {
    // Raised by Fastify itself: an oversized or unreadable body, a bad query string.
    return new CnrError('invalid-usage', err.message, {}, {}, status)
  }
  request.log.error({ err }, 'request failed')
  return new CnrError('internal-error', 'internal error')
}
