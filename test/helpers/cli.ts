// Runs the `berth` command in-process, as the program would, and keeps what it printed.
import { Readable, Writable } from 'node:stream'
import { runCli } from '../../src/cli.js'

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

/** Runs `berth <args>` on the store `env` names (LOG_LEVEL silent unless it says otherwise), `stdin` piped in. */
export async function runBerth (args: string[], env: Record<string, string>, stdin = ''): Promise<CliRun> {
  let stdout = ''
  let stderr = ''
  const sink = (append: (s: string) => void): Writable => new Writable({ write: (chunk, _e, done) => { append(String(chunk)); done() } })
  const code = await runCli(args, {
    stdin: Readable.from([Buffer.from(stdin)]),
    stdout: sink(s => { stdout += s }),
    stderr: sink(s => { stderr += s }),
    env: { LOG_LEVEL: 'silent', ...env }
  })
  return { code, stdout, stderr }
}
