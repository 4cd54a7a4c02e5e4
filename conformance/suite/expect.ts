// Assertions that throw CheckError carrying the HTTP exchange they are about.
import { CheckError } from './harness.js'
import type { Res } from './http.js'

/** Every error code defined by the distribution spec (plus UNSUPPORTED/DENIED/UNAUTHORIZED/TOOMANYREQUESTS). */
export const OCI_ERROR_CODES = [
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID', 'MANIFEST_UNKNOWN', 'MANIFEST_UNVERIFIED', 'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID',
  'TAG_INVALID', 'UNAUTHORIZED', 'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS'
] as const

export function fail (message: string, res?: Res): never {
  throw new CheckError(message, res?.exchange)
}

export function expect (cond: boolean, message: string, res?: Res): asserts cond {
  if (!cond) fail(message, res)
}

export function expectStatus (res: Res, ...allowed: number[]): void {
  if (!allowed.includes(res.status)) {
    fail(`expected status ${allowed.join(' or ')}, got ${res.status}`, res)
  }
}

/** Requires a non-empty header and returns it. */
export function expectHeader (res: Res, name: string): string {
  const v = res.header(name)
  if (v === null || v === '') fail(`missing ${name} header`, res)
  return v
}

export function expectHeaderEquals (res: Res, name: string, expected: string): void {
  const v = res.header(name)
  if (v !== expected) fail(`expected header ${name}: ${expected}, got ${v === null ? '(absent)' : JSON.stringify(v)}`, res)
}

export function expectEqual<T> (actual: T, expected: T, what: string, res?: Res): void {
  if (actual !== expected) fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`, res)
}

export function expectBody (res: Res, expected: Buffer, what = 'response body'): void {
  if (!res.body.equals(expected)) {
    fail(`${what} differs from what was pushed (got ${res.body.length} bytes, expected ${expected.length})`, res)
  }
}

/** If the registry sends Docker-Content-Digest, it must be `digest`. */
export function expectDigestHeaderIfPresent (res: Res, digest: string): void {
  const v = res.header('docker-content-digest')
  if (v !== null && v !== digest) fail(`Docker-Content-Digest is ${v}, expected ${digest}`, res)
}

/** HEAD: 200, empty body, Content-Length equal to the content's size. */
export function expectHeadOf (res: Res, size: number, digest: string): void {
  expectStatus(res, 200)
  expect(res.body.length === 0, `HEAD response has a body (${res.body.length} bytes)`, res)
  expectEqual(res.header('content-length'), String(size), 'Content-Length', res)
  expectDigestHeaderIfPresent(res, digest)
}

/** Location header of a response, required non-empty. */
export function expectLocation (res: Res): string {
  return expectHeader(res, 'location')
}

/** Path (without query) of a Location value, whether absolute or relative. */
export function locationPath (location: string): string {
  return new URL(location, 'http://placeholder.invalid').pathname
}

export interface OciError { code: string, message?: unknown, detail?: unknown }

/**
 * The body must be `{"errors":[{"code","message","detail"}, ...]}` with spec codes; the first error's code must be
 * one of `codes` (any spec code when omitted). Returns the first error.
 */
export function expectErrorBody (res: Res, codes?: readonly string[]): OciError {
  const ct = res.header('content-type') ?? ''
  expect(ct.includes('json'), `error response Content-Type should be JSON, got ${JSON.stringify(ct)}`, res)
  const body = res.json()
  const errors = (body as { errors?: unknown } | undefined)?.errors
  expect(Array.isArray(errors) && errors.length > 0, 'error body must be {"errors":[...]} with at least one entry', res)
  for (const e of errors as unknown[]) {
    const entry = e as Record<string, unknown>
    expect(typeof entry === 'object' && entry !== null, 'errors[] entries must be objects', res)
    expect(typeof entry.code === 'string', 'errors[].code must be a string', res)
    expect((OCI_ERROR_CODES as readonly string[]).includes(entry.code), `errors[].code ${JSON.stringify(entry.code)} is not a spec error code`, res)
    expect(typeof entry.message === 'string', 'errors[].message must be a string', res)
    expect('detail' in entry, 'errors[].detail must be present', res)
  }
  const first = (errors as OciError[])[0] as OciError
  if (codes !== undefined) {
    expect(codes.includes(first.code), `error code should be ${codes.join(' or ')}, got ${first.code}`, res)
  }
  return first
}

/** Body parsed as a JSON object, or failure. */
export function expectJsonObject (res: Res): Record<string, unknown> {
  const body = res.json()
  expect(typeof body === 'object' && body !== null && !Array.isArray(body), 'response body is not a JSON object', res)
  return body as Record<string, unknown>
}
