// Shutdown. The first SIGTERM or SIGINT stops taking connections (requests that still arrive on open ones get
// 503) and lets in-flight requests finish for up to the configured time; whatever is still running then is
// cut, and logged. A second signal exits at once, logging the requests it cuts.
import cluster from 'node:cluster'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { redactUrl } from './auth/log.js'
import { isShutdownMessage } from './workers.js'

export interface ShutdownOptions {
  /** How long in-flight requests get to finish (BERTH_SHUTDOWN_TIMEOUT_SECONDS). */
  timeoutMs: number
  /** Runs first on the first signal (stop timers). */
  onShutdown?: () => void
}

interface InFlight {
  method: string
  url: string
  startedAt: number
  /** The socket's byte counters when the request started (a kept-alive socket serves many requests). */
  readAtStart: number
  writtenAtStart: number
  req: IncomingMessage
  res: ServerResponse
}

/** Exit statuses: every request finished, or some were cut. */
const EXIT_DRAINED = 0
const EXIT_CUT = 1

/** Installs the signal handlers. Call once the app is built, before or after it listens. */
export function handleShutdown (app: FastifyInstance, { timeoutMs, onShutdown }: ShutdownOptions): void {
  const inFlight = new Set<InFlight>()
  let draining = false

  app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const entry: InFlight = {
      method: req.method ?? '',
      url: redactUrl(req.url ?? ''),
      startedAt: Date.now(),
      readAtStart: req.socket.bytesRead,
      writtenAtStart: req.socket.bytesWritten,
      req,
      res
    }
    if (draining) res.shouldKeepAlive = false
    inFlight.add(entry)
    res.once('close', () => {
      inFlight.delete(entry)
      // The connection is idle now: close it rather than wait for the keep-alive timeout.
      if (draining) setImmediate(() => { app.server.closeIdleConnections() })
    })
  })

  const describe = (entry: InFlight): Record<string, unknown> => ({
    method: entry.method,
    url: entry.url,
    receivedBytes: entry.req.socket.bytesRead - entry.readAtStart,
    sentBytes: entry.req.socket.bytesWritten - entry.writtenAtStart,
    runningMs: Date.now() - entry.startedAt
  })

  const cutAll = (why: string): void => {
    for (const entry of inFlight) app.log.warn({ request: describe(entry) }, `${why}: cut ${entry.method} ${entry.url}`)
  }

  const first = (signal: NodeJS.Signals): void => {
    draining = true
    // Stop taking connections before anything else: fastify closes the listener only after its close hooks
    // have started, and a connection accepted in that gap would be reset instead of refused. The callback
    // runs once every open connection has ended; fastify's own close of the listener then finds it closed.
    const connectionsEnded = new Promise<void>(resolve => { app.server.close(() => { resolve() }) })
    onShutdown?.()
    app.log.info({ signal, inFlight: inFlight.size, timeoutMs },
      `${signal}: shutting down; ${inFlight.size} requests in flight get up to ${timeoutMs / 1000} s to finish`)
    // Responses still to be written close their connection instead of keeping it alive.
    for (const entry of inFlight) if (!entry.res.headersSent) entry.res.shouldKeepAlive = false
    const timer = setTimeout(() => {
      const cut = inFlight.size
      cutAll(`shutdown timeout (${timeoutMs / 1000} s)`)
      app.log.warn({ cut }, `shutdown timeout: exiting with ${cut} requests cut`)
      process.exit(EXIT_CUT)
    }, timeoutMs)
    Promise.all([app.close(), connectionsEnded]).then(() => {
      clearTimeout(timer)
      app.log.info('all requests finished; exiting')
      process.exit(EXIT_DRAINED)
    }, (err: unknown) => {
      app.log.error({ err }, 'closing the server failed')
      process.exit(EXIT_CUT)
    })
  }

  const second = (signal: NodeJS.Signals): void => {
    const cut = inFlight.size
    cutAll(`second ${signal}`)
    app.log.warn({ signal, cut }, `second ${signal}: exiting now with ${cut} requests cut`)
    process.exit(EXIT_CUT)
  }

  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => { (signals++ === 0 ? first : second)(signal) }
  if (cluster.isWorker) {
    // A worker (src/workers.ts) takes its signals from the primary. A signal sent to the whole process group
    // (Ctrl-C, a container runtime) reaches it too; that one is the primary's to forward, not counted twice.
    process.on('message', (message: unknown) => { if (isShutdownMessage(message)) onSignal(message.berthShutdown) })
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => {})
  } else {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, onSignal)
  }
}
