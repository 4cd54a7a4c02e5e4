// The real client binaries: where they are, the flag that makes each one log its HTTP exchanges, and a runner
// that captures what they print. Every command runs with that debug flag, so that a failure can name the client,
// the command, the client's own error and the registry responses it logged (see trace.ts).
//
// Binaries: oras, crane, regctl and helm are the pinned builds of scripts/tools.json (scripts/install-tools.mjs puts
// them at toolPath(name)). skopeo, docker and podman come from Debian's packages (/usr/bin first, then PATH) unless
// tools.json pins a build: the Go module proxy refuses github.com/containers/skopeo, and docker and podman need
// their daemon and storage stack. /usr/bin first, so that docker is the client of the dockerd it drives (another
// docker on PATH may be a different release). BERTH_<NAME>_BIN (BERTH_DOCKER_BIN, ...) overrides any of them.
import { spawn, spawnSync } from 'node:child_process'
import { createWriteStream, existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { toolPath } from '../../scripts/tool-paths.mjs'
import { CheckError } from '../../conformance/suite/harness.js'
import { formatEntry, parseTrace, type ClientName, type TraceEntry } from './trace.js'

export type { ClientName } from './trace.js'
export const CLIENTS: readonly ClientName[] = ['oras', 'crane', 'regctl', 'skopeo', 'helm', 'docker', 'podman']

/** Clients installed with apt (.ci/run), found on the system rather than built from tools.json. */
const APT_PACKAGE: Partial<Record<ClientName, string>> = { skopeo: 'skopeo', docker: 'docker.io', podman: 'podman' }

const { tools } = JSON.parse(readFileSync(new URL('../../scripts/tools.json', import.meta.url), 'utf8')) as
  { tools: Record<string, { version: string } | undefined> }

/** How each client is told to log its HTTP exchanges to stderr. */
const DEBUG: Record<ClientName, (args: string[]) => string[]> = {
  oras: args => [...args, '--debug'],
  crane: args => ['-v', ...args],
  regctl: args => ['-v', 'trace', ...args],
  skopeo: args => ['--debug', ...args],
  helm: args => ['--debug', ...args],
  // the daemon does the registry work; its log is in results/acceptance/dockerd.log
  docker: args => args,
  podman: args => ['--log-level=debug', ...args]
}

/** The client's own version command, and how to read the version out of what it prints. */
const VERSION: Record<ClientName, { args: string[], parse: (out: string) => string }> = {
  oras: { args: ['version'], parse: out => /Version:\s*(\S+)/.exec(out)?.[1] ?? out.trim() },
  crane: { args: ['version'], parse: out => out.trim() },
  regctl: { args: ['version', '--format', '{{.VCSTag}}'], parse: out => out.trim() },
  skopeo: { args: ['--version'], parse: out => /version (\S+)/.exec(out)?.[1] ?? out.trim() },
  // built without helm's ldflags, `helm version` knows only major.minor ("v3.21")
  helm: { args: ['version', '--template', '{{.Version}}'], parse: out => out.trim() },
  docker: { args: ['version', '--format', '{{.Client.Version}}'], parse: out => out.trim().replace(/\+dfsg\d*$/, '') },
  podman: { args: ['--version'], parse: out => /version (\S+)/.exec(out)?.[1] ?? out.trim() }
}

export interface Resolved {
  name: ClientName
  bin: string
  /** version pinned in scripts/tools.json, when it pins this client */
  pinned?: string
  /** where the binary came from, for reports */
  source: string
}

function onPath (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && existsSync(path.join(dir, name))) return path.join(dir, name)
  }
  return undefined
}

/** Finds a client binary; `undefined` `bin` means it is missing, with the reason in `source`. */
export function resolveClient (name: ClientName): Resolved {
  const override = process.env[`BERTH_${name.toUpperCase()}_BIN`]
  const pinned = tools[name]?.version
  if (override !== undefined && override !== '') {
    return { name, bin: override, ...(pinned !== undefined ? { pinned } : {}), source: `BERTH_${name.toUpperCase()}_BIN` }
  }
  if (pinned !== undefined) {
    return { name, bin: toolPath(name), pinned, source: 'scripts/tools.json' }
  }
  const pkg = APT_PACKAGE[name]
  if (pkg === undefined) return { name, bin: '', source: 'not pinned in scripts/tools.json' }
  const system = path.join('/usr/bin', name)
  if (existsSync(system)) return { name, bin: system, source: `Debian package ${pkg}` }
  const found = onPath(name)
  if (found !== undefined) return { name, bin: found, source: 'PATH' }
  return { name, bin: '', source: `not on PATH (apt-get install ${pkg})` }
}

