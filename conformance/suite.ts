// Berth's own black-box OCI distribution-spec conformance suite.
//
// Written from the conformance checklist (shared spec §2 Pull/Push/Content Discovery/Content Management of the
// upstream Ginkgo suite, §2.5 its later stricter checks, §2.6 the redesigned suite's extra assertions) so that the
// registry is tested even where the upstream suites cannot be built. Only Node's global fetch and node:crypto.
//
//   npx tsx conformance/suite.ts --url http://127.0.0.1:5000 [--repo conformance/repo1] [--repo2 conformance/repo2]
//                                [--junit results/fs/suite/junit.xml] [--only REGEX] [--timeout SECONDS] [--list]
//
// Prints one `ok`/`not ok` line per check (failures with method, URL, status, headers and a body excerpt), then
// `conformance: N passed, N failed`; exits 1 if any check failed, 2 on bad usage.
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { baseGroup, catalogGroup, errorGroup } from './suite/api.js'
import { blobPushGroup, blobRangeGroup } from './suite/blobs.js'
import { discoveryGroup } from './suite/discovery.js'
import { Suite, printResult } from './suite/harness.js'
import { Client } from './suite/http.js'
import { writeJunit } from './suite/junit.js'
import { managementGroup } from './suite/management.js'
import { manifestGroup } from './suite/manifests.js'
import type { Ctx } from './suite/oci.js'
import { pullGroup } from './suite/pull.js'
import { pushGroup } from './suite/push.js'

const USAGE = 'usage: tsx conformance/suite.ts --url http://HOST:PORT [--repo NAME] [--repo2 NAME] [--junit PATH] ' +
  '[--only GROUP-REGEX] [--timeout SECONDS-PER-REQUEST] [--list]'

interface Options { url: string, repo: string, repo2: string, junit?: string, only?: RegExp, timeoutMs: number, list: boolean }

function parse (): Options {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      repo: { type: 'string', default: 'conformance/repo1' },
      repo2: { type: 'string', default: 'conformance/repo2' },
      junit: { type: 'string' },
      only: { type: 'string' },
      timeout: { type: 'string', default: '30' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help === true) {
    console.log(USAGE)
    process.exit(0)
  }
  if (values.url === undefined && values.list !== true) throw new Error('--url is required')
  const timeout = Number(values.timeout)
  if (!(timeout > 0)) throw new Error('--timeout must be a positive number of seconds')
  return {
    url: values.url ?? 'http://127.0.0.1:5000',
    repo: values.repo ?? 'conformance/repo1',
    repo2: values.repo2 ?? 'conformance/repo2',
    ...(values.junit !== undefined ? { junit: values.junit } : {}),
    ...(values.only !== undefined ? { only: new RegExp(values.only, 'i') } : {}),
    timeoutMs: timeout * 1000,
    list: values.list === true
  }
}

/** Registers every workflow group, in the order they run. */
function buildSuite (ctx: Ctx, only?: RegExp): Suite {
  const suite = new Suite(only)
  baseGroup(suite, ctx)
  pullGroup(suite, ctx) // §2.1
  pushGroup(suite, ctx) // §2.2
  discoveryGroup(suite, ctx) // §2.3 + §2.5
  managementGroup(suite, ctx) // §2.4
  blobPushGroup(suite, ctx, 'sha256') // §2.6 blobs
  blobPushGroup(suite, ctx, 'sha512')
  blobRangeGroup(suite, ctx)
  manifestGroup(suite, ctx) // §2.6 manifests and data sets
  catalogGroup(suite, ctx)
  errorGroup(suite, ctx)
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
  const client = new Client(opts.url, opts.timeoutMs)
  const ctx: Ctx = { client, repo: opts.repo, repo2: opts.repo2, run: randomBytes(4).toString('hex') }
  const suite = buildSuite(ctx, opts.only)
  if (opts.list) {
    for (const [i, c] of suite.list().entries()) console.log(`${i + 1} - ${c.group}: ${c.name}`)
    return 0
  }

  console.log(`# Berth conformance suite: ${suite.size} checks against ${opts.url} (repos ${opts.repo}, ${opts.repo2}; run ${ctx.run})`)
  // a check makes a handful of requests; give it several request timeouts before giving up on it
  const results = await suite.run({ beforeEach: () => client.resetLog(), onResult: printResult }, opts.timeoutMs * 4)
  const passed = results.filter((r) => r.status === 'passed').length
  const failed = results.filter((r) => r.status === 'failed').length
  const skipped = results.filter((r) => r.status === 'skipped').length
  if (opts.junit !== undefined) writeJunit(opts.junit, 'berth-conformance', results)
  if (skipped > 0) console.log(`# ${skipped} skipped`)
  console.log(`conformance: ${passed} passed, ${failed} failed`)
  return failed > 0 ? 1 : 0
}

process.exitCode = await main()
