// Keeps credentials out of request logs. Authorization and cookie headers are redacted by pino (src/app.ts);
// this request serializer also masks secrets that a client may put in a query string (the token endpoint's
// parameters, or a client that sends ?password= or ?refresh_token=). Request bodies are never logged.
import type { FastifyRequest } from 'fastify'

const SECRET_PARAMS = /^(password|passwd|refresh_token|access_token|token|id_token|client_secret|code)$/i

/** The URL with the values of secret-looking query parameters replaced by `[REDACTED]`. */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const parts = url.slice(q + 1).split('&').map(pair => {
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    let decoded = name
    try { decoded = decodeURIComponent(name.replace(/\+/g, ' ')) } catch {}
    return eq !== -1 && SECRET_PARAMS.test(decoded) ? `${name}=[REDACTED]` : pair
  })
  return `${url.slice(0, q)}?${parts.join('&')}`
}

/** Fastify's default `req` serializer, with the URL redacted. */
export function requestSerializer (request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    version: request.headers?.['accept-version'],
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}
