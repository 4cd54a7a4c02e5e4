// The `berth` CLI: users (add, list, passwd, admin, delete; passwords on stdin), namespace policies and
// repository visibility, all in the store a server on the same BERTH_DATA_DIR then honours. Most cases run
// the CLI in-process (runCli, the function the binary runs); the first spawns the real program.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { runBerth } from '../helpers/cli.js'
import { expectError } from '../oci/helpers.js'
import { basic, dataDir } from './helpers.js'

const cliEntry = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the CLI program itself, with a password piped to its stdin. */
async function spawnBerth (dir: string, args: string[], stdin = '', env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', cliEntry, ...args], {
    env: { ...process.env, BERTH_DATA_DIR: dir, ...env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  child.stdin.end(stdin)
  const code = await new Promise<number | null>(resolve => child.once('close', resolve))
  return { code, stdout, stderr }
}

/** Runs one command line in-process, as the program would. */
const berth = async (dir: string, args: string[], stdin = '', env: Record<string, string> = {}): Promise<Run> =>
  await runBerth(args, { BERTH_DATA_DIR: dir, LOG_LEVEL: 'info', ...env }, stdin)

t.test('the berth program: a password piped on stdin, a listing, exit statuses', async t => {
  const dir = dataDir(t)
  const added = await spawnBerth(dir, ['user', 'add', 'alice', '--admin'], 'alice-password-1\n')
  t.equal(added.code, 0, added.stderr)
  t.equal(added.stdout, 'created user alice (admin)\nthis is the first user: authentication is now on (anonymous callers may only pull public repositories)\n')
  const list = await spawnBerth(dir, ['user', 'list'])
  t.equal(list.code, 0)
  t.match(list.stdout, /^alice\tadmin\t\d{4}-/)
  t.equal((await spawnBerth(dir, ['user', 'add', 'alice'], 'alice-password-1\n')).code, 1, 'exit 1: the operation failed')
  const usage = await spawnBerth(dir, ['user', 'frob'])
  t.equal(usage.code, 2, 'exit 2: usage')
  t.match(usage.stderr, /unknown user command "frob"\n\nusage: berth/)
  for (const run of [added, list]) t.notOk((run.stdout + run.stderr).includes('alice-password-1'), 'the password is never echoed')
})

t.test('users: add, list, passwd, admin and delete, with passwords on stdin', async t => {
  const dir = dataDir(t)
  const added = await berth(dir, ['user', 'add', 'alice'], 'alice-password-1\n')
  t.equal(added.code, 0, added.stderr)
  t.match(added.stdout, /created user alice\n/)
  t.match(added.stdout, /first user: authentication is now on/)
  t.equal((await berth(dir, ['user', 'add', 'root', '--admin'], 'root-password-1')).code, 0, 'no trailing newline needed')
  t.equal((await berth(dir, ['user', 'add', 'bob'], 'bob-password-1\r\nignored second line\n')).code, 0)

  const again = await berth(dir, ['user', 'add', 'alice'], 'other-password\n')
  t.equal(again.code, 1)
  t.match(again.stderr, /user "alice" already exists/)
  const weak = await berth(dir, ['user', 'add', 'carol'], 'short\n')
  t.equal(weak.code, 1)
  t.match(weak.stderr, /at least 8 characters/)
  const empty = await berth(dir, ['user', 'add', 'carol'], '')
  t.equal(empty.code, 2)
  t.match(empty.stderr, /no password on stdin/)
  const badName = await berth(dir, ['user', 'add', 'Carol'], 'carol-password\n')
  t.equal(badName.code, 1)
  t.match(badName.stderr, /invalid user name "Carol"/)

  const list = await berth(dir, ['user', 'list'])
  t.equal(list.code, 0)
  t.same(list.stdout.trim().split('\n').map(l => l.split('\t').slice(0, 2)), [['alice', 'user'], ['bob', 'user'], ['root', 'admin']])
  const json = JSON.parse((await berth(dir, ['user', 'list', '--json'])).stdout) as Array<Record<string, unknown>>
  t.same(json.map(u => [u.username, u.admin]), [['alice', false], ['bob', false], ['root', true]])
  t.notOk(JSON.stringify(json).includes('scrypt'), 'no password hashes in the listing')

  // A server on the same store honours them.
  const { app } = await buildTestApp(t, { BERTH_DATA_DIR: dir, BERTH_AUTH_CACHE_SECONDS: '0' })
  const probe = async (user: string, password: string): Promise<number> =>
    (await app.inject({ method: 'GET', url: '/v2/token?service=berth', headers: { authorization: basic(user, password) } })).statusCode
  t.equal(await probe('alice', 'alice-password-1'), 200)
  t.equal(await probe('bob', 'bob-password-1'), 200, 'only the first line of stdin is the password')

  const passwd = await berth(dir, ['user', 'passwd', 'alice'], 'alice-password-2\n')
  t.equal(passwd.code, 0, passwd.stderr)
  t.match(passwd.stdout, /tokens issued before are revoked/)
  t.equal(await probe('alice', 'alice-password-1'), 401, 'the old password no longer works')
  t.equal(await probe('alice', 'alice-password-2'), 200)
  t.equal((await berth(dir, ['user', 'passwd', 'nobody'], 'whatever-pw\n')).code, 1)

  t.equal((await berth(dir, ['user', 'admin', 'alice', 'on'])).code, 0)
  t.match(await app.berth.auth.users.get('alice'), { admin: true })
  t.equal((await berth(dir, ['user', 'admin', 'alice', 'off'])).code, 0)
  t.match(await app.berth.auth.users.get('alice'), { admin: false })

  const deleted = await berth(dir, ['user', 'delete', 'bob'])
  t.equal(deleted.code, 0)
  t.equal(await probe('bob', 'bob-password-1'), 401)
  t.equal((await berth(dir, ['user', 'delete', 'bob'])).code, 1, 'deleting twice fails')

  for (const run of [added, passwd, list]) {
    for (const secret of ['alice-password-1', 'alice-password-2']) t.notOk((run.stdout + run.stderr).includes(secret), 'passwords are never echoed')
  }
})

t.test('the last user deleted: a warning that Berth runs open again', async t => {
  const dir = dataDir(t)
  await berth(dir, ['user', 'add', 'solo'], 'solo-password\n')
  const res = await berth(dir, ['user', 'delete', 'solo'])
  t.match(res.stdout, /no users are left: Berth now runs open/)
  t.match((await berth(dir, ['user', 'list'])).stderr, /no users: Berth runs open/)
})

t.test('policies and visibility', async t => {
  const dir = dataDir(t)
  await berth(dir, ['user', 'add', 'alice'], 'alice-password-1\n')
  await berth(dir, ['user', 'add', 'bob'], 'bob-password-1\n')
  const grant = await berth(dir, ['policy', 'grant', 'alice', 'bob', 'read'])
  t.equal(grant.code, 0, grant.stderr)
  t.equal(grant.stdout, 'alice\tread: bob\twrite: -\n')
  t.equal((await berth(dir, ['policy', 'grant', 'alice', '*', 'write'])).stdout, 'alice\tread: bob\twrite: *\n')
  t.equal((await berth(dir, ['policy', 'grant', 'team', 'alice', 'write'])).code, 0)
  t.same(JSON.parse((await berth(dir, ['policy', 'list', '--json'])).stdout), [
    { namespace: 'alice', read: ['bob'], write: ['*'] },
    { namespace: 'team', read: [], write: ['alice'] }
  ])
  t.equal((await berth(dir, ['policy', 'list'])).stdout, 'alice\tread: bob\twrite: *\nteam\tread: -\twrite: alice\n')

  const { app } = await buildTestApp(t, { BERTH_DATA_DIR: dir, BERTH_AUTH_CACHE_SECONDS: '0' })
  const bob = { authorization: basic('bob', 'bob-password-1') }
  t.equal((await app.inject({ method: 'POST', url: '/v2/alice/x/blobs/uploads/', headers: bob })).statusCode, 202, 'write for "*"')
  t.equal((await berth(dir, ['policy', 'revoke', 'alice', '*', 'write'])).stdout, 'alice\tread: bob\twrite: -\n')
  expectError(t, await app.inject({ method: 'POST', url: '/v2/alice/x/blobs/uploads/', headers: bob }), 403, 'DENIED')
  t.equal((await berth(dir, ['policy', 'revoke', 'alice', 'bob'])).stdout, 'alice\tread: -\twrite: -\n', 'revoke without a level removes both')

  t.equal((await berth(dir, ['repo', 'visibility', 'alice/x'])).stdout, 'alice/x\tprivate\n')
  t.equal((await berth(dir, ['repo', 'visibility', 'alice/x', 'public'])).stdout, 'alice/x\tpublic\n')
  t.equal(await app.berth.auth.visibility('alice/x'), 'public')
  t.equal((await berth(dir, ['repo', 'visibility', 'alice/x', 'secret'])).code, 2)
  t.equal((await berth(dir, ['repo', 'visibility', 'Bad/Name'])).code, 2)
  t.equal((await berth(dir, ['policy', 'grant', 'alice', 'bob', 'admin'])).code, 2)
  t.equal((await berth(dir, ['policy', 'grant', 'a/b', 'bob', 'read'])).code, 1, 'a namespace is one name component')
})

t.test('usage and configuration errors', async t => {
  const dir = dataDir(t)
  const help = await berth(dir, ['help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /berth user add <name> \[--admin\]/)
  for (const args of [['frob'], ['user'], ['user', 'grow'], ['user', 'add'], ['policy', 'grant', 'alice'], ['user', 'add', 'x', '--root']]) {
    const res = await berth(dir, args, 'password-123\n')
    t.equal(res.code, 2, args.join(' '))
    t.match(res.stderr, /usage: berth/)
  }
  const config = await berth(dir, ['user', 'list'], '', { BERTH_STORAGE: 'floppy' })
  t.equal(config.code, 2)
  t.match(config.stderr, /configuration error: BERTH_STORAGE/)
})
