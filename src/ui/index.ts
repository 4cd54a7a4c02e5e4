// The web UI at /ui/: static pages (assets.ts) that call the same APIs as every other client, with the rights of
// the signed-in user (session.ts). Besides the files, /ui/api/ answers what the pages cannot ask the APIs:
// who is signed in, what they may do to a repository (as the token endpoint would grant it), a page of tags
// with when each was pushed, a catalog search, and the storage summary per namespace (and measuring one). Each read is refused
// exactly as the API it stands beside would refuse the same user. Sign-in goes through the token endpoint
// itself; there is no user store of its own.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AuthError, authErrorView, type Auth, type Identity, type User, type VerifiedToken } from '../auth/index.js'
import { GovernanceInputError, assertNamespace, type NamespaceStorage } from '../governance/index.js'
import type { Registry } from '../registry/index.js'
import { isValidName } from '../registry/reference.js'
import { mapLimit } from '../util/map-limit.js'
import { loadAssets, DEFAULT_ASSETS_DIR, type Asset } from './assets.js'
import { clearSessionCookie, csrfVerified, ensureCsrfCookie, sessionToken, setSessionCookie } from './session.js'

export interface WebUiOptions {
  auth: Auth
  registry: Registry
  /** Namespaces with a quota (live) or a measurement (governance.storageUsage), and measuring one (governance.measure). */
  storage: {
    list: () => Promise<NamespaceStorage[]>
    measure: (namespace: string) => Promise<NamespaceStorage>
  }
  assetsDir?: string
}

/** Tags per page of /ui/api/tags: the default, and the most a page may ask for. */
export const TAGS_PAGE = { default: 100, max: 1000 }
/** Names per page of /ui/api/repositories. */
export const REPOSITORIES_PAGE = { default: 50, max: 200 }
/** The most catalog entries one search request reads: it answers with a cursor to go on from, so each costs O(1). */
export const CATALOG_SCAN_LIMIT = 1000

/** Scripts, styles and data from this origin only: no inline script, no framing, no plugins. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'"
].join('; ')

class UiError extends Error {
  constructor (readonly statusCode: number, message: string) { super(message) }
}

/** A query parameter given at most once, as a string. */
function queryParam (request: FastifyRequest, key: string): string | undefined {
  const value = (request.query as Record<string, unknown>)[key]
  if (value === undefined || typeof value === 'string') return value
  throw new UiError(400, `${key} must be given once`)
}

function pageSize (request: FastifyRequest, { default: fallback, max }: { default: number, max: number }): number {
  const n = queryParam(request, 'n')
  if (n === undefined || n === '') return fallback
  const value = Number(n)
  if (!/^\d+$/.test(n) || value < 1) throw new UiError(400, `n must be a positive integer (got ${JSON.stringify(n)})`)
  return Math.min(value, max)
}

function requiredRepository (request: FastifyRequest): string {
  const name = queryParam(request, 'repository')
  if (name === undefined || name === '') throw new UiError(400, 'repository is required')
  if (!isValidName(name)) throw new UiError(400, `invalid repository name ${JSON.stringify(name)}`)
  return name
}

/** An AuthError as the UI's JSON error, with the status the APIs give it (401, 403, 429). */
async function asUiError<T> (work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    if (err instanceof AuthError) throw new UiError(authErrorView(err).status, err.message)
    throw err
  }
}

