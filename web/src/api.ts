// Calls to Berth's own APIs from the signed-in browser. The session cookie is HttpOnly: scripts never see the
// token. State-changing calls echo the CSRF cookie in a header (double submit), which the server checks.

export class ApiError extends Error {
  constructor (readonly status: number, message: string) { super(message) }
}

function csrfToken (): string {
  return /(?:^|;\s*)berth_csrf=([^;]*)/.exec(document.cookie)?.[1] ?? ''
}

/** The message of an error body in any of Berth's dialects (OCI, CNR, /packages text, the UI's own JSON). */
async function errorMessage (response: Response): Promise<string> {
  const text = await response.text()
  try {
    const body = JSON.parse(text) as { errors?: Array<{ message?: string }>, message?: string }
    const message = body.errors?.[0]?.message ?? body.message
    if (typeof message === 'string' && message !== '') return message
  } catch {}
  return text.trim() !== '' ? text.trim().slice(0, 300) : `${response.status} ${response.statusText}`
}

export async function call (url: string, init: RequestInit = {}): Promise<Response> {
  const method = init.method ?? 'GET'
  const headers = new Headers(init.headers)
  if (method !== 'GET' && method !== 'HEAD') headers.set('X-Berth-CSRF', csrfToken())
  // A script's call: APIs answer a 401 without the Basic challenge that opens the browser's password dialog.
  headers.set('X-Requested-With', 'XMLHttpRequest')
  const response = await fetch(url, { ...init, method, headers, credentials: 'same-origin', cache: 'no-store' })
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response))
  return response
}

export async function getJson<T> (url: string, init: RequestInit = {}): Promise<{ body: T, response: Response }> {
  const response = await call(url, init)
  return { body: await response.json() as T, response }
}

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json'
].join(', ')

export interface Session {
  authEnabled: boolean
  user: { username: string, admin: boolean } | null
}

export interface Access {
  pull: boolean
  push: boolean
  delete: boolean
}

const accessCache = new Map<string, Promise<Access>>()
/** What the signed-in user may do to a repository (what the token endpoint would grant). */
export async function accessTo (repository: string): Promise<Access> {
  let found = accessCache.get(repository)
  if (found === undefined) {
    found = getJson<Access>(`/ui/api/access?repository=${encodeURIComponent(repository)}`).then(r => r.body)
    found.catch(() => accessCache.delete(repository))
    accessCache.set(repository, found)
  }
  return await found
}
export function forgetAccess (): void { accessCache.clear() }

/** The server's own bounded-concurrency map, bundled into the page. */
export { mapLimit } from '../../src/util/map-limit.js'

/** A repository or package name in a URL path: each segment encoded, the slashes kept. */
export const pathOf = (name: string): string => name.split('/').map(encodeURIComponent).join('/')
