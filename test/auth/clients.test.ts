// Real clients against a real Berth process with authentication on: oras, crane, helm and regctl log in
// (username and password, and docker's identity tokens for oras and crane), push and pull in their own
// namespace, and are refused (403) when pushing into another user's. The binaries are the pinned builds of
// scripts/tools.json (scripts/install-tools.mjs).
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { toolPath } from '../../scripts/tool-paths.mjs'
import { createUsers } from '../../src/auth/users.js'
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js'
import { startServer, type ServerProcess } from '../helpers/server-process.js'
import { tarLayer } from '../helpers/tar-layer.js'
import { dataDir } from './helpers.js'

type Tool = 'oras' | 'crane' | 'helm' | 'regctl'
const PASSWORD = { alice: 'alice-password-1', bob: 'bob-password-1' }

interface Result {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a client with its own HOME (so its credentials stay in `home`). */
async function exec (tool: Tool, args: string[], { cwd, home, stdin }: { cwd: string, home: string, stdin?: string }): Promise<Result> {
  const child = spawn(toolPath(tool), args, {
    cwd,
    env: { ...process.env, HOME: home, DOCKER_CONFIG: path.join(home, '.docker'), XDG_CONFIG_HOME: path.join(home, '.config') },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString('latin1') })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  child.stdin.on('error', () => {}) // a client that fails before reading stdin closes it: EPIPE is not the failure
  child.stdin.end(stdin ?? '')
  const code = await new Promise<number | null>(resolve => child.once('close', resolve))
  return { code, stdout, stderr }
}

/** Runs a client and requires success; a failure names the client, the command and what it printed. */
async function ok (tool: Tool, args: string[], options: { cwd: string, home: string, stdin?: string }): Promise<string> {
  const res = await exec(tool, args, options)
  if (res.code !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${String(res.code)}:\n${res.stderr}${res.stdout}`)
  return res.stdout
}

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

/** A server with auth on: root from the environment, alice and bob created in the store beforehand. */
async function authServer (t: Test): Promise<ServerProcess> {
  const dir = dataDir(t)
  const driver = new FilesystemDriver({ root: dir })
  await driver.init()
  const users = createUsers(driver, { cacheTtlMs: 0 })
  await users.add('alice', PASSWORD.alice)
  await users.add('bob', PASSWORD.bob)
  await driver.close()
  return await startServer(t, { BERTH_DATA_DIR: dir, BERTH_ADMIN_USER: 'root', BERTH_ADMIN_PASSWORD: 'root-password-1' })
}

/** A getting-started workspace: a file to push, and a HOME of its own per identity. */
function workspace (t: Test): { dir: string, home: (who: string) => string } {
  const dir = t.testdir({ 'hi.txt': 'hello from an authenticated push\n' })
  return {
    dir,
    home: who => {
      const home = path.join(dir, `home-${who}`)
      mkdirSync(home, { recursive: true })
      return home
    }
  }
}

/** A refresh ("identity") token for alice, as `docker login` gets one: GET /v2/token?offline_token=true. */
async function identityToken (server: ServerProcess): Promise<string> {
  const res = await fetch(`${server.url}/v2/token?service=berth&offline_token=true&client_id=test`, {
    headers: { authorization: `Basic ${Buffer.from(`alice:${PASSWORD.alice}`).toString('base64')}` }
  })
  return ((await res.json()) as { refresh_token: string }).refresh_token
}

t.test('oras: login, push, pull and list as alice; refused in bob\'s namespace and without credentials', async t => {
  const server = await authServer(t)
  const { dir, home } = workspace(t)
  const R = server.host
  const alice = { cwd: dir, home: home('alice') }

  const bad = await exec('oras', ['login', '--plain-http', '-u', 'alice', '--password-stdin', R], { ...alice, stdin: 'wrong-password' })
  t.not(bad.code, 0, 'a wrong password fails the login')
  t.match(bad.stderr, /401|unauthorized/i)
  t.match(await ok('oras', ['login', '--plain-http', '-u', 'alice', '--password-stdin', R], { ...alice, stdin: PASSWORD.alice }), /Login Succeeded/)

  const pushed = JSON.parse(await ok('oras', ['push', '--plain-http', '--format', 'json', `${R}/alice/oras:v1`, 'hi.txt:text/plain'], alice)) as { digest: string }
  const manifest = Buffer.from(await ok('oras', ['manifest', 'fetch', '--plain-http', `${R}/alice/oras:v1`], alice), 'latin1')
  t.equal(sha256(manifest), pushed.digest)
  await ok('oras', ['pull', '--plain-http', '-o', 'out', `${R}/alice/oras:v1`], alice)
  t.equal(readFileSync(path.join(dir, 'out', 'hi.txt'), 'utf8'), 'hello from an authenticated push\n')
  t.same((await ok('oras', ['repo', 'tags', '--plain-http', `${R}/alice/oras`], alice)).trim().split('\n'), ['v1'])

  const denied = await exec('oras', ['push', '--plain-http', `${R}/bob/oras:v1`, 'hi.txt:text/plain'], alice)
  t.not(denied.code, 0, 'alice may not push into bob\'s namespace')
  t.match(denied.stderr, /403|denied|forbidden/i)

  const anonymous = await exec('oras', ['pull', '--plain-http', '-o', 'anon', `${R}/alice/oras:v1`], { cwd: dir, home: home('anonymous') })
  t.not(anonymous.code, 0, 'a private repository cannot be pulled anonymously')
  t.match(anonymous.stderr, /401|unauthorized/i)

  // bob's catalog does not list alice's private repository.
  const bob = { cwd: dir, home: home('bob') }
  await ok('oras', ['login', '--plain-http', '-u', 'bob', '--password-stdin', R], { ...bob, stdin: PASSWORD.bob })
  await ok('oras', ['push', '--plain-http', `${R}/bob/mine:v1`, 'hi.txt:text/plain'], bob)
  t.same((await ok('oras', ['repo', 'ls', '--plain-http', R], bob)).trim().split('\n'), ['bob/mine'])
  t.same((await ok('oras', ['repo', 'ls', '--plain-http', R], alice)).trim().split('\n'), ['alice/oras'])
})

t.test('oras with an identity token (the OAuth2 refresh_token grant)', async t => {
  const server = await authServer(t)
  const { dir, home } = workspace(t)
  const R = server.host
  const alice = { cwd: dir, home: home('alice') }
  await ok('oras', ['login', '--plain-http', '--identity-token-stdin', R], { ...alice, stdin: await identityToken(server) })
  const config = readFileSync(path.join(alice.home, '.docker', 'config.json'), 'utf8')
  t.match(config, /identitytoken/, 'oras stored the identity token, not a password')
  t.notMatch(config, new RegExp(PASSWORD.alice))
  await ok('oras', ['push', '--plain-http', `${R}/alice/idt:v1`, 'hi.txt:text/plain'], alice)
  await ok('oras', ['pull', '--plain-http', '-o', 'out', `${R}/alice/idt:v1`], alice)
  t.equal(readFileSync(path.join(dir, 'out', 'hi.txt'), 'utf8'), 'hello from an authenticated push\n')
  const denied = await exec('oras', ['push', '--plain-http', `${R}/bob/idt:v1`, 'hi.txt:text/plain'], alice)
  t.not(denied.code, 0)
  t.match(denied.stderr, /403|denied|forbidden/i)
})

t.test('crane: auth login, push, pull, copy (a cross-repository mount), delete; refused in bob\'s namespace', async t => {
  const server = await authServer(t)
  const { dir, home } = workspace(t)
  const R = server.host
  const alice = { cwd: dir, home: home('alice') }
  writeFileSync(path.join(dir, 'layer.tar'), tarLayer('hello.txt', 'hello from crane\n'))

  await ok('crane', ['auth', 'login', R, '-u', 'alice', '--password-stdin'], { ...alice, stdin: PASSWORD.alice })
  await ok('crane', ['append', '--oci-empty-base', '-f', 'layer.tar', '-t', `${R}/alice/crane:v1`], alice)
  const digest = (await ok('crane', ['digest', `${R}/alice/crane:v1`], alice)).trim()
  await ok('crane', ['pull', '--format', 'oci', `${R}/alice/crane:v1`, 'pulled'], alice)
  t.match(readFileSync(path.join(dir, 'pulled', 'index.json'), 'utf8'), digest.slice('sha256:'.length), 'the pulled layout holds the image')
  const copied = await exec('crane', ['copy', `${R}/alice/crane:v1`, `${R}/alice/crane-copy:v1`], alice)
  t.equal(copied.code, 0, copied.stderr)
  t.match(copied.stderr, /mounted blob/, 'the copy mounted the blobs across repositories')
  t.same((await ok('crane', ['catalog', R], alice)).trim().split('\n'), ['alice/crane', 'alice/crane-copy'])
  await ok('crane', ['delete', `${R}/alice/crane-copy@${digest}`], alice)

  const denied = await exec('crane', ['append', '--oci-empty-base', '-f', 'layer.tar', '-t', `${R}/bob/crane:v1`], alice)
  t.not(denied.code, 0, 'alice may not push into bob\'s namespace')
  t.match(denied.stderr, /403 Forbidden|DENIED/)

  // bob cannot read alice's private image, and a copy from it does not mount (nor reveal) its blobs.
  const bob = { cwd: dir, home: home('bob') }
  await ok('crane', ['auth', 'login', R, '-u', 'bob', '--password-stdin'], { ...bob, stdin: PASSWORD.bob })
  const read = await exec('crane', ['manifest', `${R}/alice/crane:v1`], bob)
  t.not(read.code, 0)
  t.match(read.stderr, /DENIED|403/)
  const anonymous = await exec('crane', ['manifest', `${R}/alice/crane:v1`], { cwd: dir, home: home('anonymous') })
  t.not(anonymous.code, 0)
  t.match(anonymous.stderr, /UNAUTHORIZED|401/)
})

t.test('crane with an identity token in the docker config (the OAuth2 refresh_token grant)', async t => {
  const server = await authServer(t)
  const { dir, home } = workspace(t)
  const R = server.host
  const alice = { cwd: dir, home: home('alice') }
  mkdirSync(path.join(alice.home, '.docker'), { recursive: true })
  writeFileSync(path.join(alice.home, '.docker', 'config.json'), JSON.stringify({ auths: { [R]: { identitytoken: await identityToken(server) } } }))
  writeFileSync(path.join(dir, 'layer.tar'), tarLayer('id.txt', 'pushed with an identity token\n'))
  await ok('crane', ['append', '--oci-empty-base', '-f', 'layer.tar', '-t', `${R}/alice/idt:v1`], alice)
  t.match(await ok('crane', ['manifest', `${R}/alice/idt:v1`], alice), /"layers"/)
})

t.test('helm: registry login, push and pull a chart; refused in bob\'s namespace', async t => {
  const server = await authServer(t)
  const { dir, home } = workspace(t)
  const R = server.host
  const alice = { cwd: dir, home: home('alice') }
  await ok('helm', ['create', 'mychart'], alice)
  await ok('helm', ['package', 'mychart', '-d', 'charts'], alice)
  await ok('helm', ['registry', 'login', '--plain-http', '-u', 'alice', '--password-stdin', R], { ...alice, stdin: PASSWORD.alice })
  await ok('helm', ['push', 'charts/mychart-0.1.0.tgz', `oci://${R}/alice/charts`, '--plain-http'], alice)
  mkdirSync(path.join(dir, 'pulled'))
  await ok('helm', ['pull', `oci://${R}/alice/charts/mychart`, '--version', '0.1.0', '--plain-http', '-d', 'pulled'], alice)
  t.same(readFileSync(path.join(dir, 'pulled', 'mychart-0.1.0.tgz')), readFileSync(path.join(dir, 'charts', 'mychart-0.1.0.tgz')), 'the same chart archive')
  const denied = await exec('helm', ['push', 'charts/mychart-0.1.0.tgz', `oci://${R}/bob/charts`, '--plain-http'], alice)
  t.not(denied.code, 0)
  t.match(denied.stderr, /403|denied|forbidden/i)
})

t.test('regctl: registry login, copy and list in alice\'s namespace; refused in bob\'s', async t => {
  const server = await authServer(t)
  const { dir, home } = workspace(t)
  const R = server.host
  const alice = { cwd: dir, home: home('alice') }
  await ok('regctl', ['registry', 'set', '--tls', 'disabled', R], alice)
  await ok('regctl', ['registry', 'login', R, '-u', 'alice', '--pass-stdin'], { ...alice, stdin: PASSWORD.alice })
  await ok('regctl', ['artifact', 'put', '--artifact-type', 'application/vnd.example.note.v1', `${R}/alice/notes:v1`], { ...alice, stdin: 'a note\n' })
  t.equal(await ok('regctl', ['artifact', 'get', `${R}/alice/notes:v1`], alice), 'a note\n')
  await ok('regctl', ['image', 'copy', `${R}/alice/notes:v1`, `${R}/alice/notes-copy:v1`], alice)
  t.same((await ok('regctl', ['tag', 'ls', `${R}/alice/notes-copy`], alice)).trim().split('\n'), ['v1'])
  const denied = await exec('regctl', ['image', 'copy', `${R}/alice/notes:v1`, `${R}/bob/notes:v1`], alice)
  t.not(denied.code, 0)
  t.match(denied.stderr, /403|denied|forbidden|unauthorized/i)
})
