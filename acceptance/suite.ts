// Berth's real-client acceptance suite: oras, crane, regctl, skopeo, helm, docker and podman driven through the workflows users run
// every day, against a running registry. Each workflow is a group of steps in the conformance suite's harness
// (conformance/suite/harness.ts); a step passes only if what came back is what was pushed.
//
//   npx tsx acceptance/suite.ts --url http://127.0.0.1:5000 [--only GROUP-REGEX] [--large-mib 200] [--junit PATH]
//                               [--docker-host unix:///.../docker.sock] [--keep] [--list]
//
// Prints one `ok`/`not ok` line per step (a failure names the client, the command, the client's error and the
// registry responses it logged), then `acceptance: N passed, N failed`; exits 1 if any step failed, 2 on bad usage.
// Loopback registries only: the clients are told to use plain HTTP. acceptance/run.sh starts Berth and a private
// dockerd (--docker-host) and runs this.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { CheckError, Suite, printResult } from '../conformance/suite/harness.js'
import { writeJunit } from '../conformance/suite/junit.js'
import { CLIENTS } from './lib/clients.js'
import { makeCtx, type Ctx } from './lib/context.js'
import { craneWorkflow } from './workflows/crane.js'
import { dockerWorkflow } from './workflows/docker.js'
import { helmWorkflow } from './workflows/helm.js'
import { largeWorkflow } from './workflows/large.js'
import { multiArchWorkflow } from './workflows/multiarch.js'
import { orasWorkflow } from './workflows/oras.js'
import { podmanWorkflow } from './workflows/podman.js'
import { regctlWorkflow } from './workflows/regctl.js'
import { skopeoWorkflow } from './workflows/skopeo.js'

const USAGE = 'usage: tsx acceptance/suite.ts --url http://127.0.0.1:PORT [--only GROUP-REGEX] [--large-mib N] ' +
  '[--junit PATH] [--docker-host URL] [--keep] [--list]'

interface Options { url: string, only?: RegExp, largeMib: number, junit?: string, dockerHost?: string, keep: boolean, list: boolean }

function parse (): Options {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      only: { type: 'string' },
      'large-mib': { type: 'string', default: '200' },
      junit: { type: 'string' },
      'docker-host': { type: 'string' },
      keep: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help === true) {
    console.log(USAGE)
    process.exit(0)
  }
  if (values.url === undefined && values.list !== true) throw new Error('--url is required')
  const url = new URL(values.url ?? 'http://127.0.0.1:5000')
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new Error(`--url must be a loopback address (the clients are told to use plain HTTP), got ${url.hostname}`)
  }
  const largeMib = Number(values['large-mib'])
  if (!Number.isInteger(largeMib) || largeMib < 1 || largeMib > 4096) throw new Error('--large-mib must be an integer from 1 to 4096')
  return {
    url: url.origin,
    ...(values.only !== undefined ? { only: new RegExp(values.only, 'i') } : {}),
    largeMib,
    ...(values.junit !== undefined ? { junit: values.junit } : {}),
    ...(values['docker-host'] !== undefined ? { dockerHost: values['docker-host'] } : {}),
    keep: values.keep === true,
    list: values.list === true
  }
}

/** One step per client: installed, and at the pinned version where scripts/tools.json pins one. */
function clientsGroup (suite: Suite, ctx: Ctx): void {
  suite.group('clients', (g) => {
    for (const name of CLIENTS) {
      const client = ctx.clients[name]
      const { pinned, source, bin } = client.resolved
      g.test(`${name} ${pinned ?? ''} is installed`.replace('  ', ' '), async () => {
        if (bin === '') throw new CheckError(`${name} is not installed: ${source}`)
        let version: string
        try {
          version = client.version()
        } catch (err) {
          throw new CheckError(`${name} at ${bin} (${source}) does not run: ${err instanceof Error ? err.message : String(err)}`)
        }
        // helm built without its ldflags reports only major.minor (v3.21 for v3.21.4)
        const matches = pinned === undefined || version.replace(/^v/, '') === pinned.replace(/^v/, '') || pinned.startsWith(`${version}.`)
        if (!matches) throw new CheckError(`${name} at ${bin} reports version ${version}, scripts/tools.json pins ${pinned ?? ''}`)
        console.log(`# ${name} ${version} (${source}: ${bin})`)
      })
    }
  })
}

/** Registers every workflow, in the order they run. */
function buildSuite (ctx: Ctx, only?: RegExp): Suite {
  const suite = new Suite(only)
  clientsGroup(suite, ctx)
  orasWorkflow(suite, ctx)
  craneWorkflow(suite, ctx)
  regctlWorkflow(suite, ctx)
  skopeoWorkflow(suite, ctx)
  helmWorkflow(suite, ctx)
  multiArchWorkflow(suite, ctx)
  const docker = dockerWorkflow(suite, ctx)
  podmanWorkflow(suite, ctx, docker)
  largeWorkflow(suite, ctx)
  return suite
}

async function main (): Promise<number> {
  let opts: Options
  try {
    opts = parse()
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`)
    return 2
  }
  const run = randomBytes(4).toString('hex')
  const work = mkdtempSync(path.join(tmpdir(), 'berth-acceptance-'))
  try {
    const ctx = makeCtx(opts.url, run, work, opts.largeMib * 1024 * 1024, opts.dockerHost)
    const suite = buildSuite(ctx, opts.only)
    if (opts.list) {
      for (const [i, c] of suite.list().entries()) console.log(`${i + 1} - ${c.group}: ${c.name}`)
      return 0
    }
    console.log(`# Berth acceptance suite: ${suite.size} steps against ${opts.url} (repositories under ${ctx.ns}/, work dir ${work})`)
    // every client command has its own timeout (120 s, 10 min for large layers); this is the backstop per step
    const results = await suite.run({ beforeEach: () => ctx.http.resetLog(), onResult: (r, i) => { printResult(r, i, { duration: true }) } }, 5 * 60_000)
    const passed = results.filter((r) => r.status === 'passed').length
    const failed = results.filter((r) => r.status === 'failed').length
    const skipped = results.filter((r) => r.status === 'skipped').length
    if (opts.junit !== undefined) writeJunit(opts.junit, 'berth-acceptance', results)
    if (skipped > 0) console.log(`# ${skipped} skipped`)
    console.log(`acceptance: ${passed} passed, ${failed} failed`)
    return failed > 0 ? 1 : 0
  } finally {
    if (opts.keep) console.log(`# work dir kept: ${work}`)
    else rmSync(work, { recursive: true, force: true })
  }
}

process.exitCode = await main()
