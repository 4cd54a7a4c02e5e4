#!/usr/bin/env node
// The `berth` command: serves the registry (the default), or manages users, namespace policies, repository
// visibility and the CNR package index in the store the server uses (the same BERTH_* environment picks it),
// through the same services the server is built from (createBerth). Passwords are read from standard input,
// never from the command line, where other users of the machine could see them.
import { realpathSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { Writable, type Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { AuthError } from './auth/errors.js'
import { EVERY_USER, VISIBILITIES, type Visibility } from './auth/policy.js'
import { createBerth, createLogger, type Berth } from './compose.js'
import { ConfigError, loadConfig } from './config.js'
import { GOVERNANCE_USAGE, immutableCommand, quotaCommand } from './governance/cli.js'
import { GC_USAGE, gcCommand, retentionCommand } from './gc/cli.js'
import { MIRROR_USAGE, mirrorCommand } from './mirror/cli.js'
import { isValidName } from './registry/reference.js'
import { openStore } from './startup.js'
import { WEBHOOKS_USAGE, webhooksCommand } from './webhooks/cli.js'

const USAGE = `usage: berth [serve]                                   run the registry (the default)
       berth user add <name> [--admin]                  create a user; the password is read from stdin
       berth user passwd <name>                         set a new password (stdin); revokes the user's tokens
       berth user delete <name>
       berth user admin <name> on|off                   grant or take away admin rights
       berth user list [--json]
       berth policy list [--json]                       namespaces shared with other users
       berth policy grant <namespace> <user|*> read|write
       berth policy revoke <namespace> <user|*> [read|write]
       berth repo visibility <name> [public|private]    show or set who may pull a repository
       berth cnr reindex                                rebuild the CNR package index from the store
${GOVERNANCE_USAGE}
${WEBHOOKS_USAGE}
${GC_USAGE}
${MIRROR_USAGE}

The store is the one the server uses: BERTH_DATA_DIR, or BERTH_STORAGE=s3 and BERTH_S3_*.
A user owns the namespace of their name (alice/...); "*" in a policy means every signed-in user.`

class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** Where the CLI reads and writes: the process's streams, or a test's. */
export interface CliIo {
  stdin: Readable & { isTTY?: boolean }
  stdout: Writable
  stderr: Writable
  env: NodeJS.ProcessEnv
}

let io: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }
const out = (line: string): void => { io.stdout.write(`${line}\n`) }

/** Reads one password from stdin: the first line when piped, or typed without echo at a terminal. */
async function readPassword (prompt: string, confirm: boolean): Promise<string> {
  if (io.stdin.isTTY !== true) {
    const chunks: Buffer[] = []
    for await (const chunk of io.stdin) chunks.push(Buffer.from(chunk as Buffer))
    const text = Buffer.concat(chunks).toString('utf8')
    const newline = text.search(/\r?\n/)
    const password = newline === -1 ? text : text.slice(0, newline)
    if (password === '') throw new UsageError('no password on stdin (pipe it in, e.g. `printf %s "$PW" | berth user add alice`)')
    return password
  }
  const ask = async (question: string): Promise<string> => {
    io.stderr.write(question)
    const silent = new Writable({ write: (_chunk, _encoding, done) => { done() } })
    const rl = createInterface({ input: io.stdin, output: silent, terminal: true })
    try {
      return await new Promise(resolve => rl.once('line', resolve))
    } finally {
      rl.close()
      io.stderr.write('\n')
    }
  }
  const password = await ask(prompt)
  if (confirm && await ask('Repeat the password: ') !== password) throw new UsageError('the passwords do not match')
  return password
}

function arg (args: string[], index: number, what: string): string {
  const value = args[index]
  if (value === undefined || value.startsWith('--')) throw new UsageError(`missing ${what}`)
  return value
}

function expectNoMore (args: string[], count: number): void {
  if (args.length > count) throw new UsageError(`unexpected argument "${args[count] ?? ''}"`)
}

async function userCommand (berth: Berth, args: string[]): Promise<number> {
  const { users } = berth.auth
  const [verb] = args
  switch (verb) {
    case 'add': {
      const flags = args.slice(1).filter(a => a.startsWith('--'))
      const unknown = flags.find(f => f !== '--admin')
      if (unknown !== undefined) throw new UsageError(`unknown option ${unknown}`)
      const positional = args.slice(1).filter(a => !a.startsWith('--'))
      const name = arg(positional, 0, 'user name')
      expectNoMore(positional, 1)
      const first = !await users.any()
      if (await users.get(name) !== undefined) throw new AuthError('conflict', `user "${name}" already exists`)
      const password = await readPassword(`Password for ${name}: `, true)
      const user = await users.add(name, password, { admin: flags.includes('--admin') })
      out(`created user ${user.username}${user.admin ? ' (admin)' : ''}`)
      if (first) out('this is the first user: authentication is now on (anonymous callers may only pull public repositories)')
      return 0
    }
    case 'passwd': {
      const name = arg(args, 1, 'user name')
      expectNoMore(args, 2)
      if (await users.get(name) === undefined) throw new AuthError('invalid', `no user "${name}"`)
      const password = await readPassword(`New password for ${name}: `, true)
      if (!await users.setPassword(name, password)) throw new AuthError('invalid', `no user "${name}"`)
      out(`changed the password of ${name}; tokens issued before are revoked`)
      return 0
    }
    case 'delete': {
      const name = arg(args, 1, 'user name')
      expectNoMore(args, 2)
      if (!await users.delete(name)) throw new AuthError('invalid', `no user "${name}"`)
      out(`deleted user ${name}`)
      if (!await users.any()) out('WARNING: no users are left: Berth now runs open (anyone may pull, push and delete)')
      return 0
    }
    case 'admin': {
      const name = arg(args, 1, 'user name')
      const setting = arg(args, 2, 'on or off')
      expectNoMore(args, 3)
      if (setting !== 'on' && setting !== 'off') throw new UsageError('admin takes "on" or "off"')
      if (!await users.setAdmin(name, setting === 'on')) throw new AuthError('invalid', `no user "${name}"`)
      out(`${name} is ${setting === 'on' ? 'now' : 'no longer'} an admin`)
      return 0
    }
    case 'list': {
      const json = args.includes('--json')
      expectNoMore(args.filter(a => a !== '--json'), 1)
      const list = await users.list()
      if (json) {
        out(JSON.stringify(list.map(({ username, admin, createdAt, updatedAt }) => ({ username, admin, createdAt, updatedAt }))))
      } else {
        for (const u of list) out(`${u.username}\t${u.admin ? 'admin' : 'user'}\t${u.createdAt}`)
        if (list.length === 0) io.stderr.write('no users: Berth runs open\n')
      }
      return 0
    }
    default:
      throw new UsageError(verb === undefined ? 'missing user command' : `unknown user command "${verb}"`)
  }
}

async function policyCommand (berth: Berth, args: string[]): Promise<number> {
  const { policies } = berth.auth
  const [verb] = args
  const level = (value: string | undefined): 'read' | 'write' => {
    if (value !== 'read' && value !== 'write') throw new UsageError(`expected read or write (got "${value ?? ''}")`)
    return value
  }
  switch (verb) {
    case 'list': {
      const json = args.includes('--json')
      expectNoMore(args.filter(a => a !== '--json'), 1)
      const list = await policies.list()
      if (json) out(JSON.stringify(list))
      else for (const p of list) out(`${p.namespace}\tread: ${p.read.join(',') || '-'}\twrite: ${p.write.join(',') || '-'}`)
      return 0
    }
    case 'grant': {
      const namespace = arg(args, 1, 'namespace')
      const member = arg(args, 2, `user name or ${EVERY_USER}`)
      const what = level(args[3])
      expectNoMore(args, 4)
      const policy = await policies.grant(namespace, member, what)
      out(`${namespace}\tread: ${policy.read.join(',') || '-'}\twrite: ${policy.write.join(',') || '-'}`)
      return 0
    }
    case 'revoke': {
      const namespace = arg(args, 1, 'namespace')
      const member = arg(args, 2, `user name or ${EVERY_USER}`)
      const what = args[3] === undefined ? undefined : level(args[3])
      expectNoMore(args, what === undefined ? 3 : 4)
      const policy = await policies.revoke(namespace, member, what)
      out(`${namespace}\tread: ${policy.read.join(',') || '-'}\twrite: ${policy.write.join(',') || '-'}`)
      return 0
    }
    default:
      throw new UsageError(verb === undefined ? 'missing policy command' : `unknown policy command "${verb}"`)
  }
}

async function repoCommand (berth: Berth, args: string[]): Promise<number> {
  const { policies } = berth.auth
  if (args[0] !== 'visibility') throw new UsageError(args[0] === undefined ? 'missing repo command' : `unknown repo command "${args[0]}"`)
  const name = arg(args, 1, 'repository name')
  if (!isValidName(name)) throw new UsageError(`invalid repository name "${name}"`)
  const setting = args[2]
  expectNoMore(args, 3)
  if (setting !== undefined) {
    if (!VISIBILITIES.includes(setting as Visibility)) throw new UsageError('visibility is "public" or "private"')
    await policies.setVisibility(name, setting as Visibility)
  }
  out(`${name}\t${await policies.visibility(name)}`)
  return 0
}

/** `cnr reindex`: re-derives every package's index record from the store (after a crash or a damaged index). */
async function cnrCommand (berth: Berth, args: string[]): Promise<number> {
  if (args[0] !== 'reindex') throw new UsageError(args[0] === undefined ? 'missing cnr command' : `unknown cnr command "${args[0]}"`)
  expectNoMore(args, 1)
  const report = await berth.cnrIndex.rebuild((name, err) => {
    io.stderr.write(`berth: could not reindex ${name}: ${(err as Error).message ?? String(err)}\n`)
  })
  out(`reindexed ${report.packages} packages (${report.repositories} repositories read)`)
  if (report.failed.length > 0) {
    io.stderr.write(`berth: ${report.failed.length} packages could not be reindexed\n`)
    return 1
  }
  return 0
}

async function dispatch (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === 'serve') {
    await import('./server.js')
    return -1 // the server keeps the process alive and exits on its own
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    out(USAGE)
    return 0
  }
  const governanceIo = { out, usage: (message: string) => new UsageError(message) }
  const webhooks = async (berth: Berth, args: string[]): Promise<number> => await webhooksCommand(berth.webhooks, args, {
    out, err: line => { io.stderr.write(`${line}\n`) }, usage: message => new UsageError(message)
  })
  const gcIo = { out, usage: (message: string) => new UsageError(message) }
  const run = {
    user: userCommand,
    policy: policyCommand,
    repo: repoCommand,
    cnr: cnrCommand,
    immutable: async (b: Berth, a: string[]) => await immutableCommand(b, a, governanceIo),
    quota: async (b: Berth, a: string[]) => await quotaCommand(b, a, governanceIo),
    webhooks,
    gc: async (berth: Berth, args: string[]) => await gcCommand(berth, args, gcIo),
    retention: async (berth: Berth, args: string[]) => await retentionCommand(berth, args, gcIo),
    mirror: async (berth: Berth, args: string[]) => await mirrorCommand(berth, args, { out, err: line => { io.stderr.write(`${line}\n`) }, usage: message => new UsageError(message) })
  }[command]
  if (run === undefined) throw new UsageError(`unknown command "${command}"`)
  const loaded = loadConfig(io.env)
  // A command reads the store afresh: what it just wrote, or what a server wrote, is never cached away.
  const config = { ...loaded, auth: { ...loaded.auth, cacheTtlMs: 0 } }
  const berth = await createBerth(config, { driver: await openStore(config.storage), logger: createLogger(config, io.stderr) })
  try {
    return await run(berth, rest)
  } finally {
    await berth.close()
  }
}

/**
 * Runs one `berth` command line and returns its exit status: 0 done, 1 failed (no such user, already exists,
 * weak password…), 2 usage or configuration error; -1 when it started the server, which then runs on.
 */
export async function runCli (argv: string[], streams: CliIo = io): Promise<number> {
  io = streams
  try {
    return await dispatch(argv)
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`berth: ${err.message}\n\n${USAGE}\n`)
      return 2
    }
    if (err instanceof ConfigError) {
      io.stderr.write(`berth: configuration error: ${err.message}\n`)
      return 2
    }
    if (err instanceof AuthError) {
      io.stderr.write(`berth: ${err.message}\n`)
      return 1
    }
    io.stderr.write(`berth: ${(err as Error).stack ?? String(err)}\n`)
    return 1
  }
}

// Run when this file is the program (node dist/cli.js, the `berth` bin link, tsx src/cli.ts), not when imported.
function isMain (): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}
if (isMain()) {
  // Exit explicitly: a store check that timed out may still hold a pending filesystem call.
  runCli(process.argv.slice(2)).then(code => { if (code >= 0) process.exit(code) }, () => { process.exit(1) })
}