export async function webUi (app: FastifyInstance, { auth, registry, storage, assetsDir = DEFAULT_ASSETS_DIR }: WebUiOptions): Promise<void> {
  let assets: Map<string, Asset> | undefined
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
      .header('X-Content-Type-Options', 'nosniff')
      .header('Referrer-Policy', 'no-referrer')
      .header('X-Frame-Options', 'DENY')
    return payload
  })
  app.setErrorHandler(async (err: Error & { statusCode?: number }, request, reply) => {
    const status = err instanceof UiError ? err.statusCode
      : typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    if (status >= 500) request.log.error({ err }, 'web UI request failed')
    await reply.code(status).type('application/json').send({ message: status >= 500 ? 'internal error' : err.message })
  })
  app.setNotFoundHandler(async (_request, reply) => {
    await reply.code(404).type('application/json').send({ message: 'not found' })
  })

  /** The session's identity; anonymous when there is no (valid) session. Clears a cookie that no longer works. */
  const identityOf = async (request: FastifyRequest, reply: FastifyReply): Promise<Identity> => {
    return (await sessionOf(request, reply)).identity
  }
  /** identityOf(), with the session token it came from. */
  const sessionOf = async (request: FastifyRequest, reply: FastifyReply): Promise<{ identity: Identity, token?: VerifiedToken }> => {
    const token = sessionToken(request)
    if (token === undefined) return { identity: { kind: 'anonymous' } }
    try {
      if (!await auth.enabled()) return { identity: { kind: 'anonymous' } }
      const found = await auth.identifyToken(token)
      return found.identity.kind === 'user' ? found : { identity: found.identity }
    } catch {
      clearSessionCookie(request, reply)
      return { identity: { kind: 'anonymous' } }
    }
  }
  const startSession = async (request: FastifyRequest, reply: FastifyReply, user: User): Promise<void> => {
    const ttl = auth.config.uiSessionTtlSeconds
    setSessionCookie(request, reply, (await auth.tokens.issueSession(user, ttl)).token, ttl)
  }
  const requireCsrf = (request: FastifyRequest): void => {
    if (!csrfVerified(request)) throw new UiError(403, 'missing or wrong CSRF token: reload the page')
  }

  // The pages ask on every navigation, which is what keeps a session in use alive: past half its lifetime,
  // it is renewed in place (a new token, the same cookie), so only an idle session ends.
  app.get('/api/session', async (request, reply) => {
    ensureCsrfCookie(request, reply)
    reply.header('Cache-Control', 'no-store')
    const { identity, token } = await sessionOf(request, reply)
    if (identity.kind === 'user' && token !== undefined &&
      (!token.session || token.expiresAt - Date.now() < auth.config.uiSessionTtlSeconds * 500)) {
      await startSession(request, reply, identity.user)
    }
    return {
      authEnabled: await auth.enabled(),
      user: identity.kind === 'user' ? { username: identity.user.username, admin: identity.user.admin } : null
    }
  })

  // Sign in: the credentials go to the token endpoint (POST /v2/token, grant_type=password) as from any client,
  // from the browser's own address so that its failures are throttled as that client's. The session is then a
  // token of its own kind (tokens.ts): shorter-lived than a refresh token, and revoked by signing out.
  app.post('/api/session', async (request, reply) => {
    requireCsrf(request)
    const body = request.body as { username?: unknown, password?: unknown } | undefined
    if (typeof body?.username !== 'string' || typeof body.password !== 'string' || body.username === '') {
      throw new UiError(400, 'username and password are required')
    }
    const answer = await app.inject({
      method: 'POST',
      url: '/v2/token',
      remoteAddress: request.ip,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'password', username: body.username, password: body.password, client_id: 'berth-ui' }).toString()
    })
    if (answer.statusCode !== 200) {
      const message = (answer.json() as { errors?: Array<{ message?: string }> }).errors?.[0]?.message ?? 'sign-in failed'
      throw new UiError(answer.statusCode === 429 ? 429 : 401, message)
    }
    const user = await auth.users.get(body.username)
    if (user === undefined) throw new UiError(401, 'sign-in failed')
    await startSession(request, reply, user)
    reply.header('Cache-Control', 'no-store')
    return { user: { username: user.username, admin: user.admin } }
  })

  // Sign out: the session's token is revoked on every replica (a copy of the cookie no longer works), then the
  // cookie is cleared.
  app.delete('/api/session', async (request, reply) => {
    requireCsrf(request)
    const { token } = await sessionOf(request, reply)
    if (token?.session === true) await auth.signOuts.signOut(token.id, token.expiresAt)
    clearSessionCookie(request, reply)
    return await reply.code(204).send()
  })

  // What the user may do to a repository: the actions the token endpoint would grant for it.
  app.get('/api/access', async (request, reply) => {
    const name = (request.query as { repository?: unknown }).repository
    if (typeof name !== 'string' || name === '') throw new UiError(400, 'repository is required')
    const identity = await identityOf(request, reply)
    const granted = await auth.grant(identity, [{ type: 'repository', name, actions: ['pull', 'push', 'delete'] }])
    const actions = granted[0]?.actions ?? []
    reply.header('Cache-Control', 'no-store')
    return { repository: name, pull: actions.includes('pull'), push: actions.includes('push'), delete: actions.includes('delete') }
  })

  // A page of a repository's tags, each with its digest, media type, manifest size and when the tag was last
  // pushed (the time its record was written). Refused as GET /v2/<name>/tags/list would refuse the user: 401
  // anonymous, 403 not allowed, then 404 for a repository that does not exist. O(page): one listing, and a
  // read and a stat per tag.
  app.get('/api/tags', async (request, reply) => {
    const name = requiredRepository(request)
    const last = queryParam(request, 'last')
    const limit = pageSize(request, TAGS_PAGE)
    const identity = await identityOf(request, reply)
    await asUiError(async () => { await auth.require(identity, name, 'pull') })
    if (!await registry.catalog.exists(name)) throw new UiError(404, `repository ${name} is not known`)
    const page = await registry.tags.list(name, last === undefined || last === '' ? { limit } : { limit, last })
    const found = await mapLimit(page.items, 8, async tag => ({ tag, record: await registry.tags.stat(name, tag) }))
    const tags = []
    for (const { tag, record } of found) {
      if (record === undefined) continue // deleted since the listing
      tags.push({ tag, digest: record.digest, mediaType: record.mediaType, size: record.size, pushedAt: record.writtenAt.toISOString() })
    }
    reply.header('Cache-Control', 'no-store')
    return { repository: name, tags, next: page.truncated ? page.items.at(-1) ?? null : null }
  })

  // Catalog search: the names after `last` that contain `q` (any case) and that the user may pull, up to `n`.
  // One request reads at most CATALOG_SCAN_LIMIT catalog entries; `next` (null at the end of the catalog) is
  // where the following request goes on, so a search that finds few names is continued page by page.
  // Refused as GET /v2/_catalog: anonymous callers get 401 when authentication is on.
  app.get('/api/repositories', async (request, reply) => {
    const text = (queryParam(request, 'q') ?? '').trim().toLowerCase()
    const last = queryParam(request, 'last')
    const limit = pageSize(request, REPOSITORIES_PAGE)
    const identity = await identityOf(request, reply)
    if (await auth.enabled() && identity.kind === 'anonymous') throw new UiError(401, 'authentication required')
    const repositories: string[] = []
    let cursor = last === '' ? undefined : last
    let scanned = 0
    let next: string | null = null
    reading: for (;;) {
      const want = Math.min(CATALOG_SCAN_LIMIT - scanned, Math.max(limit, 100))
      const page = await registry.catalog.list(cursor === undefined ? { limit: want } : { limit: want, last: cursor })
      for (const [i, name] of page.items.entries()) {
        cursor = name
        scanned++
        if (name.toLowerCase().includes(text) && await auth.permits(identity, name, 'pull')) repositories.push(name)
        if (repositories.length === limit || scanned === CATALOG_SCAN_LIMIT) {
          if (page.truncated || i < page.items.length - 1) next = name
          break reading
        }
      }
      if (!page.truncated || page.items.length === 0) break
    }
    reply.header('Cache-Control', 'no-store')
    return { repositories, next }
  })

  /**
   * Whether the user may see a namespace's storage: admins (and everyone on an open registry) see every
   * namespace; a user sees those whose every repository they may read, through ownership or a namespace policy.
   */
  const seesNamespace = async (identity: Identity, namespace: string): Promise<boolean> => {
    if (!await auth.enabled() || (identity.kind === 'user' && identity.user.admin)) return true
    if (identity.kind !== 'user') return false
    const { username } = identity.user
    const policy = await auth.policies.policy(namespace)
    const listed = [...policy.read, ...policy.write]
    return namespace === username || listed.includes(username) || listed.includes('*')
  }

  // What each namespace stores: live for a namespace with a quota, else as last measured (`measuredAt`; pushes
  // do not move it, since tracking every namespace would cost every push). Only namespaces the user may see.
  app.get('/api/storage', async (request, reply) => {
    const identity = await identityOf(request, reply)
    const visible = []
    for (const row of await storage.list()) if (await seesNamespace(identity, row.namespace)) visible.push(row)
    reply.header('Cache-Control', 'no-store')
    return { namespaces: visible }
  })

  // Measures a namespace from the store (O(its links) reads) and answers its row; a namespace with a quota is
  // live and answered as it is. Only for those who may see the namespace.
  app.post('/api/storage/measure', async (request, reply) => {
    requireCsrf(request)
    const namespace = (request.body as { namespace?: unknown } | undefined)?.namespace
    if (typeof namespace !== 'string' || namespace === '') throw new UiError(400, 'namespace is required')
    try {
      assertNamespace(namespace)
    } catch (err) {
      if (err instanceof GovernanceInputError) throw new UiError(400, err.message)
      throw err
    }
    const identity = await identityOf(request, reply)
    if (!await seesNamespace(identity, namespace)) throw new UiError(403, `you may not measure namespace ${namespace}`)
    reply.header('Cache-Control', 'no-store')
    return await storage.measure(namespace)
  })

  app.get('/api/*', async () => { throw new UiError(404, 'not found') })

  // The pages: one document (client-side routes live in the URL fragment) and its assets.
  app.get('/*', async (request, reply) => {
    assets ??= await loadAssets(assetsDir)
    if (assets === undefined) {
      return await reply.code(503).type('text/plain; charset=utf-8').send('The web UI is not built: run `npm run build`.\n')
    }
    const name = (request.params as { '*': string })['*']
    const asset = assets.get(name === '' ? 'index.html' : name)
    if (asset === undefined) return await reply.code(404).type('text/plain; charset=utf-8').send('not found\n')
    reply.header('Cache-Control', 'no-cache').header('ETag', asset.etag)
    if (request.headers['if-none-match'] === asset.etag) return await reply.code(304).send()
    return await reply.type(asset.type).send(asset.body)
  })
}

/** Whether a request for `/` comes from a browser (which is sent to the UI) rather than an API client. */
export function wantsHtml (request: FastifyRequest): boolean {
  const accept = request.headers.accept
  return typeof accept === 'string' && /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept)
}
