// A real upstream registry for the mirror tests: CNCF Distribution v3.1.1 on a free loopback port, with its
// access log kept so that a test can count the requests it served. The process dies with the test.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import type { Test } from 'tap'
import { toolPath } from '../../scripts/tool-paths.mjs'
import { freePort, killWithThisProcess } from '../helpers/server-process.js'

export interface Upstream {
  host: string
  url: string
  /** Access-log request lines seen so far, e.g. `GET /v2/library/x/blobs/sha256:... HTTP/1.1" 200`. */
  requests: string[]
  stop: () => Promise<void>
  /** Starts it again on the same port and storage after stop(). */
  start: () => Promise<void>
}

export async function startDistribution (t: Test): Promise<Upstream> {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-upstream-'))
  const port = await freePort()
  const config = path.join(dir, 'config.yml')
  writeFileSync(config, [
    'version: 0.1',
    'log:', '  level: warn', '  accesslog:', '    disabled: false',
    'storage:', `  filesystem:`, `    rootdirectory: ${path.join(dir, 'data')}`, '  delete:', '    enabled: true',
    'http:', `  addr: 127.0.0.1:${port}`
  ].join('\n') + '\n')
  const requests: string[] = []
  let child: ChildProcess | undefined
  const url = `http://127.0.0.1:${port}`

  async function start (): Promise<void> {
    const proc = spawn(toolPath('registry'), ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    killWithThisProcess(proc)
    createInterface({ input: proc.stdout as Readable }).on('line', line => {
      const match = /"([A-Z]+ \S+ HTTP\/[\d.]+" \d+)/.exec(line)
      if (match !== null) requests.push(match[1] as string)
    })
    ;(proc.stderr as Readable).resume()
    const deadline = Date.now() + 30_000
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`registry exited with ${String(proc.exitCode)}`)
      try {
        const res = await fetch(`${url}/v2/`)
        await res.body?.cancel()
        if (res.ok) return
      } catch {}
      if (Date.now() > deadline) throw new Error('registry did not answer within 30 s')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  async function stop (): Promise<void> {
    const proc = child
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise(resolve => proc.once('exit', resolve))
    proc.kill('SIGTERM')
    await exited
  }

  await start()
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return { host: `127.0.0.1:${port}`, url, requests, stop, start }
}

export type ToolName = 'crane' | 'oras' | 'regctl' | 'helm' | 'cosign' | 'notation'

/**
 * Runs a pinned tool of scripts/tools.json and returns what it wrote to stdout and stderr; a failure names the
 * command and its output. A tool that is not built fails the test (never a skip), saying how to build it.
 */
export async function runTool (name: ToolName, args: string[], options: { cwd?: string, env?: Record<string, string> } = {}): Promise<{ stdout: string, stderr: string }> {
  const binary = toolPath(name)
  if (!existsSync(binary)) {
    throw new Error(`${name} is not installed at ${binary}: run \`node scripts/install-tools.mjs\` (npm test runs it as pretest)`)
  }
  const child = spawn(binary, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  killWithThisProcess(child)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString('latin1') })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>(resolve => child.once('close', resolve))
  if (code !== 0) throw new Error(`${name} ${args.join(' ')} exited ${String(code)}:\n${stderr}${stdout}`)
  return { stdout, stderr }
}

/** Runs a pinned tool (crane, oras, ...) and returns what it printed on stdout (see runTool). */
export async function tool (name: ToolName, args: string[], options: { cwd?: string, env?: Record<string, string> } = {}): Promise<string> {
  return (await runTool(name, args, options)).stdout
}
