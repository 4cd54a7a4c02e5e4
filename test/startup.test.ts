// How the server process starts and ends: it binds loopback by default, refuses to run open (no users) on an
// address the network reaches unless BERTH_ALLOW_OPEN=true, and a test's server dies with the test process
// even when that process is killed without running its teardown.
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { isLoopbackHost, openBindRefusal } from '../src/open-bind.js'
import { SERVER_NODE_ARGS } from './helpers/server-process.js'

// An address no interface here has (TEST-NET-1): a server that gets past the open-bind check fails to bind it,
// so these tests never listen anywhere but on loopback.
const UNREACHABLE = '192.0.2.1'

/** Runs src/server.ts until it exits (or 60 s); returns its exit code and everything it printed. */
async function runServer (t: Test, env: Record<string, string | undefined>): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-startup-'))
  t.teardown(() => { rmSync(dataDir, { recursive: true, force: true }) })
  const fullEnv: Record<string, string | undefined> = { ...process.env, PORT: '0', LOG_LEVEL: 'info', BERTH_DATA_DIR: dataDir, ...env }
  for (const [name, value] of Object.entries(fullEnv)) if (value === undefined) delete fullEnv[name]
  const child = spawn(process.execPath, SERVER_NODE_ARGS, { env: fullEnv, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 60_000)
  t.teardown(() => { clearTimeout(timer); child.kill('SIGKILL') })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

t.test('which hosts count as loopback', async t => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) t.ok(isLoopbackHost(host), host)
  for (const host of ['0.0.0.0', '::', '10.0.0.5', '192.0.2.1', 'registry.example', '128.0.0.1']) t.notOk(isLoopbackHost(host), host)
  t.equal(openBindRefusal({ host: '0.0.0.0', allowOpen: true, hasUsers: false }), undefined)
  t.equal(openBindRefusal({ host: '0.0.0.0', allowOpen: false, hasUsers: true }), undefined)
  t.equal(openBindRefusal({ host: '127.0.0.1', allowOpen: false, hasUsers: false }), undefined)
  t.match(openBindRefusal({ host: '0.0.0.0', allowOpen: false, hasUsers: false }), /HOST=0\.0\.0\.0.*BERTH_ADMIN_USER.*BERTH_ALLOW_OPEN=true/)
})

t.test('with no HOST the server listens on 127.0.0.1', async t => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-startup-'))
  t.teardown(() => { rmSync(dataDir, { recursive: true, force: true }) })
  const env: Record<string, string | undefined> = { ...process.env, PORT: '0', LOG_LEVEL: 'info', BERTH_DATA_DIR: dataDir }
  delete env.HOST
  const child = spawn(process.execPath, SERVER_NODE_ARGS, { env, stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise(resolve => child.once('exit', resolve))
  t.teardown(async () => { child.kill('SIGTERM'); await exited })
  let stdout = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`not listening within 60 s:\n${stdout}`)) }, 60_000)
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      const m = /Server listening at (http:\/\/[^"\s]+)/.exec(stdout)
      if (m !== null) { clearTimeout(timer); resolve(m[1] as string) }
    })
  })
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.notMatch(stdout, /Server listening at http:\/\/(?!127\.0\.0\.1)/, 'on no other address')
  t.equal((await fetch(`${url}/v2/`)).status, 200)
})

t.test('open on a non-loopback HOST: one line naming the variables, exit 2, nothing bound', async t => {
  const { code, stdout, stderr } = await runServer(t, { HOST: UNREACHABLE })
  t.equal(code, 2)
  const lines = stderr.trim().split('\n')
  t.equal(lines.length, 1, 'one line')
  t.match(lines[0], /^berth: REFUSING TO START: no users are configured, so anyone who reaches HOST=192\.0\.2\.1 could pull, push and delete; .*BERTH_ADMIN_USER and BERTH_ADMIN_PASSWORD.*HOST=127\.0\.0\.1.*BERTH_ALLOW_OPEN=true/)
  t.match(stdout, /NO USERS ARE CONFIGURED: Berth is running OPEN/, 'the loud warning is logged too')
  t.notMatch(stdout, /Server listening/)
})

t.test('BERTH_ALLOW_OPEN=true, or a configured user, lets it go on to bind', async t => {
  for (const env of [{ BERTH_ALLOW_OPEN: 'true' }, { BERTH_ADMIN_USER: 'root', BERTH_ADMIN_PASSWORD: 'a-long-enough-password-1' }]) {
    const { code, stdout, stderr } = await runServer(t, { HOST: UNREACHABLE, ...env })
    t.notMatch(stderr, /REFUSING/, JSON.stringify(env))
    // It got past the check and tried to listen: the address is not on this machine.
    t.match(stderr, /^berth: configuration error: HOST: .*EADDRNOTAVAIL/, `${Object.keys(env)[0] ?? ''}: tried to bind ${UNREACHABLE}`)
    t.equal(code, 2, 'a HOST that cannot be bound is a configuration error')
    if ('BERTH_ALLOW_OPEN' in env) t.match(stdout, /running OPEN/, 'still warns loudly')
  }
})

t.test('a spawned server dies with its test process, even one killed with SIGKILL', async t => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-startup-'))
  t.teardown(() => { rmSync(dataDir, { recursive: true, force: true }) })
  // A stand-in for a test process: it starts a server the way the helpers do, prints its pid, and waits.
  const parentScript = `
    import { spawn } from 'node:child_process'
    const child = spawn(process.execPath, ${JSON.stringify(SERVER_NODE_ARGS)}, { stdio: ['pipe', 'pipe', 'inherit'] })
    child.stdout.on('data', d => { if (/Server listening/.test(d)) console.log('server ' + child.pid) })
    setInterval(() => {}, 1000)`
  const parent = spawn(process.execPath, ['--input-type=module', '-e', parentScript], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', BERTH_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { parent.kill('SIGKILL') })
  await expectGoneWithParent(t, parent, 'server')
})

t.test('a child that cannot watch its parent (MinIO) is killed by its watchdog when the test process dies', async t => {
  const helpers = new URL('./helpers/server-process.ts', import.meta.url).href
  const parentScript = `
    import { spawn } from 'node:child_process'
    import { killWithThisProcess } from ${JSON.stringify(helpers)}
    const child = spawn('sleep', ['600'], { stdio: 'ignore' })
    killWithThisProcess(child)
    console.log('child ' + child.pid)
    setInterval(() => {}, 1000)`
  const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', parentScript], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { parent.kill('SIGKILL') })
  await expectGoneWithParent(t, parent, 'child')
})

/**
 * Reads `<label> <pid>` from the parent's stdout, kills the parent with SIGKILL, and expects the process with
 * that pid to be gone within 30 s.
 */
async function expectGoneWithParent (t: Test, parent: ChildProcessByStdio<null, Readable, null>, label: string): Promise<void> {
  const pid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`no ${label} within 60 s`)) }, 60_000)
    parent.stdout.on('data', (d: Buffer) => {
      const m = new RegExp(`${label} (\\d+)`).exec(d.toString())
      if (m !== null) { clearTimeout(timer); resolve(Number(m[1])) }
    })
  })
  const alive = (): boolean => { try { process.kill(pid, 0); return true } catch { return false } }
  t.teardown(() => { if (alive()) process.kill(pid, 'SIGKILL') })
  t.ok(alive(), `the ${label} runs`)
  parent.kill('SIGKILL')
  for (let i = 0; i < 300 && alive(); i++) await sleep(100)
  t.notOk(alive(), `the ${label} is gone once its parent was killed`)
}
