// The registries the side-by-side benchmark compares, each started alone on a fresh store on 127.0.0.1:
// Berth (dist/server.js), CNCF Distribution v3.1.1 and zot v2.1.20. Third-party binaries come from the tools
// cache (~/.cache/berth/tools); a registry whose binary is missing is reported, not faked.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { freePort } from '../../test/helpers/server-process.js'

export interface S3Target { endpoint: string, accessKey: string, secretKey: string, bucket: string }

export interface RunningRegistry {
  name: string
  url: string
  /** host:port */
  host: string
  pid: number
  stop: () => Promise<void>
}

export interface RegistryKind {
  name: string
  /** Why it cannot run here, or undefined when it can. */
  missing: () => string | undefined
  start: (store: 'fs' | 's3', s3?: S3Target) => Promise<RunningRegistry>
}

const toolsCache = process.env.BERTH_TOOLS_CACHE ?? path.join(process.env.HOME ?? tmpdir(), '.cache', 'berth', 'tools')
export const DISTRIBUTION_BIN = process.env.BERTH_BENCH_DISTRIBUTION ?? path.join(toolsCache, 'registry-v3.1.1', 'registry')
export const ZOT_DIR = process.env.BERTH_BENCH_ZOT_DIR ?? path.join(toolsCache, 'zot-v2.1.20')

async function waitReady (url: string, child: ChildProcess, name: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before it was ready`)
    try {
      const res = await fetch(`${url}/v2/`)
      await res.arrayBuffer()
      if (res.status === 200 || res.status === 401) return
    } catch {}
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`${name} did not answer ${url}/v2/ within 30 s`)
}

async function launch (name: string, command: string, args: string[], env: Record<string, string>, port: number, dir: string): Promise<RunningRegistry> {
  // detached: the registry gets its own process group, so stop() takes its workers down with it. Its stderr
  // goes to a file (Distribution logs every request zb's tests fail on), shown if it does not start.
  const stderrFile = path.join(dir, 'stderr.log')
  const stderr = openSync(stderrFile, 'w')
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', stderr], detached: true })
  closeSync(stderr)
  const kill = (): void => { try { process.kill(-(child.pid as number), 'SIGKILL') } catch {} }
  process.once('exit', kill)
  const url = `http://127.0.0.1:${port}`
  try {
    await waitReady(url, child, name)
  } catch (err) {
    kill()
    process.stderr.write(readFileSync(stderrFile, 'utf8').slice(-4000))
    throw err
  }
  return {
    name,
    url,
    host: `127.0.0.1:${port}`,
    pid: child.pid as number,
    stop: async () => {
      process.removeListener('exit', kill)
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise(resolve => child.once('exit', resolve))
        try { process.kill(-(child.pid as number), 'SIGTERM') } catch {}
        const timer = setTimeout(kill, 10_000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export const berth: RegistryKind = {
  name: 'Berth',
  missing: () => existsSync('dist/server.js') ? undefined : 'dist/server.js is missing: run npm run build',
  async start (store, s3) {
    const port = await freePort()
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-berth-'))
    // Two workers by default: one per core of the machines we measure on (BERTH_BENCH_WORKERS overrides).
    const env: Record<string, string> = { HOST: '127.0.0.1', PORT: String(port), BERTH_DATA_DIR: dir, LOG_LEVEL: 'warn', BERTH_WORKERS: process.env.BERTH_BENCH_WORKERS ?? '2' }
    if (store === 's3' && s3 !== undefined) {
      Object.assign(env, {
        BERTH_STORAGE: 's3',
        BERTH_S3_ENDPOINT: s3.endpoint,
        BERTH_S3_ACCESS_KEY: s3.accessKey,
        BERTH_S3_SECRET_KEY: s3.secretKey,
        BERTH_S3_BUCKET: `${s3.bucket}-berth-${port}`
      })
    }
    return await launch('Berth', process.execPath, ['dist/server.js'], env, port, dir)
  }
}

export const distribution: RegistryKind = {
  name: 'Distribution v3.1.1',
  missing: () => existsSync(DISTRIBUTION_BIN) ? undefined : `${DISTRIBUTION_BIN} is missing: run node scripts/install-tools.mjs registry`,
  async start (store, s3) {
    const port = await freePort()
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-distribution-'))
    const storage = store === 's3' && s3 !== undefined
      ? `storage: { s3: { accesskey: ${s3.accessKey}, secretkey: ${s3.secretKey}, region: us-east-1, ` +
        `regionendpoint: "${s3.endpoint}", bucket: ${s3.bucket}, rootdirectory: /distribution-${port}, secure: false, forcepathstyle: true }, delete: { enabled: true } }`
      : `storage: { filesystem: { rootdirectory: ${dir}/data }, delete: { enabled: true } }`
    writeFileSync(path.join(dir, 'config.yml'), [
      'version: 0.1',
      'log: { level: error, accesslog: { disabled: true } }',
      storage,
      `http: { addr: 127.0.0.1:${port} }`
    ].join('\n'))
    return await launch(this.name, DISTRIBUTION_BIN, ['serve', path.join(dir, 'config.yml')], { OTEL_TRACES_EXPORTER: 'none' }, port, dir)
  }
}

export const zot: RegistryKind = {
  name: 'zot v2.1.20',
  missing: () => existsSync(path.join(ZOT_DIR, 'zot')) ? undefined : `${ZOT_DIR}/zot is missing (build it from the project-zot/zot source at tag v2.1.20)`,
  async start (store, s3) {
    const port = await freePort()
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-zot-'))
    const storage: Record<string, unknown> = { rootDirectory: path.join(dir, 'data'), gc: false, dedupe: false }
    if (store === 's3' && s3 !== undefined) {
      storage.remoteCache = false
      storage.storageDriver = {
        name: 's3',
        rootdirectory: `/zot-${port}`,
        region: 'us-east-1',
        regionendpoint: s3.endpoint,
        bucket: s3.bucket,
        accesskey: s3.accessKey,
        secretkey: s3.secretKey,
        forcepathstyle: true,
        secure: false,
        skipverify: false
      }
    }
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
      distSpecVersion: '1.1.1',
      storage,
      http: { address: '127.0.0.1', port: String(port) },
      log: { level: 'error' }
    }))
    return await launch(this.name, path.join(ZOT_DIR, 'zot'), ['serve', path.join(dir, 'config.json')], {}, port, dir)
  }
}

/** Resident memory of a process and all its descendants, in bytes (Linux /proc). */
export function treeRss (pid: number): number {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const list = children.get(ppid) ?? []
      list.push(Number(entry))
      children.set(ppid, list)
    } catch {}
  }
  let total = 0
  const stack = [pid]
  while (stack.length > 0) {
    const current = stack.pop() as number
    try {
      const status = readFileSync(`/proc/${current}/status`, 'utf8')
      total += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
    } catch {}
    stack.push(...(children.get(current) ?? []))
  }
  return total
}

/** Samples treeRss every 50 ms until stopped; returns the peak. */
export function rssSampler (pid: number): { stop: () => number } {
  let peak = treeRss(pid)
  const timer = setInterval(() => { peak = Math.max(peak, treeRss(pid)) }, 50)
  return { stop: () => { clearInterval(timer); return Math.max(peak, treeRss(pid)) } }
}
