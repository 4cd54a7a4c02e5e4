// Passwords and tokens never reach the logs: a real server at LOG_LEVEL=debug, driven through every way
// credentials arrive (Basic on /v2, the token endpoint's query string and form bodies, bad and forged
// credentials), must not print any of them. Also: the startup warning when Berth runs open.
import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { freePort, SERVER_NODE_ARGS } from '../helpers/server-process.js'
import { dataDir } from './helpers.js'


/** Starts a server whose output is captured; `stop()` ends it and returns everything it printed. */
async function loggedServer (t: Test, env: Record<string, string>): Promise<{ url: string, stop: () => Promise<string> }> {
  const port = await freePort()
  const child = spawn(process.execPath, SERVER_NODE_ARGS, {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'debug', BERTH_DATA_DIR: dataDir(t), ...env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise(resolve => child.once('exit', resolve))
  const stop = async (): Promise<string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
    return output
  }
  t.teardown(stop)
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 900; i++) { // up to 90 s: a cold start on a busy 2-core machine is slow
    try {
      await fetch(`${url}/v2/`)
      return { url, stop }
    } catch {}
    await sleep(100)
  }
  throw new Error(`server did not start:\n${output}`)
}

t.test('no password or token appears in the logs', async t => {
  const password = 'Sup3r-Secret-Passw0rd'
  const server = await loggedServer(t, { BERTH_ADMIN_USER: 'root', BERTH_ADMIN_PASSWORD: password })
  const basicHeader = `Basic ${Buffer.from(`root:${password}`).toString('base64')}`
  const secrets = [password, basicHeader.slice('Basic '.length)]

  t.equal((await fetch(`${server.url}/v2/`, { headers: { authorization: basicHeader } })).status, 200)
  const got = await (await fetch(`${server.url}/v2/token?service=berth&scope=repository:root/app:pull,push&offline_token=true`, { headers: { authorization: basicHeader } })).json() as { token: string, refresh_token: string }
  secrets.push(got.token, got.refresh_token)
  t.equal((await fetch(`${server.url}/v2/root/app/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${got.token}` } })).status, 202)

  const form = (body: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() })
  const viaPassword = await (await fetch(`${server.url}/v2/token`, form({ grant_type: 'password', username: 'root', password, service: 'berth', client_id: 'x', access_type: 'offline' }))).json() as { access_token: string, refresh_token: string }
  secrets.push(viaPassword.access_token, viaPassword.refresh_token)
  const viaRefresh = await (await fetch(`${server.url}/v2/token`, form({ grant_type: 'refresh_token', refresh_token: got.refresh_token, service: 'berth', client_id: 'x' }))).json() as { access_token: string }
  secrets.push(viaRefresh.access_token)

  // Secrets where they do not belong: in a query string, and wrong ones.
  await fetch(`${server.url}/v2/token?service=berth&password=${encodeURIComponent(password)}&refresh_token=${got.refresh_token}`)
  const wrong = 'Wr0ng-Guess-Passw0rd'
  secrets.push(wrong)
  t.equal((await fetch(`${server.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from(`root:${wrong}`).toString('base64')}` } })).status, 401)
  t.equal((await fetch(`${server.url}/v2/token`, form({ grant_type: 'password', username: 'root', password: wrong }))).status, 401)
  const tampered = `${got.token.slice(0, -4)}AAAA`
  secrets.push(tampered)
  t.equal((await fetch(`${server.url}/v2/root/app/tags/list`, { headers: { authorization: `Bearer ${tampered}` } })).status, 401)

  const output = await server.stop()
  t.match(output, /"url":"\/v2\/token\?service=berth&password=\[REDACTED\]&refresh_token=\[REDACTED\]"/, 'the query string is logged with its secrets masked')
  t.match(output, /incoming request/, 'requests were logged at all')
  for (const secret of secrets) t.notOk(output.includes(secret), `not in the logs: ${secret.slice(0, 6)}…`)
})

t.test('with no users, the server warns at startup that it runs open', async t => {
  const server = await loggedServer(t, { LOG_LEVEL: 'info' })
  const output = await server.stop()
  t.match(output, /NO USERS ARE CONFIGURED: Berth is running OPEN/)
})

t.test('with a user, it says authentication is on', async t => {
  const server = await loggedServer(t, { LOG_LEVEL: 'info', BERTH_ADMIN_USER: 'root', BERTH_ADMIN_PASSWORD: 'root-password-1' })
  const output = await server.stop()
  t.match(output, /authentication is on/)
  t.notMatch(output, /NO USERS/)
})
