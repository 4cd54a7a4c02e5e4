// What every workflow gets: the registry under test, one Client per real binary (each with a private HOME so no
// user configuration leaks in), a work directory, and assertions whose failures carry the client run they are about.
import { mkdirSync, writeFileSync } from 'node:fs'
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
  /** the private dockerd acceptance/run.sh started (unix://...), if any */
  dockerHost?: string
}

/**
 * podman's storage (vfs, so no overlay or fuse is needed), engine settings (no systemd, no journald) and registry
 * list, all private to this run: nothing touches /var/lib/containers or the user's configuration.
 */
function containersConfig (home: string, work: string): NodeJS.ProcessEnv {
  const dir = path.join(home, 'containers')
  const podman = path.join(work, 'podman')
  for (const d of [dir, path.join(podman, 'tmp')]) mkdirSync(d, { recursive: true })
  const files = {
    CONTAINERS_STORAGE_CONF: ['storage.conf',
      `[storage]\ndriver = "vfs"\ngraphroot = "${podman}/root"\nrunroot = "${podman}/run"\n`],
    CONTAINERS_CONF: ['containers.conf',
      `[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nevents_logfile_path = "${podman}/events.log"\ntmp_dir = "${podman}/tmp"\n`],
    CONTAINERS_REGISTRIES_CONF: ['registries.conf', 'unqualified-search-registries = []\n']
  } as const
  // podman refuses a REGISTRY_AUTH_FILE that does not exist
  writeFileSync(path.join(home, 'containers-auth.json'), '{"auths":{}}\n')
  const env: NodeJS.ProcessEnv = {}
  for (const [name, [file, text]] of Object.entries(files)) {
    writeFileSync(path.join(dir, file), text)
    env[name] = path.join(dir, file)
  }
  return env
}

export function makeCtx (url: string, run: string, work: string, largeBytes: number, dockerHost?: string): Ctx {
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
    REGISTRY_AUTH_FILE: path.join(home, 'containers-auth.json'),
    ...containersConfig(home, work),
    ...(dockerHost !== undefined ? { DOCKER_HOST: dockerHost } : {})
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
    largeBytes,
    ...(dockerHost !== undefined ? { dockerHost } : {})
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
