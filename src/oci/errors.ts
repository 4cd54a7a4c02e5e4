// The OCI dialect: the spec's error codes, the reason → code table for registry errors, and the envelope
// {"errors":[{code,message,detail}]}. The shared part of answering an error lives in src/http/error-reply.ts.
import { AuthError, authErrorView } from '../auth/index.js'
import { RegistryError, type RegistryFacts, type RegistryFailure } from '../errors/registry-error.js'
import type { Dialect, ErrorView } from '../http/error-reply.js'
import { uploadRange } from './http.js'

export const OCI_CODES = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  TAG_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  // Not in the spec's table, but used by distribution and understood by clients.
  RANGE_INVALID: 416,
  NOT_FOUND: 404,
  INVALID_REQUEST: 400,
  UNAVAILABLE: 503,
  UNKNOWN: 500
} as const satisfies Record<string, number>

export type OciCode = keyof typeof OCI_CODES

const REASONS: Record<RegistryFailure, OciCode> = {
  'blob-unknown': 'BLOB_UNKNOWN',
  'upload-unknown': 'BLOB_UPLOAD_UNKNOWN',
  'digest-invalid': 'DIGEST_INVALID',
  'manifest-blob-unknown': 'MANIFEST_BLOB_UNKNOWN',
  'manifest-invalid': 'MANIFEST_INVALID',
  'manifest-unknown': 'MANIFEST_UNKNOWN',
  'name-invalid': 'NAME_INVALID',
  'name-unknown': 'NAME_UNKNOWN',
  'size-invalid': 'SIZE_INVALID',
  'tag-invalid': 'TAG_INVALID',
  unsupported: 'UNSUPPORTED',
  'range-invalid': 'RANGE_INVALID',
  'not-found': 'NOT_FOUND',
  'invalid-request': 'INVALID_REQUEST',
  'tag-immutable': 'TAG_INVALID',
  'quota-exceeded': 'DENIED'
}

/** Reasons whose status is not their code's usual one: an immutable tag is a conflict (409), not a bad tag (400). */
const STATUS_OF: Partial<Record<RegistryFailure, number>> = { 'tag-immutable': 409 }

/** Codes for errors known only by their status (Fastify's, the HTTP parser's); other 4xx are INVALID_REQUEST. */
const BY_STATUS: Record<number, OciCode> = {
  401: 'UNAUTHORIZED',
  403: 'DENIED',
  404: 'NOT_FOUND',
  405: 'UNSUPPORTED',
  416: 'RANGE_INVALID',
  429: 'TOOMANYREQUESTS',
  503: 'UNAVAILABLE'
}

function envelope (status: number, code: OciCode, message: string, detail: unknown, headers: Record<string, string> = {}): ErrorView {
  return {
    status,
    headers,
    contentType: 'application/json',
    body: JSON.stringify({ errors: [{ code, message, detail }] })
  }
}

/** The headers a registry error's facts become: upload progress, the blob size a range missed, allowed methods. */
function factHeaders (facts: RegistryFacts): Record<string, string> {
  const headers: Record<string, string> = {}
  if (facts.uploaded !== undefined) headers.Range = uploadRange(facts.uploaded)
  if (facts.size !== undefined) headers['Content-Range'] = `bytes */${facts.size}`
  if (facts.allow !== undefined) headers.Allow = facts.allow
  return headers
}

export const ociDialect: Dialect = {
  name: 'oci',
  headers: { 'Docker-Distribution-API-Version': 'registry/2.0' },
  view (err) {
    if (err instanceof RegistryError) {
      const code = REASONS[err.reason]
      return envelope(STATUS_OF[err.reason] ?? OCI_CODES[code], code, err.message, err.detail, factHeaders(err.facts))
    }
    if (err instanceof AuthError) {
      // UNAUTHORIZED 401 with the Bearer challenge (set by authorizeOci), DENIED 403, TOOMANYREQUESTS 429...
      const view = authErrorView(err)
      const headers = err.challenge === undefined ? view.headers : { ...view.headers, 'WWW-Authenticate': err.challenge }
      return envelope(view.status, view.ociCode, view.message, err.options.detail ?? null, headers)
    }
    return undefined
  },
  generic (status, message) {
    const code = BY_STATUS[status] ?? (status >= 500 ? 'UNKNOWN' : 'INVALID_REQUEST')
    return envelope(status, code, message, null)
  }
}
