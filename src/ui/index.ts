// The web UI at /ui/: static pages (assets.ts) that call the same APIs as every other client, with the rights of
// the signed-in user (session.ts). Besides the files, /ui/api/ answers what the pages cannot ask the APIs:
// who is signed in, what they may do to a repository (as the token endpoint would grant it), and the storage
// summary per namespace. Sign-in goes through the token endpoint itself; there is no user store of its own.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Auth, Identity, User, VerifiedToken } from '../auth/index.js'
import type { QuotaUsage } from '../governance/index.js'
import { loadAssets, DEFAULT_ASSETS_DIR, type Asset } from './assets.js'
import { clearSessionCookie, csrfVerified, ensureCsrfCookie, sessionToken, setSessionCookie } from './session.js'

export interface WebUiOptions {
  auth: Auth
  /** Usage and limit of every namespace with a quota (governance.quotaUsage). */
  quotaUsage: () => Promise<QuotaUsage[]>
  assetsDir?: string
}

/** Scripts, styles and data from this origin only: no inline script, no framing, no plugins. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'"
].join('; ')

class UiError extends Error {
  constructor (readonly statusCode: number, message: string) { super(message) }
}

export async function webUi (app: FastifyInstance, { auth, quotaUsage, assetsDir = DEFAULT_ASSETS_DIR }: WebUiOptions): Promise<void> {
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
      const identity = await auth.identifyAuthorization(`Bearer ${token}`, auth.clientOf(request))
      return identity.kind === 'user' ? { identity, token: await auth.tokens.verify(token) } : { identity }
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

  // Storage per namespace (those with a quota: usage is tracked for them), limited to the namespaces whose
  // repositories the user may read through ownership or a namespace policy.
  app.get('/api/storage', async (request, reply) => {
    const identity = await identityOf(request, reply)
    const everything = !await auth.enabled() || (identity.kind === 'user' && identity.user.admin)
    const visible = []
    for (const usage of await quotaUsage()) {
      if (!everything) {
        if (identity.kind !== 'user') continue
        const { username } = identity.user
        const policy = await auth.policies.policy(usage.namespace)
        const listed = [...policy.read, ...policy.write]
        if (usage.namespace !== username && !listed.includes(username) && !listed.includes('*')) continue
      }
      visible.push(usage)
    }
    reply.header('Cache-Control', 'no-store')
    return { namespaces: visible }
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
