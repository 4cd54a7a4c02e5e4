// Runs the real Berth entry points (src/server.ts, src/cli.ts) as child processes and records their output.
// Every child dies with its test: teardown kills its process group, and the child kills itself if the test
// process goes away first (die-with-parent.mjs).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const entry = (file: string): string => fileURLToPath(new URL(`../../src/${file}`, import.meta.url))
const dieWithParent = fileURLToPath(new URL('./die-with-parent.mjs', import.meta.url))

export interface LogEntry {
  level?: number
  msg?: string
  [field: string]: unknown
}

export interface Berth {
  child: ChildProcess
  /** stdout lines parsed as JSON log entries (non-JSON lines are kept as { msg }). */
  logs: LogEntry[]
  stderr: () => string
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>
  /** Waits for a log entry matching `test`; rejects after `ms` or when the process exits first. */
  waitForLog: (test: (entry: LogEntry) => boolean, ms?: number) => Promise<LogEntry>
  /** The base URL, once the server logged that it listens. */
  url: () => Promise<string>
}

export function tempDir (t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-server-test-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/** Starts `src/server.ts` (or `src/cli.ts` with `cli` arguments) with exactly this configuration on top of PATH and HOME. */
export function spawnBerth (t: Test, env: Record<string, string>, cli?: string[]): Berth {
  const args = ['--import', 'tsx', '--import', dieWithParent, entry(cli === undefined ? 'server.ts' : 'cli.ts'), ...(cli ?? [])]
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true // its own process group, killed as a whole at teardown
  })
  const logs: LogEntry[] = []
  const waiters = new Set<() => void>()
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
  createInterface({ input: child.stdout as Readable }).on('line', line => {
    try {
      logs.push(JSON.parse(line) as LogEntry)
    } catch {
      logs.push({ msg: line })
    }
    for (const wake of waiters) wake()
  })
  const exited = new Promise<number | string>(resolve => {
    child.once('exit', (code, signal) => {
      for (const wake of waiters) wake()
      resolve(code ?? signal ?? -1)
    })
  })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    try { process.kill(-(child.pid as number), 'SIGKILL') } catch {}
    await exited
  })
  const waitForLog = async (test: (entry: LogEntry) => boolean, ms = 20_000): Promise<LogEntry> => {
    return await new Promise((resolve, reject) => {
      const check = (): void => {
        const found = logs.find(test)
        if (found !== undefined) { done(); resolve(found) } else if (child.exitCode !== null || child.signalCode !== null) {
          done(); reject(new Error(`berth exited (${String(child.exitCode ?? child.signalCode)}) first; stderr: ${stderr}`))
        }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`no such log line within ${ms} ms; stderr: ${stderr}`)) }, ms)
      const done = (): void => { clearTimeout(timer); waiters.delete(check) }
      waiters.add(check)
      check()
    })
  }
  const url = async (): Promise<string> => {
    const line = await waitForLog(e => /Server listening at http:\/\/127\.0\.0\.1:\d+/.test(e.msg ?? ''))
    return /http:\/\/127\.0\.0\.1:\d+/.exec(line.msg ?? '')?.[0] as string
  }
  return { child, logs, stderr: () => stderr, exited, waitForLog, url }
}

/**
 * Starts Berth with `env` and checks it fails as promised: exit status 2 within `withinMs`, one line on stderr
 * naming `variable` (a name, or a pattern for the start of the message), and no stack trace anywhere.
 */
export async function expectConfigError (t: Test, env: Record<string, string>, variable: string | RegExp,
  { withinMs = 30_000, cli }: { withinMs?: number, cli?: string[] } = {}): Promise<void> {
  const started = Date.now()
  const berth = spawnBerth(t, env, cli)
  const timer = setTimeout(() => { berth.child.kill('SIGKILL') }, withinMs)
  const code = await berth.exited
  clearTimeout(timer)
  const stderr = berth.stderr()
  t.equal(code, 2, `exit status 2 (stderr: ${stderr})`)
  t.ok(Date.now() - started < withinMs, `exited within ${withinMs} ms`)
  const named = typeof variable === 'string' ? `${variable}\\b` : variable.source
  t.match(stderr, new RegExp(`^berth: configuration error: ${named}[^\\n]*\\n$`), 'one line naming the variable')
  t.notMatch(stderr + JSON.stringify(berth.logs), /\n\s+at |\\n\s+at /, 'no stack trace')
}
