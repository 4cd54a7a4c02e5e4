// Runs Berth as a real child process on a free loopback port, for tests that need real sockets
// (third-party clients, restarts). The process is stopped when the test ends.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const serverEntry = fileURLToPath(new URL('../../src/server.ts', import.meta.url))

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

/** Starts Berth; its data lives in a temporary directory of its own unless BERTH_DATA_DIR is given. */
export async function startServer (t: Test, env: Record<string, string> = {}): Promise<ServerProcess> {
  const port = await freePort()
  const dataDir = env.BERTH_DATA_DIR ?? mkdtempSync(path.join(tmpdir(), 'berth-test-'))
  const child = spawn(process.execPath, ['--import', 'tsx', serverEntry], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', BERTH_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  const url = `http://127.0.0.1:${port}`
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
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) throw new Error(`berth exited with ${child.exitCode} before it was ready`)
    try {
      const probe = await fetch(`${url}/v2/`)
      // 401: the server is up with authentication on (GET /v2/ then wants credentials).
      if (probe.ok || probe.status === 401) return { host: `127.0.0.1:${port}`, url, child, stop }
    } catch {}
    await sleep(100)
  }
  throw new Error('berth did not become ready within 15 s')
}
