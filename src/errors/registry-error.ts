// Registry domain errors. Services throw these with a reason and the facts behind it, never an HTTP status or
// header: each API surface renders them in its own dialect through its own table (src/oci/errors.ts,
// src/cnr/errors.ts, src/packages/errors.ts), as AuthError and authErrorView() do for auth.

/** Why a registry operation was refused. */
export type RegistryFailure =
  | 'blob-unknown'
  | 'upload-unknown'
  | 'digest-invalid'
  | 'manifest-blob-unknown'
  | 'manifest-invalid'
  | 'manifest-unknown'
  | 'name-invalid'
  | 'name-unknown'
  | 'size-invalid'
  | 'tag-invalid'
  /** The endpoint exists but does not serve this method (`facts.allow`). */
  | 'unsupported'
  /** A byte range that does not fit the upload (`facts.uploaded`) or the blob (`facts.size`). */
  | 'range-invalid'
  /** No endpoint at this path. */
  | 'not-found'
  /** A malformed query or header. */
  | 'invalid-request'
  /** The tag matches an immutable-tag rule of its namespace: it cannot be moved or deleted (src/governance). */
  | 'tag-immutable'
  /** The write would take the namespace past its storage quota (src/governance). */
  | 'quota-exceeded'

/** Facts a dialect may need to render an error (as headers, say), in the domain's terms. */
export interface RegistryFacts {
  /** Bytes an upload session holds so far. */
  uploaded?: number
  /** Size of the blob a range was asked of. */
  size?: number
  /** Methods the endpoint serves, comma-separated. */
  allow?: string
}

/** Default messages, worded as the OCI spec's error table words them. */
const MESSAGES: Record<RegistryFailure, string> = {
  'blob-unknown': 'blob unknown to registry',
  'upload-unknown': 'blob upload unknown to registry',
  'digest-invalid': 'provided digest did not match uploaded content',
  'manifest-blob-unknown': 'manifest references a manifest or blob unknown to registry',
  'manifest-invalid': 'manifest invalid',
  'manifest-unknown': 'manifest unknown to registry',
  'name-invalid': 'invalid repository name',
  'name-unknown': 'repository name not known to registry',
  'size-invalid': 'provided length did not match content length',
  'tag-invalid': 'manifest tag did not match URI',
  unsupported: 'the operation is unsupported',
  'range-invalid': 'invalid content range',
  'not-found': 'no such endpoint',
  'invalid-request': 'invalid request',
  'tag-immutable': 'the tag is immutable',
  'quota-exceeded': 'the namespace storage quota would be exceeded'
}

export class RegistryError extends Error {
  override readonly name = 'RegistryError'
  constructor (
    readonly reason: RegistryFailure,
    message?: string,
    /** Structured detail for the error body (the digest, the name...). */
    readonly detail: unknown = null,
    readonly facts: RegistryFacts = {}
  ) {
    super(message ?? MESSAGES[reason])
  }
}

// Factories, so call sites read as the condition they report.
export const blobUnknown = (digest: string) => new RegistryError('blob-unknown', undefined, { digest })
export const manifestUnknown = (reference: string) => new RegistryError('manifest-unknown', undefined, { reference })
export const nameUnknown = (name: string) => new RegistryError('name-unknown', undefined, { name })
export const uploadUnknown = (id: string) => new RegistryError('upload-unknown', undefined, { uuid: id })
export const digestInvalid = (message: string, detail: unknown = null) => new RegistryError('digest-invalid', message, detail)
export const manifestInvalid = (message: string) => new RegistryError('manifest-invalid', message)
export const rangeInvalid = (message: string, facts: RegistryFacts = {}) =>
  new RegistryError('range-invalid', message, null, facts)
