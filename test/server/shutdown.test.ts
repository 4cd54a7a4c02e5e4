// SIGTERM drains: no new connections, in-flight requests finish, for at most BERTH_SHUTDOWN_TIMEOUT_SECONDS,
// after which what is still running is cut and logged. A second signal cuts at once, and logs it.
import { statSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import t, { type Test } from 'tap'
import { spawnBerth, tempDir, type Berth, type LogEntry } from './helpers.js'

const CHUNK = Buffer.alloc(64 * 1024, 'x')

interface SlowUpload {
  id: string
  path: string
  /** Writes one more chunk of the body. */
  write: () => void
  /** Ends the body; resolves with the response. */
  end: () => Promise<http.IncomingMessage>
  /** Resolves when the request failed (the server cut it). */
  failed: Promise<Error>
  sent: () => number
}

/** Starts a blob upload session and a chunked PATCH to it that sends one chunk; the caller sends the rest. */
async function slowUpload (t: Test, url: string, name: string): Promise<SlowUpload> {
  const started = await fetch(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST' })
  t.equal(started.status, 202, 'upload session started')
  const location = started.headers.get('location') ?? ''
  const target = new URL(location, url)
  const id = target.pathname.split('/').at(-1) ?? ''
  let sent = 0
  const req = http.request(target, {
    method: 'PATCH',
    agent: false,
    headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' }
  })
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', res => { res.resume(); res.once('end', () => { resolve(res) }) })
    req.once('error', reject)
  })
  const failed = response.then(() => new Error('the request was not cut'), (err: Error) => err)
  response.catch(() => {})
  const write = (): void => { if (!req.destroyed) { req.write(CHUNK); sent += CHUNK.length } }
  write()
  return { id, path: target.pathname, write, end: async () => { req.end(); return await response }, failed, sent: () => sent }
}

/** The status of a GET on a connection of its own, or the error code of the connection. */
async function onNewConnection (url: string): Promise<number | string> {
  return await new Promise(resolve => {
    http.get(url, { agent: false }, res => { res.resume(); resolve(res.statusCode ?? 0) })
      .once('error', (err: NodeJS.ErrnoException) => { resolve(err.code ?? err.message) })
  })
}

/** The exit status, or SIGKILL when the process had not exited within `ms` and was killed. */
async function exitWithin (berth: Berth, ms: number): Promise<number | string> {
  const timer = setTimeout(() => { berth.child.kill('SIGKILL') }, ms)
  try {
    return await berth.exited
  } finally {
    clearTimeout(timer)
  }
}

const incoming = (berth: Berth, method: string): Promise<LogEntry> =>
  berth.waitForLog(e => e.msg === 'incoming request' && (e.req as { method?: string } | undefined)?.method === method)
const isCut = (method: string) => (e: LogEntry): boolean => (e.request as { method?: string } | undefined)?.method === method

t.test('SIGTERM: new connections are refused, the in-flight upload finishes, then the process exits', async t => {
  const dataDir = tempDir(t)
  const berth = spawnBerth(t, { BERTH_DATA_DIR: dataDir })
  const url = await berth.url()
  const upload = await slowUpload(t, url, 'drain/slow')
  await incoming(berth, 'PATCH')

  berth.child.kill('SIGTERM')
  // With several workers (BERTH_WORKERS) each logs its own line; the one serving the upload has it in flight.
  t.match(await berth.waitForLog(e => /shutting down/.test(e.msg ?? '') && e.inFlight === 1), { inFlight: 1, timeoutMs: 30_000 })
  const late = await onNewConnection(`${url}/v2/`)
  t.ok(late === 'ECONNREFUSED' || late === 503, `a new request is refused or gets 503 (${String(late)})`)

  for (let i = 0; i < 5; i++) {
    upload.write()
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const res = await upload.end()
  t.equal(res.statusCode, 202, 'the in-flight PATCH completed')
  t.equal(res.headers.range, `0-${upload.sent() - 1}`, 'with every byte sent')
  t.equal(res.headers['docker-upload-uuid'], upload.id)
  t.equal(await exitWithin(berth, 30_000), 0, 'exit status 0: nothing was cut')
  t.equal(statSync(path.join(dataDir, 'objects/uploads', upload.id, 'data~')).size, upload.sent(), 'the bytes are stored')
  t.notOk(berth.logs.some(isCut('PATCH')), 'nothing logged as cut')
})

t.test('SIGTERM with a short timeout: the process exits after it and logs the request it cut', async t => {
  const berth = spawnBerth(t, { BERTH_DATA_DIR: tempDir(t), BERTH_SHUTDOWN_TIMEOUT_SECONDS: '2' })
  const url = await berth.url()
  const upload = await slowUpload(t, url, 'cut/slow')
  await incoming(berth, 'PATCH')
  const writer = setInterval(upload.write, 100) // a client that never finishes
  t.teardown(() => { clearInterval(writer) })

  const signalled = Date.now()
  berth.child.kill('SIGTERM')
  t.equal(await exitWithin(berth, 30_000), 1, 'exit status 1: requests were cut')
  const took = Date.now() - signalled
  t.ok(took >= 1500 && took < 20_000, `exited after about the timeout (${took} ms)`)
  clearInterval(writer)
  t.ok(await upload.failed instanceof Error, 'the client saw its request cut')
  const cut = berth.logs.find(isCut('PATCH'))
  t.match(cut, { level: 40, request: { method: 'PATCH', url: upload.path } }, 'the cut request is logged')
  t.ok(((cut?.request as { receivedBytes?: number } | undefined)?.receivedBytes ?? 0) >= CHUNK.length, 'with the bytes received so far')
  t.ok(berth.logs.some(e => /shutdown timeout: exiting with 1 requests cut/.test(e.msg ?? '')))
})

t.test('a second signal exits at once and logs the requests it cut', async t => {
  const berth = spawnBerth(t, { BERTH_DATA_DIR: tempDir(t) }) // the default 30 s drain
  const url = await berth.url()
  const upload = await slowUpload(t, url, 'twice/slow')
  await incoming(berth, 'PATCH')
  const writer = setInterval(upload.write, 100)
  t.teardown(() => { clearInterval(writer) })

  berth.child.kill('SIGTERM')
  await berth.waitForLog(e => /shutting down/.test(e.msg ?? ''))
  const signalled = Date.now()
  berth.child.kill('SIGINT')
  t.equal(await exitWithin(berth, 20_000), 1)
  t.ok(Date.now() - signalled < 15_000, 'long before the 30 s drain ends')
  clearInterval(writer)
  t.match(berth.logs.find(isCut('PATCH')), { level: 40, msg: /second SIGINT/, request: { method: 'PATCH', url: upload.path } })
  t.ok(berth.logs.some(e => /second SIGINT: exiting now with 1 requests cut/.test(e.msg ?? '')))
})
