// Several server processes on one port (BERTH_WORKERS): the primary forks workers with node:cluster, which
// share the listening socket, and serves nothing itself. One Node process uses one core for JavaScript; every
// piece of state is in the store, so workers act like replicas on one store and need no coordination.
//
// The first worker starts alone, so start-up checks and crash clean-up run once and a bad environment is
// reported once (its exit status is the primary's). The primary forwards SIGTERM and SIGINT to the workers,
// which drain as a single process does (src/lifecycle.ts), and exits with the worst of their statuses. A
// worker that dies while serving is replaced.
//
// The primary loads as little as it can (every worker has its own copy of the app): no pino, but log lines of
// the same shape as pino's (see primaryLogger).
import cluster, { type Worker } from 'node:cluster'
import { hostname } from 'node:os'
import type { Config } from './config.js'
import { answerScrape } from './metrics/cluster.js'

/** A worker that dies this soon after it started is failing, not crashing once: it is not replaced. */
const MIN_UPTIME_MS = 5000

/**
 * libuv runs file operations on a pool of 4 threads unless UV_THREADPOOL_SIZE says otherwise, read once when a
 * process starts. Every acknowledged write ends in an fsync that holds a thread for a millisecond or more, so
 * with 4 threads a few concurrent pushes keep the stat() of every GET waiting behind them. Workers get 16.
 */
const WORKER_THREADPOOL_SIZE = '16'
const threadPoolEnv = (): Record<string, string> =>
  process.env.UV_THREADPOOL_SIZE === undefined ? { UV_THREADPOOL_SIZE: WORKER_THREADPOOL_SIZE } : {}

/**
 * V8's young generation is capped at 2 MiB semi-spaces (4 MiB in all) in the workers. By default it grows to
 * 16 MiB during start-up or a burst of requests and stays that size until V8's memory reducer runs, which it
 * may never do after traffic that only triggers young-generation collections: about 10 MiB of RSS per worker.
 * Measured cost: manifest GETs within 2% (the noise of the 2-core box). A --max-semi-space-size given on
 * the command line or in NODE_OPTIONS is left as it is. A single process (BERTH_WORKERS=1) gets the flag only
 * from its own command line: `node --max-semi-space-size=2 dist/server.js` (the Dockerfile does this).
 */
const SEMI_SPACE_FLAG = '--max-semi-space-size=2'

/** The message a worker gets instead of a signal (see handleShutdown in src/lifecycle.ts). */
export interface ShutdownMessage { berthShutdown: NodeJS.Signals }

export const isShutdownMessage = (message: unknown): message is ShutdownMessage =>
  typeof (message as ShutdownMessage | null)?.berthShutdown === 'string'

/** Runs the primary: forks `config.workers` workers and supervises them until they have all exited. */
export async function superviseWorkers (config: Config): Promise<void> {
  const log = primaryLogger(config.logLevel)
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some(arg => arg.includes('semi-space-size'))
  if (!given) cluster.setupPrimary({ execArgv: [...process.execArgv, SEMI_SPACE_FLAG] })
  let stopping = false
  let started = false
  let worstExit = 0
  const startedAt = new Map<Worker, number>()
  const serving = new Set<Worker>()
  const fork = async (): Promise<Worker> => {
    // With PORT=0 too the workers share one socket: the primary binds it for the first and keeps it open.
    const worker = cluster.fork(threadPoolEnv())
    startedAt.set(worker, Date.now())
    return await new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => { reject(Object.assign(new Error('worker exited while starting'), { code: code ?? 1 })) }
      worker.once('exit', onExit)
      worker.once('listening', () => {
        worker.off('exit', onExit)
        serving.add(worker)
        if (stopping) worker.send({ berthShutdown: 'SIGTERM' } satisfies ShutdownMessage)
        resolve(worker)
      })
    })
  }

  // A worker asked for every worker's metrics (its /metrics was scraped).
  cluster.on('message', (worker, message) => { answerScrape(worker, message) })

  cluster.on('exit', (worker, code, signal) => {
    serving.delete(worker)
    if (stopping) {
      worstExit = Math.max(worstExit, code ?? 1)
      return
    }
    const uptime = Date.now() - (startedAt.get(worker) ?? 0)
    startedAt.delete(worker)
    if (uptime < MIN_UPTIME_MS || !started) return
    log.error({ pid: worker.process.pid, code, signal }, `worker ${String(worker.process.pid)} died (${signal ?? `exit ${String(code)}`}); starting another`)
    fork().catch(err => { log.error({ err }, 'a replacement worker failed to start') })
  })

  const forward = (signal: NodeJS.Signals): void => {
    stopping = true
    // A worker still starting is told once it listens (see fork), when it can drain.
    for (const worker of serving) if (worker.isConnected()) worker.send({ berthShutdown: signal } satisfies ShutdownMessage)
  }
  process.on('SIGTERM', forward)
  process.on('SIGINT', forward)

  try {
    await fork() // alone first: see the header
    if (!stopping) await Promise.all(Array.from({ length: config.workers - 1 }, fork))
    started = true
  } catch (err) {
    // The worker said why on stderr; the others are stopped and its status is ours.
    stopping = true
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL')
    process.exitCode = (err as { code?: number }).code ?? 1
    return
  }

  await new Promise<void>(resolve => {
    const check = (): void => {
      if (Object.keys(cluster.workers ?? {}).length === 0) resolve()
    }
    cluster.on('exit', () => { setImmediate(check) })
    check()
  })
  process.exit(worstExit)
}

/** pino's numeric levels, by name; the primary only logs errors. */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }
const ERROR = 50

/**
 * The primary's log: one JSON line on stdout shaped as pino writes it (level, time, pid, hostname, the
 * fields, msg; an `err` as pino's serializer gives it), at or above the configured level.
 */
function primaryLogger (level: string): { error: (fields: { err?: unknown, [k: string]: unknown }, msg: string) => void } {
  const threshold = LEVELS[level] ?? Infinity // 'silent'
  const host = hostname()
  return {
    error ({ err, ...fields }, msg) {
      if (ERROR < threshold) return
      const line = {
        level: ERROR, time: Date.now(), pid: process.pid, hostname: host, ...fields,
        ...(err === undefined ? {} : { err: err instanceof Error ? serializeError(err) : err }),
        msg
      }
      process.stdout.write(`${JSON.stringify(line)}\n`)
    }
  }
}

/** An error as pino's standard serializer writes it: type, message, stack, then its own fields. */
function serializeError (err: Error): Record<string, unknown> {
  return { type: err.constructor.name, message: err.message, stack: err.stack, ...Object.fromEntries(Object.entries(err)) }
}
