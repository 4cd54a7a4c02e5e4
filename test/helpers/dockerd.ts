// A private Docker engine for a tap test: Debian's dockerd (apt-get install docker.io; .ci/run installs it) with
// vfs storage and no networking of its own, its data root, exec root, pid file, socket, daemon config and the
// client's config all in a fresh temporary directory, so that no system-wide daemon, socket or image store is
// touched. Loopback registries are insecure by default for dockerd (127.0.0.0/8), so it reaches a test's
// registries over plain HTTP. The daemon stops when the test ends, and dies with the test process if that is
// killed first (SIGTERM through the watchdog, so that it unmounts its data root; its containerd dies with it).
// Missing binaries = a failing test with instructions, never a skip.
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { killWithThisProcess } from './server-process.js'

export interface Dockerd {
  /** unix:///.../docker.sock, for DOCKER_HOST. */
  host: string
  /** Runs the docker client against this daemon; resolves with stdout, rejects naming the command and its output. */
  docker: (args: string[]) => Promise<string>
}

function binary (env: string, candidates: string[]): string | undefined {
  const given = process.env[env]
  if (given !== undefined) return given
  for (const candidate of candidates) {
    if (candidate.includes('/')) {
      if (existsSync(candidate)) return candidate
      continue
    }
    const found = spawnSync('sh', ['-c', `command -v ${candidate}`], { encoding: 'utf8' }).stdout.trim()
    if (found !== '') return found
  }
  return undefined
}

export async function startDockerd (t: Test): Promise<Dockerd> {
  const dockerd = binary('BERTH_DOCKERD_BIN', ['dockerd'])
  // /usr/bin first: the client of the Debian daemon (another docker on PATH may be a different release)
  const client = binary('BERTH_DOCKER_BIN', ['/usr/bin/docker', 'docker'])
  if (dockerd === undefined || client === undefined) {
    throw new Error('dockerd or docker is not installed: apt-get install docker.io (.ci/run does). This test needs a real Docker engine and is never skipped.')
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-dockerd-'))
  const host = `unix://${path.join(dir, 'docker.sock')}`
  const configFile = path.join(dir, 'daemon.json')
  writeFileSync(configFile, '{}\n')
  const logFile = path.join(dir, 'dockerd.log')
  const log = (): string => { try { return readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') } catch { return '' } }
  const logFd = openSync(logFile, 'a')
  const child = spawn(dockerd, [
    '--config-file', configFile, '--storage-driver', 'vfs', '--iptables=false', '--ip6tables=false', '--bridge=none',
    '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'docker.pid'),
    '-H', host
  ], { stdio: ['ignore', logFd, logFd] }) // a file, not a pipe: read only when it fails to start
  closeSync(logFd)
  killWithThisProcess(child, { graceMs: 15_000 })
  const clientEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: path.join(dir, 'client') }

  const docker = async (args: string[]): Promise<string> => {
    const run = spawn(client, args, { env: clientEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    killWithThisProcess(run)
    let stdout = ''
    let stderr = ''
    run.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    run.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const code = await new Promise<number | null>(resolve => run.once('close', resolve))
    if (code !== 0) throw new Error(`docker ${args.join(' ')} exited ${String(code)}:\n${stderr}${stdout}`)
    return stdout
  }

  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM') // dockerd stops its containerd and unmounts its data root
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 20_000)
      await exited
      clearTimeout(timer)
    }
    spawnSync('umount', ['-R', path.join(dir, 'exec')], { stdio: 'ignore' })
    spawnSync('umount', [path.join(dir, 'data')], { stdio: 'ignore' })
    rmSync(dir, { recursive: true, force: true })
  })

  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dockerd exited with ${String(child.exitCode)} during startup:\n${log()}`)
    try {
      await docker(['version', '--format', '{{.Server.Version}}'])
      return { host, docker }
    } catch {}
    if (Date.now() > deadline) throw new Error(`dockerd did not answer within 60 s:\n${log()}`)
    await sleep(500)
  }
}
