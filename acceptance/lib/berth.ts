// A second Berth with authentication on, for the workflows that log in (docker login, denied pushes). It runs on the
// same kind of store as the registry under test: a fresh data directory, or, when acceptance/run.sh exported the
// MinIO settings (BERTH_STORAGE=s3), a bucket of its own on that MinIO. Users are created with the `berth` CLI
// before the server starts, the way an operator would.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SERVER = path.join(ROOT, 'dist', 'server.js')
const CLI = path.join(ROOT, 'dist', 'cli.js')

export interface User { name: string, password: string }

export interface AuthBerth {
  url: string
  /** 127.0.0.1:PORT */
  registry: string
  log: string
  stop: () => Promise<void>
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      s.close(() => { resolve(typeof addr === 'object' && addr !== null ? addr.port : 0) })
    })
  })
}

/** The store settings of the registry under test, pointed at a store of its own. */
function storeEnv (dir: string, run: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, LOG_LEVEL: 'warn', BERTH_DATA_DIR: path.join(dir, 'data') }
  if (process.env.BERTH_STORAGE === 's3') {
    for (const [k, v] of Object.entries(process.env)) if (k.startsWith('BERTH_S3_')) env[k] = v
    env.BERTH_STORAGE = 's3'
    env.BERTH_S3_BUCKET = `berth-auth-${run}` // Berth creates it
  }
  return env
}

const servers = new Set<ChildProcess>()
// a suite that exits or is interrupted takes its servers with it (acceptance/run.sh also kills the suite's group)
process.once('exit', () => { for (const child of servers) child.kill('SIGKILL') })

/** Starts Berth with `users` (none of them admin); resolves once GET /v2/ answers 401. */
export async function startAuthBerth (dir: string, run: string, users: User[]): Promise<AuthBerth> {
  if (!existsSync(SERVER) || !existsSync(CLI)) throw new Error(`${SERVER} or ${CLI} is missing: run npm run build`)
  mkdirSync(dir, { recursive: true })
  const env = storeEnv(dir, run)
  for (const user of users) {
    const res = spawnSync(process.execPath, [CLI, 'user', 'add', user.name], { env, input: `${user.password}\n`, encoding: 'utf8', timeout: 60_000 })
    if (res.status !== 0) throw new Error(`berth user add ${user.name} failed: ${res.stderr}${res.error?.message ?? ''}`)
  }
  const port = await freePort()
  const log = path.join(dir, 'server.log')
  const out = createWriteStream(log)
  const child = spawn(process.execPath, [SERVER], { env: { ...env, HOST: '127.0.0.1', PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout?.pipe(out)
  child.stderr?.pipe(out)
  servers.add(child)
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { servers.delete(child); resolve() }) })
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
  }
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break
    const status = await fetch(`${url}/v2/`).then(r => r.status, () => 0)
    if (status === 401) return { url, registry: `127.0.0.1:${port}`, log, stop }
    if (status !== 0) {
      await stop()
      throw new Error(`Berth with users should answer GET /v2/ with 401, answered ${status} (log: ${log})`)
    }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  await stop()
  throw new Error(`Berth with auth on did not answer GET /v2/ within 60 s (log: ${log})`)
}
