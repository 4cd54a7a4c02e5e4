// Which dialect answers a request, by its URL prefix: the one table for errors raised outside any API's scope
// (malformed URLs, the HTTP parser's refusals, unsupported expectations, unknown paths). Inside its scope each API
// answers with its own error handler, in the same dialect.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { cnrDialect } from '../cnr/errors.js'
import { RegistryError } from '../errors/registry-error.js'
import { ociDialect } from '../oci/errors.js'
import { packagesDialect } from '../packages/errors.js'
import { closingErrorResponse, errorReply, writeRawError, type Dialect } from './error-reply.js'

/** Path prefixes and their dialects. Anything else (/, /healthz, unknown paths) is answered as /v2 would. */
const DIALECTS: ReadonlyArray<readonly [prefix: string, dialect: Dialect]> = [
  ['/v2', ociDialect],
  ['/cnr', cnrDialect],
  ['/api/v1', cnrDialect],
  ['/version', cnrDialect],
  ['/packages', packagesDialect]
]
const DEFAULT_DIALECT = ociDialect

/** The dialect of the API a request target (origin- or absolute-form) is meant for. */
export function dialectFor (url: string | undefined): Dialect {
  if (url === undefined) return DEFAULT_DIALECT
  const path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '')
  for (const [prefix, dialect] of DIALECTS) {
    // The prefix must end where a path segment does: /packages/x, /packages?n=1 and /packages followed by a stray
    // control byte belong to /packages, /packagesx does not.
    if (path.startsWith(prefix) && !/^[A-Za-z0-9._~-]/.test(path.slice(prefix.length))) return dialect
  }
  return DEFAULT_DIALECT
}

const replies = new Map<Dialect, ReturnType<typeof errorReply>>()
/** A Fastify error handler (also fit for `frameworkErrors`) that answers in the dialect of the request's path. */
export async function errorReplyByPath (err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const dialect = dialectFor(request.url)
  let replyWith = replies.get(dialect)
  if (replyWith === undefined) replies.set(dialect, replyWith = errorReply(dialect))
  await replyWith(err, request, reply)
}

/** The request target in the raw bytes the parser choked on (it may lie past the point of failure). */
export function requestTarget (raw: Buffer | undefined): string | undefined {
  if (raw === undefined) return undefined
  return /^\s*\S+ +(\S+)/.exec(raw.subarray(0, 8192).toString('latin1'))?.[1]
}

interface ClientError extends Error {
  code?: string
  /** llhttp's words for what was wrong ("Invalid header value char"). */
  reason?: string
  /** The bytes the parser was working on. */
  rawPacket?: Buffer
}

function describe (err: ClientError): [status: number, message: string] {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW': return [431, 'the request headers are too large']
    case 'ERR_HTTP_REQUEST_TIMEOUT': return [408, 'the request was not received in time']
    case 'HPE_INVALID_METHOD': return [400, 'malformed HTTP request: unknown method']
    default: return [400, `malformed HTTP request: ${err.reason ?? err.message}`]
  }
}

/**
 * Fastify's `clientErrorHandler`: requests the HTTP parser refuses (a bad Content-Length or chunk, an unknown
 * method or transfer coding, control bytes in the path or a header, headers too large, a body cut short) are
 * answered in the dialect of the path they were sent to, then the connection is closed.
 */
export function clientErrorReply (this: FastifyInstance, error: Error, socket: Socket): void {
  const err = error as ClientError
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  // A request already routed (its body failed to parse): answer unless its response has started.
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage
  if (inFlight?.headersSent === true) {
    socket.destroy(err)
    return
  }
  this.log.debug({ err }, 'malformed request')
  const [status, message] = describe(err)
  writeRawError(socket, dialectFor(inFlight?.req?.url ?? requestTarget(err.rawPacket)), status, message, err)
}

/**
 * The server's `checkExpectation` listener: an Expect other than 100-continue gets 417 in the request's dialect
 * (Node would send an empty one), and the connection is closed since the body is never read.
 */
export function expectationFailed (request: IncomingMessage, response: ServerResponse): void {
  const expect = request.headers.expect ?? ''
  const { status, headers, body } = closingErrorResponse(dialectFor(request.url), 417, `unsupported expectation "${expect}": only 100-continue is supported`)
  response.writeHead(status, headers).end(body)
}

/** The server's `connect` listener: Berth is no proxy, so CONNECT gets 405 (Node would close without a word). */
export function refuseConnect (request: IncomingMessage, socket: Duplex): void {
  writeRawError(socket as Socket, dialectFor(request.url), 405, 'CONNECT is not supported')
}

/**
 * Answers, by path, what no API scope sees: unsupported expectations, CONNECT, and errors and unknown paths at
 * the root. Call on the root instance before the APIs are registered.
 */
export function answerUnscopedErrors (app: FastifyInstance): void {
  app.server.on('checkExpectation', expectationFailed)
  app.server.on('connect', refuseConnect)
  app.setErrorHandler(errorReplyByPath)
  app.setNotFoundHandler(async (request, reply) => {
    await errorReplyByPath(new RegistryError('not-found', `no endpoint matches ${request.method} ${request.url}`), request, reply)
  })
}