export interface RunOptions {
  /** working directory (default: the suite's work directory) */
  cwd?: string
  /** bytes for stdin */
  input?: Buffer | string
  /** stream stdout into this file instead of memory (large blobs) */
  stdoutFile?: string
  /** kill the client after this long (default 120 s) */
  timeoutMs?: number
  /** return a failed run instead of throwing (for commands that must fail) */
  allowFailure?: boolean
  /** variables added to the client's environment for this command */
  env?: NodeJS.ProcessEnv
}

const STDERR_KEEP = 4 * 1024 * 1024
const STDOUT_MAX = 256 * 1024 * 1024

/** Quotes an argument for display the way a shell would need it. */
function shellQuote (arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`
}

export class ClientRun {
  constructor (
    readonly client: ClientName,
    /** the arguments the workflow gave, without the debug flag */
    readonly args: readonly string[],
    readonly code: number | null,
    readonly signal: string | null,
    readonly stdout: Buffer,
    readonly stderr: string,
    readonly durationMs: number,
    readonly timedOut: boolean,
    readonly spawnError?: string
  ) {}

  get ok (): boolean { return this.code === 0 }

  /** Client and subcommand, e.g. `oras manifest fetch`, `regctl image copy`. */
  get subcommand (): string {
    const words: string[] = []
    for (let i = 0; i < this.args.length && words.length < 3; i++) {
      const a = this.args[i] ?? ''
      if (a.startsWith('-')) {
        if (['--host', '--override-os', '--override-arch'].includes(a)) i++ // global flags with a value before the subcommand
        continue
      }
      if (!/^[a-z][a-z-]*$/.test(a)) break
      words.push(a)
    }
    return [this.client, ...words].join(' ')
  }

  /** The command as a user would type it (the debug flag the suite adds is left out). */
  get command (): string {
    return [this.client, ...this.args].map(shellQuote).join(' ')
  }

  text (): string { return this.stdout.toString('utf8') }

  /** Non-empty stdout lines, trimmed. */
  lines (): string[] {
    return this.text().split('\n').map(l => l.trim()).filter(l => l !== '')
  }

  json<T = unknown> (): T {
    try {
      return JSON.parse(this.text()) as T
    } catch {
      throw new CheckError(`${this.client} did not print JSON`, undefined, this.describe())
    }
  }

  /** The HTTP exchanges the client logged, in order. */
  exchanges (): TraceEntry[] {
    return parseTrace(this.client, this.stderr)
  }

  /** The client's own error lines (not its debug log). */
  errorLines (): string[] {
    const tail = this.stderr.split('\n').slice(-60).map(l => l.trimEnd()).filter(l => l !== '')
    const errors = tail.filter(l =>
      /^(Error|error)\b/.test(l) || /level=(fatal|error)/.test(l) || /^failed\b/i.test(l) || /\bfailed to\b/.test(l))
    const lines = errors.length > 0 ? errors : tail.slice(-2)
    return [...new Set(lines)].slice(-3).map(l => l.length > 600 ? `${l.slice(0, 600)}…` : l)
  }

  /** Failure detail: command, exit, the client's error, and the last registry exchanges it logged. */
  describe (): string {
    const out: string[] = [`command: ${this.command}`]
    const secs = (this.durationMs / 1000).toFixed(1)
    if (this.spawnError !== undefined) out.push(`could not run ${this.client}: ${this.spawnError}`)
    else if (this.timedOut) out.push(`killed after ${secs} s (timeout)`)
    else out.push(`exit ${this.code ?? this.signal ?? '?'} after ${secs} s`)
    if (this.code !== 0) for (const l of this.errorLines()) out.push(`${this.client} said: ${l}`)
    const exchanges = this.exchanges()
    if (exchanges.length > 0) {
      const shown = exchanges.slice(-8)
      out.push(`registry exchanges (${shown.length === exchanges.length ? 'all' : `last ${shown.length}`} of ${exchanges.length} the client logged):`)
      for (const e of shown) out.push(`  ${formatEntry(e)}`)
    } else if (this.stderr.trim() !== '') {
      out.push('stderr (last 15 lines):')
      for (const l of this.stderr.trimEnd().split('\n').slice(-15)) out.push(`  ${l.length > 300 ? `${l.slice(0, 300)}…` : l}`)
    }
    return out.join('\n')
  }
}

/** Throws a check failure that carries the run as its detail. */
export function failRun (message: string, run?: ClientRun): never {
  throw new CheckError(message, undefined, run?.describe())
}

export class Client {
  constructor (readonly resolved: Resolved, private readonly env: NodeJS.ProcessEnv, private readonly defaultCwd: string) {}

  get name (): ClientName { return this.resolved.name }

  /** Runs the client with its debug flag; throws a CheckError naming the command unless it exits 0. */
  async run (args: string[], opts: RunOptions = {}): Promise<ClientRun> {
    const result = await this.spawn(args, opts)
    if (!result.ok && opts.allowFailure !== true) {
      failRun(`${result.subcommand} failed`, result)
    }
    return result
  }

  /** Like run(), but the command must fail; returns the failed run. */
  async runFailing (args: string[], opts: RunOptions = {}): Promise<ClientRun> {
    const result = await this.spawn(args, { ...opts, allowFailure: true })
    if (result.ok) failRun(`${result.subcommand} should have failed, it exited 0`, result)
    if (result.spawnError !== undefined || result.timedOut) failRun(`${result.subcommand} did not run`, result)
    return result
  }

  /** The version the client reports (no debug flag). */
  version (): string {
    const spec = VERSION[this.name]
    const res = spawnSync(this.resolved.bin, spec.args, { env: this.env, encoding: 'utf8', timeout: 30_000 })
    if (res.error !== undefined) throw res.error
    if (res.status !== 0) throw new Error(`${this.name} ${spec.args.join(' ')} exited ${res.status ?? res.signal}: ${res.stderr}`)
    return spec.parse(res.stdout)
  }

  private async spawn (args: string[], opts: RunOptions): Promise<ClientRun> {
    const started = performance.now()
    const done = (code: number | null, signal: string | null, stdout: Buffer, stderr: string, timedOut: boolean, spawnError?: string): ClientRun =>
      new ClientRun(this.name, args, code, signal, stdout, stderr, performance.now() - started, timedOut, spawnError)
    if (this.resolved.bin === '' || !existsSync(this.resolved.bin)) {
      const where = this.resolved.bin === '' ? this.resolved.source : `${this.resolved.bin} does not exist (run node scripts/install-tools.mjs ${this.name})`
      return done(null, null, Buffer.alloc(0), '', false, `${this.name} is not installed: ${where}`)
    }
    return await new Promise<ClientRun>((resolve) => {
      const child = spawn(this.resolved.bin, DEBUG[this.name](args), {
        cwd: opts.cwd ?? this.defaultCwd,
        env: opts.env === undefined ? this.env : { ...this.env, ...opts.env },
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']
      })
      // stdout and stderr are pipes (stdio above), so never null
      const stdout = child.stdout as Readable
      const stderr = child.stderr as Readable
      const out: Buffer[] = []
      let outBytes = 0
      let err = ''
      let timedOut = false
      let spawnError: string | undefined
      const file = opts.stdoutFile !== undefined ? createWriteStream(opts.stdoutFile) : undefined
      if (file !== undefined) {
        stdout.pipe(file)
      } else {
        stdout.on('data', (chunk: Buffer) => {
          outBytes += chunk.length
          if (outBytes <= STDOUT_MAX) out.push(chunk)
        })
      }
      stderr.setEncoding('utf8')
      stderr.on('data', (chunk: string) => {
        err += chunk
        if (err.length > STDERR_KEEP) err = err.slice(-STDERR_KEEP / 2)
      })
      if (opts.input !== undefined && child.stdin !== null) child.stdin.end(opts.input)
      const timer = setTimeout(() => {
        timedOut = true
        child.kill('SIGKILL')
      }, opts.timeoutMs ?? 120_000)
      child.once('error', (e) => { spawnError = e.message })
      child.once('close', (code, signal) => {
        clearTimeout(timer)
        const finish = (): void => { resolve(done(code, signal, Buffer.concat(out), err, timedOut, spawnError)) }
        if (file !== undefined && !file.closed) file.once('close', finish)
        else finish()
      })
    })
  }
}
