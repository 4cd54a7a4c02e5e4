// Domain errors. Services throw these; each API surface renders them in its own dialect
// (src/oci/error-handler.ts renders the OCI {"errors":[...]} envelope).

export const OCI_CODES = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  // Not in the spec's table, but used by distribution and understood by clients.
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  NOT_FOUND: { status: 404, message: 'no such endpoint' },
  INVALID_REQUEST: { status: 400, message: 'invalid request' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  UNKNOWN: { status: 500, message: 'unknown error' }
} as const satisfies Record<string, { status: number, message: string }>

export type OciCode = keyof typeof OCI_CODES

export class RegistryError extends Error {
  override readonly name = 'RegistryError'
  readonly status: number
  constructor (
    readonly code: OciCode,
    message?: string,
    readonly detail: unknown = null,
    readonly headers: Record<string, string> = {},
    status?: number
  ) {
    super(message ?? OCI_CODES[code].message)
    this.status = status ?? OCI_CODES[code].status
  }
}

// Factories, so call sites read as the condition they report.
export const blobUnknown = (digest: string) => new RegistryError('BLOB_UNKNOWN', undefined, { digest })
export const manifestUnknown = (reference: string) => new RegistryError('MANIFEST_UNKNOWN', undefined, { reference })
export const nameUnknown = (name: string) => new RegistryError('NAME_UNKNOWN', undefined, { name })
export const uploadUnknown = (id: string) => new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { uuid: id })
export const digestInvalid = (message: string, detail: unknown = null) => new RegistryError('DIGEST_INVALID', message, detail)
export const manifestInvalid = (message: string) => new RegistryError('MANIFEST_INVALID', message)
export const rangeInvalid = (message: string, headers: Record<string, string> = {}) =>
  new RegistryError('RANGE_INVALID', message, null, headers)
