// A bad-input run against a real Berth process: fast-check draws malformed requests for every dialect (/v2,
// CNR under /cnr/api/v1 and /api/v1, /packages) and raw malformed HTTP, plus truncated and bomb archives, and
// every response is checked: no 5xx, no HTML, the dialect's error format, the process still alive, and the
// store (its keys and bytes, upload sessions aside) and every listing exactly as the valid requests left them.
// Each failing request is reported on its own, in full, and the run goes on (a crashed server is restarted
// and reseeded), so one run shows every distinct failure.
//
// Bounded and reproducible: at most FUZZ_RUNS requests per family (default 25), the families sharing
// FUZZ_BUDGET_SECONDS (default 50), then each archive case once; the seed (fixed unless FUZZ_SEED=random) is printed, and FUZZ_SEED=<seed>
// replays a run, FUZZ_FAMILIES=<family>,... runs only those (archives is one).
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { gzipBomb, validChart } from './archives.js'
import { SEED, archiveCases, describe, dialectOf, families, make, sha256, validShape, type BadRequest } from './generators.js'
import { NoReply, send, sendRaw, startFuzzServer, type FuzzServer, type Reply } from './server.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 25)
const BUDGET_MS = Number(process.env.FUZZ_BUDGET_SECONDS ?? 50) * 1000
/** FUZZ_FAMILIES=cnr-push,archives runs only those families. */
const ONLY = process.env.FUZZ_FAMILIES?.split(',').map(f => f.trim()).filter(f => f !== '')
// A fixed seed by default: the suite gates merges, so a run must be reproducible. FUZZ_SEED=random explores.
const DEFAULT_SEED = 20261202
const FUZZ_SEED = process.env.FUZZ_SEED === 'random'
  ? (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0
  : process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : DEFAULT_SEED

// ---- the server, its seed and what it should look like ---------------------------------------------------

interface Snapshot {
  /** Store key -> sha256 of its bytes (upload sessions left out: a valid POST creates them). */
  store: Map<string, string>
  /** Listing path -> status and body. */
  views: Map<string, string>
}

async function ok (server: FuzzServer, what: string, method: string, p: string, options: Parameters<typeof send>[3] = {}): Promise<Reply> {
  const reply = await send(server, method, p, options)
  if (reply.status >= 300) throw new Error(`seeding failed: ${what}: ${reply.status} ${reply.body.toString()}`)
  return reply
}

/** A little valid content through each dialect, then reads that fill lazily computed records. */
async function seed (server: FuzzServer): Promise<void> {
  const octet = { 'content-type': 'application/octet-stream' }
  await ok(server, 'config blob', 'POST', `/v2/${SEED.ociRepo}/blobs/uploads/?digest=${SEED.configDigest}`, { body: '{}', headers: octet })
  await ok(server, 'layer blob', 'POST', `/v2/${SEED.ociRepo}/blobs/uploads/?digest=${SEED.layerDigest}`, { body: validChart, headers: octet })
  await ok(server, 'manifest', 'PUT', `/v2/${SEED.ociRepo}/manifests/${SEED.ociTag}`,
    { body: JSON.stringify(validShape()), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } })
  await ok(server, 'CNR push', 'POST', `/api/v1/packages/${SEED.cnrPackage}`,
    { body: JSON.stringify({ blob: validChart.toString('base64'), release: SEED.cnrRelease, media_type: 'helm' }), headers: { 'content-type': 'application/json' } })
  await ok(server, 'CNR channel', 'POST', `/api/v1/packages/${SEED.cnrPackage}/channels/${SEED.cnrChannel}/${SEED.cnrRelease}`, { body: '{}', headers: { 'content-type': 'application/json' } })
  await ok(server, '/packages file', 'PUT', `/packages/${SEED.packageFile}`, { body: validChart })
  for (const p of [`/api/v1/packages/${SEED.cnrPackage}/${SEED.cnrRelease}/helm/pull`, `/api/v1/packages/${SEED.ociRepo}/${SEED.ociTag}/helm/pull`,
    `/api/v1/packages/${SEED.cnrPackage}/default/helm`, `/packages/${SEED.packageFile}`]) {
    await send(server, 'GET', p)
  }
}

