// Runs Berth as a real child process on a free loopback port, for tests that need real sockets
// (third-party clients, restarts). The process is stopped when the test ends, and dies with the test process
// if that is killed first (see die-with-parent.mjs).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const serverEntry = fileURLToPath(new URL('../../src/server.ts', import.meta.url))
const dieWithParent = fileURLToPath(new URL('./die-with-parent.mjs', import.meta.url))

/**
 * node arguments that run src/server.ts so that it dies with this process: spawn with them and with stdin
 * 'pipe' (the lifeline die-with-parent.mjs watches; it closes when this process dies, however it dies).
 */
export const SERVER_NODE_ARGS = ['--import', dieWithParent, '--import', 'tsx', serverEntry]

/**
 * Makes `child` (a process that cannot watch its parent itself, such as MinIO) die with this process: a
 * watchdog (kill-with-parent.mjs) holds a pipe from this process and SIGKILLs the child when it closes, or,
 * given graceMs, SIGTERMs it and SIGKILLs it if it is still there graceMs later.
 * The watchdog does not keep this process alive.
 */
export function killWithThisProcess (child: ChildProcess, options: { graceMs?: number } = {}): void {
  if (child.pid === undefined) return
  const watchdog = spawn(process.execPath, [fileURLToPath(new URL('./kill-with-parent.mjs', import.meta.url)), String(child.pid), String(options.graceMs ?? 0)], {
    stdio: ['pipe', 'ignore', 'inherit']
  })
  watchdog.unref()
  ;(watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.()
}

export interface ServerProcess {
  /** host:port, as clients name a registry. */
  host: string
  url: string
  child: ChildProcess
  stop: () => Promise<void>
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }

/**
 * Starts Berth; its data lives in a temporary directory of its own unless BERTH_DATA_DIR is given. Berth
 * binds port 0 and the port is read from its "Server listening at" log line: choosing a free port up front
 * races with parallel test files, where another test's server can answer the readiness probe. Log lines at
 * or above LOG_LEVEL (default warn) are passed through.
 */
export async function startServer (t: Test, env: Record<string, string> = {}): Promise<ServerProcess> {
  const dataDir = env.BERTH_DATA_DIR ?? mkdtempSync(path.join(tmpdir(), 'berth-test-'))
  const wanted = env.LOG_LEVEL ?? 'warn'
  const threshold = LEVELS[wanted] ?? LEVELS.warn as number
  const child = spawn(process.execPath, SERVER_NODE_ARGS, {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      BERTH_DATA_DIR: dataDir,
      ...env,
      PORT: env.PORT ?? '0',
      LOG_LEVEL: threshold > (LEVELS.info as number) ? 'info' : wanted // info carries the listening line
    },
    stdio: ['pipe', 'pipe', 'inherit']
  })
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }
  t.teardown(async () => {
    await stop()
    if (env.BERTH_DATA_DIR === undefined) rmSync(dataDir, { recursive: true, force: true })
  })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('berth did not start listening within 90 s')) }, 90_000)
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`berth exited with ${String(code)} before it was listening`)) })
    createInterface({ input: child.stdout as Readable }).on('line', line => {
      let entry: { level?: number, msg?: string }
      try {
        entry = JSON.parse(line) as { level?: number, msg?: string }
      } catch {
        process.stdout.write(`${line}\n`)
        return
      }
      const listening = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(entry.msg ?? '')
      if (listening !== null) {
        clearTimeout(timer)
        resolve(Number(listening[1]))
      }
      if ((entry.level ?? 0) >= threshold) process.stdout.write(`${line}\n`)
    })
  })
  const url = `http://127.0.0.1:${port}`
  return { host: `127.0.0.1:${port}`, url, child, stop }
}
