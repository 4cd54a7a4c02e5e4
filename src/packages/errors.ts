// The /packages dialect: short plain-text bodies, as the PNDA package-repository API had them. Denials are
// `<status> <message>`, with a Basic challenge on 401 (curl and the PNDA tooling send Basic credentials).
// The shared part of answering an error lives in src/http/error-reply.ts.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AuthError, authErrorView } from '../auth/index.js'
import { RegistryError, type RegistryFailure } from '../errors/registry-error.js'
import type { Dialect, ErrorView } from '../http/error-reply.js'
import { PackageFileError } from './service.js'

/** Statuses for registry errors the package service lets through. */
const REASONS: Record<RegistryFailure, number> = {
  'blob-unknown': 404,
  'upload-unknown': 404,
  'manifest-unknown': 404,
  'name-unknown': 404,
  'not-found': 404,
  unsupported: 405,
  'range-invalid': 416,
  'digest-invalid': 400,
  'manifest-blob-unknown': 400,
  'manifest-invalid': 400,
  'name-invalid': 400,
  'size-invalid': 400,
  'tag-invalid': 400,
  'invalid-request': 400,
  'tag-immutable': 409,
  'quota-exceeded': 403
}

/** The realm of the Basic challenge: the auth service name, set by the plugin for its scope. */
const realms = new WeakMap<FastifyInstance, string>()
export function setRealm (app: FastifyInstance, realm: string): void {
  realms.set(app, realm)
}

function text (status: number, message: string, headers: Record<string, string> = {}): ErrorView {
  return { status, headers, contentType: 'text/plain; charset=utf-8', body: `${message}\n` }
}

export const packagesDialect: Dialect = {
  name: 'packages',
  view (err, request?: FastifyRequest) {
    if (err instanceof PackageFileError) return text(err.status, err.message)
    if (err instanceof RegistryError) return text(REASONS[err.reason], err.message)
    if (err instanceof AuthError) {
      const view = authErrorView(err)
      const headers: Record<string, string> = { ...view.headers }
      // Not for scripts (the web UI marks its calls): they handle a 401 themselves, and a Basic challenge would
      // make the browser open its own password dialog over the page.
      if (view.status === 401 && request?.headers['x-requested-with'] === undefined) {
        const realm = (request === undefined ? undefined : realms.get(request.server)) ?? 'berth'
        headers['WWW-Authenticate'] = `Basic realm="${realm}", charset="UTF-8"`
      }
      return text(view.status, `${view.status} ${view.message}`, headers)
    }
    return undefined
  },
  generic: (status, message) => text(status, message)
}