async function storeKeys (dataDir: string): Promise<Map<string, string>> {
  const keys = new Map<string, string>()
  const root = path.join(dataDir, 'objects')
  for (const entry of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('~')) continue // the filesystem driver names objects `<key>~`
    const file = path.join(entry.parentPath, entry.name)
    const key = path.relative(root, file).slice(0, -1).split(path.sep).join('/')
    if (key.startsWith('uploads/')) continue
    const bytes = await fs.readFile(file).catch(() => undefined) // a concurrent delete
    if (bytes !== undefined) keys.set(key, createHash('sha256').update(bytes).digest('hex'))
  }
  return keys
}

/** The store and every listing; `problems` gets each listing that answers 5xx. */
async function snapshot (server: FuzzServer, problems: string[]): Promise<Snapshot> {
  const views = new Map<string, string>()
  const view = async (p: string): Promise<unknown> => {
    const reply = await send(server, 'GET', p)
    const text = reply.body.toString('utf8')
    views.set(p, `${reply.status} ${text}`)
    if (reply.status >= 500) problems.push(`afterwards, GET ${p} answers ${reply.status}: ${text.slice(0, 300)}`)
    try { return JSON.parse(text) } catch { return undefined }
  }
  const catalog = await view('/v2/_catalog?n=10000') as { repositories?: string[] } | undefined
  for (const repo of catalog?.repositories ?? []) await view(`/v2/${repo}/tags/list?n=10000`)
  for (const root of ['/api/v1', '/cnr/api/v1']) {
    const list = await view(`${root}/packages`)
    if (root === '/api/v1' && Array.isArray(list)) {
      for (const pkg of list as Array<{ name?: string, manifests?: string[] }>) {
        if (pkg.name === undefined) continue
        await view(`/api/v1/packages/${pkg.name}`)
        await view(`/api/v1/packages/${pkg.name}/channels`)
        await view(`/api/v1/packages/${pkg.name}/default/${pkg.manifests?.[0] ?? 'helm'}`)
      }
    }
  }
  await view('/api/v1/packages/search?q=fuzz')
  await view('/packages?recency=1000')
  return { store: await storeKeys(server.dataDir), views }
}

function differences (before: Snapshot, after: Snapshot): string[] {
  const out: string[] = []
  const added = [...after.store.keys()].filter(k => !before.store.has(k))
  const removed = [...before.store.keys()].filter(k => !after.store.has(k))
  const changed = [...after.store.keys()].filter(k => before.store.has(k) && before.store.get(k) !== after.store.get(k))
  if (added.length > 0) out.push(`store keys added: ${added.slice(0, 12).join(', ')}${added.length > 12 ? ` and ${added.length - 12} more` : ''}`)
  if (removed.length > 0) out.push(`store keys removed: ${removed.slice(0, 12).join(', ')}`)
  if (changed.length > 0) out.push(`store objects rewritten: ${changed.slice(0, 12).join(', ')}`)
  for (const [p, v] of after.views) {
    if (before.views.get(p) !== v) out.push(`GET ${p} changed: was ${(before.views.get(p) ?? '(not listed)').slice(0, 200)}, now ${v.slice(0, 200)}`)
  }
  for (const p of before.views.keys()) if (!after.views.has(p)) out.push(`GET ${p} is no longer listed`)
  return out
}

class Target {
  server!: FuzzServer
  baseline!: Snapshot
  restarts = 0
  /** A server started ahead of need, so that replacing a dead one costs a seed, not a start-up. */
  private spare: Promise<FuzzServer> | undefined

  async start (): Promise<void> {
    this.server = await (this.spare ?? startFuzzServer())
    this.spare = startFuzzServer()
    this.spare.catch(() => {}) // reported when it is used
    await seed(this.server)
    const problems: string[] = []
    this.baseline = await snapshot(this.server, problems)
    if (problems.length > 0) throw new Error(`the seeded server is not healthy: ${problems.join('; ')}`)
  }

  /** Set when a request left a listing answering 5xx: later requests would all report it again. */
  poisoned = false

