// What every workflow gets: the registry under test, one Client per real binary (each with a private HOME so no
// user configuration leaks in), a work directory, and assertions whose failures carry the client run they are about.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { CheckError } from '../../conformance/suite/harness.js'
import { Client as HttpClient } from '../../conformance/suite/http.js'
import { Client, CLIENTS, resolveClient, type ClientName, type ClientRun } from './clients.js'
import type { TraceEntry } from './trace.js'

export interface Ctx {
  /** http://127.0.0.1:PORT */
  url: string
  /** 127.0.0.1:PORT, as clients name the registry */
  registry: string
  /** run id; every repository of this run lives under `ns` */
  run: string
  ns: string
  /** scratch directory of this run */
  work: string
  /** plain HTTP, for cross-checks of what the clients did (conformance/suite/http.ts) */
  http: HttpClient
  clients: Record<ClientName, Client>
  /** size of the large-layer workflow's layer */
  largeBytes: number
}

export function makeCtx (url: string, run: string, work: string, largeBytes: number): Ctx {
  const home = path.join(work, 'home')
  const tmp = path.join(work, 'tmp')
  for (const d of [home, tmp, path.join(home, '.docker')]) mkdirSync(d, { recursive: true })
  // A minimal, hermetic environment: no proxies, no user registry credentials or client configuration.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    TMPDIR: tmp,
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    TERM: 'dumb',
    NO_PROXY: '*',
    no_proxy: '*',
    DOCKER_CONFIG: path.join(home, '.docker'),
    REGCTL_CONFIG: path.join(home, '.regctl', 'config.json'),
    HELM_CACHE_HOME: path.join(home, 'helm', 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'helm', 'config'),
    HELM_DATA_HOME: path.join(home, 'helm', 'data'),
    REGISTRY_AUTH_FILE: path.join(home, 'containers-auth.json')
  }
  const clients = Object.fromEntries(CLIENTS.map(name => [name, new Client(resolveClient(name), env, work)])) as Record<ClientName, Client>
  return {
    url,
    registry: new URL(url).host,
    run,
    ns: `acc-${run}`,
    work,
    http: new HttpClient(url, 60_000),
    clients,
    largeBytes
  }
}

/** A fresh directory under the run's work directory. */
export function workDir (ctx: Ctx, ...parts: string[]): string {
  const dir = path.join(ctx.work, ...parts)
  mkdirSync(dir, { recursive: true })
  return dir
}

// --- assertions -----------------------------------------------------------------------------------------------------

function fail (message: string, run?: ClientRun): never {
  throw new CheckError(message, undefined, run?.describe())
}

export function check (cond: boolean, message: string, run?: ClientRun): asserts cond {
  if (!cond) fail(message, run)
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v)
  return s === undefined ? String(v) : s.length > 400 ? `${s.slice(0, 400)}…` : s
}

/** Equality of primitives, or of arrays/objects by their JSON form. */
export function checkEqual<T> (actual: T, expected: T, what: string, run?: ClientRun): void {
  const same = typeof expected === 'object' && expected !== null ? JSON.stringify(actual) === JSON.stringify(expected) : actual === expected
  if (!same) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`, run)
}

export function checkBytes (actual: Buffer, expected: Buffer, what: string, run?: ClientRun): void {
  if (!actual.equals(expected)) {
    let at = 0
    while (at < Math.min(actual.length, expected.length) && actual[at] === expected[at]) at++
    fail(`${what}: bytes differ from what was pushed (got ${actual.length} bytes, expected ${expected.length}; first difference at byte ${at})`, run)
  }
}

/** The run's logged exchange that matches, or a failure saying which request was expected. */
export function checkExchange (run: ClientRun, matches: (e: TraceEntry) => boolean, what: string): TraceEntry {
  const found = run.exchanges().find(matches)
  if (found === undefined) fail(`${run.client} did not ${what}`, run)
  return found
}

/** Sorted copy. */
export const sorted = (list: readonly string[]): string[] => [...list].sort()
