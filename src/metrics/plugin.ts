// GET /metrics, and the hooks that count every request. Register it on the root instance before any route:
// its onRoute hook gives each route a response hook that knows the route's labels, so recording a request
// looks nothing up by string (OCI requests, all routed through one wildcard, name their endpoint in
// request.metricsRoute). Requests no route matched are counted by a root hook.
//
// Access is independent of Berth's users: with a token (BERTH_METRICS_TOKEN), a scrape must present it as a
// bearer token; without one, only clients on a loopback address are answered.
import { createHash, timingSafeEqual } from 'node:crypto'
import cluster from 'node:cluster'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest, onResponseHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { scrapeCluster } from './cluster.js'
import type { RouteStats } from './http-stats.js'
import { CONTENT_TYPE, type Metrics } from './index.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The endpoint pattern a request routed through a wildcard matched (/v2), for its metrics labels. */
    metricsRoute: string | undefined
  }
}

export interface MetricsPluginOptions {
  metrics: Metrics
  /** BERTH_METRICS_TOKEN: when set, scrapes must send `Authorization: Bearer <token>`. */
  token?: string
}

/** Where a socket's byte counters stood when its previous response ended (a socket serves one at a time). */
const READ_BEFORE = Symbol('berth.metrics.bytesRead')
const WRITTEN_BEFORE = Symbol('berth.metrics.bytesWritten')
type CountedSocket = Socket & { [READ_BEFORE]?: number, [WRITTEN_BEFORE]?: number }

/**
 * Bytes of a request's head as it came over the wire: the request line, each header line and the blank line
 * (as parsed: optional whitespace around header values is not counted).
 */
function requestHeadBytes (req: IncomingMessage): number {
  // "<method> <target> HTTP/1.1\r\n"
  let bytes = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 12
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) bytes += (raw[i] as string).length + (raw[i + 1] as string).length + 4 // ": " and CRLF
  return bytes + 2
}

/**
 * Records one finished response. Body bytes are what moved on the connection since the previous response on
 * it ended, less the heads: so a blob streamed by hand (src/http/send-body.ts) counts as one Fastify sent, and
 * a body the client stopped sending counts what arrived. (Chunked bodies count their chunk framing too.)
 */
function record (stats: RouteStats, request: FastifyRequest, reply: FastifyReply): void {
  const req = request.raw
  const res: ServerResponse & { _header?: string | null } = reply.raw
  const series = stats.series(req.method, res.statusCode)
  series.observe(reply.elapsedTime / 1000)
  const socket = req.socket as CountedSocket | null
  const read = socket?.bytesRead
  if (socket === null || typeof read !== 'number') return // inject()'s sockets count nothing
  const written = socket.bytesWritten
  series.received += Math.max(0, read - (socket[READ_BEFORE] ?? 0) - requestHeadBytes(req))
  // _header: the response head as Node wrote it (latin1, one byte a character).
  series.sent += Math.max(0, written - (socket[WRITTEN_BEFORE] ?? 0) - (typeof res._header === 'string' ? res._header.length : 0))
  socket[READ_BEFORE] = read
  socket[WRITTEN_BEFORE] = written
}

const isLoopback = (address: string | undefined): boolean =>
  address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'))

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

async function metricsPlugin (app: FastifyInstance, { metrics, token }: MetricsPluginOptions): Promise<void> {
  const { http } = metrics
  metrics.joinCluster()
  app.decorateRequest('metricsRoute', undefined)

  app.addHook('onRoute', route => {
    const stats = http.route(route.url ?? route.path)
    const recordRoute: onResponseHookHandler = (request, reply, done) => {
      const wildcard = request.metricsRoute
      record(wildcard === undefined ? stats : http.route(wildcard), request, reply)
      done()
    }
    const hooks = route.onResponse
    route.onResponse = hooks === undefined ? [recordRoute] : [...(Array.isArray(hooks) ? hooks : [hooks]), recordRoute]
  })
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) record(http.unmatchedRoute(request.url), request, reply)
    done()
  })

  // Compared as digests, in constant time: neither the token nor its length shows in the timing.
  const expected = token === undefined ? undefined : digest(`Bearer ${token}`)
  const refusal = (request: FastifyRequest): [status: number, message: string] | undefined => {
    if (expected === undefined) {
      return isLoopback(request.socket.remoteAddress) ? undefined : [403, 'metrics are served to loopback clients only (set BERTH_METRICS_TOKEN to allow others)']
    }
    const given = request.headers.authorization
    return given !== undefined && timingSafeEqual(digest(given), expected) ? undefined : [401, 'a valid metrics bearer token is required']
  }

  app.get('/metrics', async (request, reply) => {
    const refused = refusal(request)
    if (refused !== undefined) {
      const [status, message] = refused
      if (status === 401) reply.header('WWW-Authenticate', 'Bearer realm="metrics"')
      return await reply.code(status).type('text/plain; charset=utf-8').send(`${message}\n`)
    }
    let text: string
    try {
      text = cluster.isWorker ? await scrapeCluster() : await metrics.render()
    } catch (err) {
      request.log.warn({ err }, 'gathering metrics failed')
      return await reply.code(503).type('text/plain; charset=utf-8').send(`metrics are unavailable: ${(err as Error).message}\n`)
    }
    return await reply.type(CONTENT_TYPE).send(text)
  })
}

export const metricsApi = fp(metricsPlugin, { name: 'berth-metrics' })