  /** A server that died or whose store a request broke (already reported) is replaced by a fresh, reseeded one. */
  async ensureAlive (): Promise<void> {
    if (this.server.death() === undefined && !this.poisoned) return
    await this.server.stop()
    this.restarts++
    this.poisoned = false
    await this.start()
  }

  async stop (): Promise<void> {
    await this.server?.stop()
    await (await this.spare?.catch(() => undefined))?.stop()
  }
}

// ---- one request ---------------------------------------------------------------------------------------

const shown = (reply: Reply): string =>
  `${reply.status} (${String(reply.headers['content-type'] ?? 'no content-type')}) ${JSON.stringify(reply.body.toString('utf8').slice(0, 300))}`

/** What is wrong with one response, in the dialect of its path. */
function responseProblems (req: BadRequest, reply: Reply | undefined): string[] {
  if (reply === undefined) return req.mayGoUnanswered === true ? [] : ['the server closed the connection without answering']
  const problems: string[] = []
  const type = String(reply.headers['content-type'] ?? '')
  const text = reply.body.toString('utf8')
  if (reply.status === 0) return [`unparseable response: ${JSON.stringify(text.slice(0, 300))}`]
  if (reply.status >= 500) problems.push(`answered ${shown(reply)}: a client's bad input must never get a 5xx`)
  if (/html/i.test(type) || /^\s*</.test(text)) problems.push(`answered HTML: ${shown(reply)}`)
  if (reply.status < 400 || req.method === 'HEAD') return problems
  const dialect = dialectOf(req.path)
  if (dialect === 'packages') {
    if (!/^text\/plain/.test(type)) problems.push(`a /packages error must be text/plain; got ${shown(reply)}`)
    return problems
  }
  let body: unknown
  try { body = JSON.parse(text) } catch { body = undefined }
  if (!/^application\/json/.test(type) || body === undefined) {
    problems.push(`a ${dialect === 'oci' ? 'OCI' : 'CNR'} error must be a JSON body; got ${shown(reply)}`)
    return problems
  }
  if (dialect === 'oci') {
    const errors = (body as { errors?: unknown }).errors
    const valid = Array.isArray(errors) && errors.length > 0 &&
      errors.every(e => typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' && typeof (e as { message?: unknown }).message === 'string')
    if (!valid) problems.push(`not the OCI error envelope {"errors":[{code,message}]}: ${shown(reply)}`)
  } else {
    const b = body as Record<string, unknown>
    const valid = typeof b === 'object' && b !== null && Object.keys(b).sort().join() === 'code,details,message' &&
      typeof b.code === 'string' && typeof b.message === 'string' && typeof b.details === 'object'
    if (!valid) problems.push(`not the CNR error {code, message, details}: ${shown(reply)}`)
  }
  return problems
}

/** Starts an upload session (a valid request) and puts its URL into the request. */
async function withUpload (server: FuzzServer, req: BadRequest): Promise<BadRequest> {
  if (req.needsUpload !== true) return req
  const started = await send(server, 'POST', `/v2/${SEED.ociRepo}/blobs/uploads/`)
  const location = String(started.headers.location ?? '')
  if (started.status !== 202 || location === '') throw new Error(`could not start an upload: ${shown(started)}`)
  const at = new URL(location, server.url)
  const uploadPath = at.pathname + at.search
  const p = req.path.replace('{upload}', uploadPath).replace('{q}', at.search === '' ? '?' : '&')
  return { ...req, path: p }
}

/** Sends one bad request and returns every problem it shows (empty: the server behaved). */
async function exercise (target: Target, req: BadRequest): Promise<string[]> {
  await target.ensureAlive()
  const { server } = target
  const problems: string[] = []
  let reply: Reply | undefined
  try {
    const ready = await withUpload(server, req)
    reply = ready.raw !== undefined
      ? await sendRaw(server, ready.raw.bytes, ready.raw.halfClose)
      : await send(server, ready.method, ready.path, { headers: ready.headers, body: ready.body })
    problems.push(...responseProblems(ready, reply))
  } catch (err) {
    if (!(err instanceof NoReply) || req.mayGoUnanswered !== true || server.death() !== undefined) problems.push(`no usable response: ${(err as Error).message}`)
  }
  await new Promise(resolve => setTimeout(resolve, 20)) // an exit right after the reply must be seen
  const death = server.death()
  if (death !== undefined) return [...problems, `the server DIED: ${death}`]
  try {
    const alive = await send(server, 'GET', '/v2/')
    if (alive.status !== 200) problems.push(`afterwards GET /v2/ answers ${shown(alive)}`)
    const broken: string[] = []
    const after = await snapshot(server, broken)
    problems.push(...broken)
    if (broken.length > 0) target.poisoned = true
    const accepted = reply !== undefined && reply.status >= 200 && reply.status < 300
    if (!(req.mayWrite === true && accepted)) {
      const diff = differences(target.baseline, after)
      if (diff.length > 0) problems.push(`the ${accepted ? 'accepted' : 'refused'} request changed the store: ${diff.join('; ')}`)
    }
    target.baseline = after // report each change once
  } catch (err) {
    problems.push(`the server stopped answering afterwards: ${(err as Error).message}${server.death() !== undefined ? `; ${server.death()}` : ''}`)
  }
  return problems
}

// ---- the run -------------------------------------------------------------------------------------------

t.comment(`fast-check seed ${FUZZ_SEED}, ${RUNS} runs per family, ${BUDGET_MS / 1000} s budget; replay with FUZZ_SEED=${FUZZ_SEED}`)

const target = new Target()
t.before(async () => { await target.start() })
t.teardown(async () => { await target.stop() })
const startedAt = Date.now()

function report (t: Test, req: BadRequest, problems: string[]): void {
  if (problems.length === 0) return
  t.fail(`${describe(req)}\n    -> ${problems.join('\n    -> ')}`)
}

const familyNames = Object.keys(families).filter(f => ONLY === undefined || ONLY.includes(f))
familyNames.forEach((name, index) => {
  t.test(`bad input: ${name}`, async t => {
    const remaining = BUDGET_MS - (Date.now() - startedAt)
    const timeLimit = Math.max(3_000, remaining / (familyNames.length - index))
    let sent = 0
    let failing = 0
    await fc.assert(fc.asyncProperty(families[name] as fc.Arbitrary<BadRequest>, async req => {
      sent++
      const problems = await exercise(target, req)
      if (problems.length > 0) failing++
      report(t, req, problems)
    }), { numRuns: RUNS, seed: FUZZ_SEED + index, interruptAfterTimeLimit: timeLimit, endOnFailure: true })
    t.pass(`${sent} ${name} requests sent, ${failing} misbehaved (seed ${FUZZ_SEED + index})`)
  })
})

t.test('bad input: truncated and bomb archives', { skip: ONLY !== undefined && !ONLY.includes('archives') }, async t => {
  for (const req of archiveCases(gzipBomb)) {
    const began = Date.now()
    report(t, req, await exercise(target, req))
    t.comment(`${describe(req)}: ${Date.now() - began} ms`)
  }
  // The issue's item 4: a gzip bomb layer under a SemVer tag, pushed as a valid /v2 image.
  await target.ensureAlive()
  const bombDigest = sha256(gzipBomb)
  const upload = await send(target.server, 'POST', `/v2/${SEED.ociRepo}/blobs/uploads/?digest=${bombDigest}`, { body: gzipBomb, headers: { 'content-type': 'application/octet-stream' } })
  t.equal(upload.status, 201, 'the bomb layer uploads as a blob')
  target.baseline = await snapshot(target.server, [])
  const manifest = { ...validShape(), layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: bombDigest, size: gzipBomb.length }] }
  const req = make({
    family: 'archives', method: 'PUT', path: `/v2/${SEED.ociRepo}/manifests/4.0.0`, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: Buffer.from(JSON.stringify(manifest)), bodyLabel: 'a valid manifest whose layer is a gzip bomb (1.06 GiB unpacked), under a SemVer tag', mayWrite: true
  })
  const began = Date.now()
  report(t, req, await exercise(target, req))
  t.comment(`${describe(req)}: ${Date.now() - began} ms`)
  t.comment(`the server was restarted ${target.restarts} times after dying`)
})
