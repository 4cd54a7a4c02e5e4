// The one error path every API shares. A dialect (src/oci/errors.ts, src/cnr/errors.ts, src/packages/errors.ts)
// says how its errors look: its code table and body format. This module does everything else once: a reply that
// already started is cut off; Content-Length of the failed body is dropped; a connection whose request body was
// not read is closed; a store outage is 503 with Retry-After; Fastify's and the HTTP parser's client errors stay
// client errors; only real bugs are logged as errors and answered 500.
import type { Socket } from 'node:net'
import { STATUS_CODES } from 'node:http'
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { StorageUnavailableError } from '../storage/driver.js'

/** One error as a dialect writes it. */
export interface ErrorView {
  status: number
  contentType: string
  body: string
  headers?: Record<string, string>
}

export interface Dialect {
  readonly name: string
  /** Headers every response of this dialect carries (the OCI API version, say). */
  readonly headers?: Record<string, string>
  /**
   * The dialect's own rendering of the errors it knows by class (domain, auth and its own errors), through its
   * code table. Undefined for any other error.
   */
  view: (err: Error, request?: FastifyRequest) => ErrorView | undefined
  /** Any other error, by status alone: client errors (4xx), the store being down (503), a bug (500). */
  generic: (status: number, message: string) => ErrorView
}

/** Seconds a client should wait before retrying after a store outage. */
const RETRY_AFTER_SECONDS = '1'

/** How `dialect` answers `err`; logs store outages as warnings and bugs as errors. */
export function errorView (dialect: Dialect, err: Error, request: FastifyRequest | undefined, log: FastifyBaseLogger): ErrorView {
  const known = dialect.view(err, request)
  if (known !== undefined) return known
  if (err instanceof StorageUnavailableError) {
    // The store (MinIO) is down, slow or refusing us: a temporary condition the client may retry.
    log.warn({ err }, 'storage unavailable')
    const view = dialect.generic(503, 'the storage backend is temporarily unavailable; retry later')
    return { ...view, headers: { ...view.headers, 'Retry-After': RETRY_AFTER_SECONDS } }
  }
  const status = (err as FastifyError).statusCode
  if (status !== undefined && status >= 400 && status < 500) {
    // Raised by Fastify itself: a bad URL or query string, an oversized or unreadable body.
    return dialect.generic(status, err.message)
  }
  if (request !== undefined && bodyCutShort(err, request)) {
    return dialect.generic(400, 'the request body ended before it was complete')
  }
  log.error({ err }, 'request failed')
  return dialect.generic(500, 'internal error')
}

/** A request body that ended early (the client went away, or the parser gave up on it): the client's doing. */
function bodyCutShort (err: Error, request: FastifyRequest): boolean {
  const code = (err as NodeJS.ErrnoException).code
  return !request.raw.complete &&
    (request.raw.destroyed || code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || err.message === 'aborted')
}

/** A Fastify error handler that answers every error in `dialect`. */
export function errorReply (dialect: Dialect) {
  return async function replyWithError (err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (reply.sent || reply.raw.headersSent) {
      request.raw.destroy() // the response had already started streaming: all we can do is cut it off
      return
    }
    const view = errorView(dialect, err, request, request.log)
    // A handler may have set these for the body it meant to send.
    reply.removeHeader('Content-Length').removeHeader('Content-Disposition')
    // An error answered before the request body was read (a failed or refused push) leaves the rest of the
    // body unread: close the connection after the answer rather than let the client send into a stalled socket.
    if (!request.raw.complete) reply.header('Connection', 'close')
    await reply.code(view.status)
      .headers({ ...dialect.headers, ...view.headers })
      .type(view.contentType)
      .send(view.body)
  }
}

/** An error response that closes the connection, for errors answered outside Fastify (the HTTP parser's). */
export function closingErrorResponse (dialect: Dialect, status: number, message: string): { status: number, headers: Record<string, string>, body: string } {
  const view = dialect.generic(status, message)
  const headers: Record<string, string> = {
    ...dialect.headers,
    ...view.headers,
    'Content-Type': view.contentType,
    'Content-Length': String(Buffer.byteLength(view.body)),
    Connection: 'close'
  }
  return { status: view.status, headers, body: view.body }
}

/** Writes a closing error response straight to a socket and closes it, as Node does for the parser errors it answers. */
export function writeRawError (socket: Socket, dialect: Dialect, status: number, message: string, cause?: Error): void {
  if (socket.writable) {
    const response = closingErrorResponse(dialect, status, message)
    const lines = Object.entries(response.headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
    socket.write(`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}\r\n${lines}\r\n${response.body}`)
  }
  socket.destroy(cause)
}
