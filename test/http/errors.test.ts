// Every error is answered in the dialect of the API its path belongs to (OCI envelope under /v2, the CNR body
// under /cnr/api/v1 and /api/v1, plain text under /packages), including requests the HTTP parser refuses before
// any route sees them, and store outages (503 + Retry-After everywhere). Raw TCP, so that the malformed bytes
// reach the server exactly as written.
import { createHash } from 'node:crypto'
import net, { type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import { StorageUnavailableError, type StorageDriver } from '../../src/storage/driver.js'
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js'

interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/** Sends `raw` on a fresh connection (half-closing it after, if asked) and reads one response. */
async function exchange (port: number, raw: Buffer | string, { halfClose = false } = {}): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let received = Buffer.alloc(0)
    let settled = false
    const done = (err?: Error): void => {
      if (settled) return
      const response = parse(received)
      if (response === undefined && err === undefined) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (response !== undefined) resolve(response)
      else reject(err ?? new Error('no response'))
    }
    const timer = setTimeout(() => { done(new Error(`no complete response within 30 s; got ${JSON.stringify(received.toString('latin1'))}`)) }, 30_000)
    socket.on('data', chunk => { received = Buffer.concat([received, chunk]); done() })
    // A connection the server closed (as it should after a malformed request) ends the response.
    socket.on('close', () => { done(new Error(`connection closed; got ${JSON.stringify(received.toString('latin1'))}`)) })
    socket.on('error', () => {})
    socket.write(typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw)
    if (halfClose) socket.end()
  })
}

/** A complete response with a Content-Length (every error reply has one), or undefined. */
function parse (data: Buffer): RawResponse | undefined {
  const end = data.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  const [statusLine = '', ...lines] = data.subarray(0, end).toString('latin1').split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const length = Number(headers['content-length'] ?? 0)
  if (data.length < end + 4 + length) return undefined
  return { status: Number(statusLine.split(' ')[1]), headers, body: data.subarray(end + 4, end + 4 + length).toString('utf8') }
}

type DialectName = 'oci' | 'cnr' | 'packages'

/** Checks that a response is an error in the dialect: its content type and body format, nothing else. */
function assertDialect (t: Test, dialect: DialectName, res: RawResponse, what: string): void {
  t.notMatch(res.body, /<html|<!doctype/i, `${what}: no HTML`)
  if (dialect === 'packages') {
    t.match(res.headers['content-type'], /^text\/plain/, `${what}: text`)
    t.ok(res.body.trim().length > 0, `${what}: a message`)
    t.notMatch(res.body, /^\s*[{[]/, `${what}: not JSON`)
    return
  }
  t.match(res.headers['content-type'], /^application\/json/, `${what}: JSON`)
  let body: Record<string, unknown>
  try {
    body = JSON.parse(res.body) as Record<string, unknown>
  } catch {
    t.fail(`${what}: body is not JSON: ${res.body}`)
    return
  }
  t.notOk('statusCode' in body, `${what}: not Fastify's default error body`)
  if (dialect === 'oci') {
    t.equal(res.headers['docker-distribution-api-version'], 'registry/2.0', `${what}: OCI API version`)
    t.same(Object.keys(body), ['errors'], `${what}: the OCI envelope`)
    const error = Array.isArray(body.errors) ? body.errors[0] as Record<string, unknown> | undefined : undefined
    t.match(error, { code: String, message: String }, `${what}: an OCI error`)
    t.ok(error !== undefined && 'detail' in error, `${what}: with detail`)
  } else {
    t.same(Object.keys(body).sort(), ['code', 'details', 'message'], `${what}: the CNR body`)
    t.match(body, { code: String, message: String, details: Object }, `${what}: a CNR error`)
  }
}

async function startServer (t: Test, driver?: StorageDriver): Promise<number> {
  const config = loadConfig({ BERTH_DATA_DIR: t.testdir(), LOG_LEVEL: 'silent' })
  const app = await buildApp(await createBerth(config, driver === undefined ? {} : { driver }))
  t.teardown(async () => { await app.close() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

async function assertAlive (t: Test, port: number, what: string): Promise<void> {
  const res = await exchange(port, 'GET /v2/ HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n')
  t.equal(res.status, 200, `${what}: the server still answers`)
}

const digest = `sha256:${createHash('sha256').update('hello').digest('hex')}`

/** One endpoint per mount that reads a request body. */
const ENDPOINTS: Array<{ dialect: DialectName, method: string, path: string, prefix: string }> = [
  { dialect: 'oci', method: 'POST', path: `/v2/demo/blobs/uploads/?digest=${digest}`, prefix: '/v2' },
  { dialect: 'cnr', method: 'POST', path: '/cnr/api/v1/packages/ns/app', prefix: '/cnr/api/v1' },
  { dialect: 'cnr', method: 'POST', path: '/api/v1/packages/ns/app', prefix: '/api/v1' },
  { dialect: 'packages', method: 'PUT', path: '/packages/demo-1.0.0.tar.gz', prefix: '/packages' }
]

interface Case {
  what: string
  /** The status, or 'client' for any 4xx. */
  status: number | 'client'
  request: (e: typeof ENDPOINTS[number]) => string
  halfClose?: boolean
}

const H = 'Host: berth\r\n'
const CASES: Case[] = [
  { what: 'a Content-Length that is not a number', status: 400, request: e => `${e.method} ${e.path} HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n` },
  { what: 'two Content-Length headers', status: 400, request: e => `${e.method} ${e.path} HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello` },
  { what: 'Transfer-Encoding: gzip', status: 400, request: e => `${e.method} ${e.path} HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\nhello` },
  { what: 'a malformed chunk', status: 400, request: e => `${e.method} ${e.path} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n` },
  { what: 'a body cut short', status: 400, halfClose: true, request: e => `${e.method} ${e.path} HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\nhello` },
  { what: 'a control byte in the path', status: 400, request: e => `GET ${e.prefix}/a\x01b HTTP/1.1\r\n${H}\r\n` },
  { what: 'raw UTF-8 in the path', status: 400, request: e => `GET ${e.prefix}/caf${Buffer.from('é').toString('latin1')} HTTP/1.1\r\n${H}\r\n` },
  { what: 'headers over the size limit', status: 431, request: e => `GET ${e.path} HTTP/1.1\r\n${H}X-Filler: ${'a'.repeat(20_000)}\r\n\r\n` },
  { what: 'a control character in Content-Type', status: 400, request: e => `${e.method} ${e.path} HTTP/1.1\r\n${H}Content-Type: text/plain\x01\r\nContent-Length: 5\r\n\r\nhello` },
  { what: 'CONNECT', status: 405, request: e => `CONNECT ${e.path} HTTP/1.1\r\n${H}\r\n` },
  { what: 'an unknown method', status: 400, request: e => `FROB ${e.path} HTTP/1.1\r\n${H}\r\n` },
  { what: 'Expect: teapot', status: 417, request: e => `${e.method} ${e.path} HTTP/1.1\r\n${H}Expect: teapot\r\nContent-Length: 5\r\n\r\n` },
  { what: 'malformed percent-encoding', status: 400, request: e => `GET ${e.prefix}/a%ZZ/b HTTP/1.1\r\n${H}Connection: close\r\n\r\n` },
  { what: 'an unknown path', status: 404, request: e => `GET ${e.prefix}/no/such/endpoint/here HTTP/1.1\r\n${H}Connection: close\r\n\r\n` },
  { what: 'a method no route serves', status: 'client', request: e => `PROPFIND ${e.path} HTTP/1.1\r\n${H}Connection: close\r\n\r\n` }
]

t.test('malformed requests are answered in the dialect of their path, and the server carries on', async t => {
  const port = await startServer(t)
  for (const endpoint of ENDPOINTS) {
    for (const c of CASES) {
      const what = `${c.what} under ${endpoint.prefix}`
      const res = await exchange(port, c.request(endpoint), { halfClose: c.halfClose === true })
      if (c.status === 'client') t.ok(res.status >= 400 && res.status < 500, `${what}: a client error (${res.status})`)
      else t.equal(res.status, c.status, `${what}: status`)
      assertDialect(t, endpoint.dialect, res, what)
      await assertAlive(t, port, what)
    }
  }
})

t.test('paths outside every API are answered in the OCI envelope, never in Fastify\'s default body', async t => {
  const port = await startServer(t)
  const res = await exchange(port, `GET /nowhere HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)
  t.equal(res.status, 404)
  assertDialect(t, 'oci', res, 'GET /nowhere')
  const bad = await exchange(port, `GET /nowhere HTTP/1.1\r\n${H}Content-Length: x\r\n\r\n`)
  t.equal(bad.status, 400)
  assertDialect(t, 'oci', bad, 'a bad Content-Length on /nowhere')
})

/** A filesystem store that can be switched off: every call then fails as an unreachable S3 endpoint would. */
async function switchableStore (root: string): Promise<{ driver: StorageDriver, down: () => void }> {
  const real = new FilesystemDriver({ root })
  await real.init()
  let up = true
  const driver = new Proxy(real, {
    get (target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown
      if (typeof value !== 'function' || property === 'close') return value
      return (...args: unknown[]) => {
        if (!up) throw new StorageUnavailableError('filesystem', 'the store is switched off for this test')
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    }
  })
  return { driver, down: () => { up = false } }
}

t.test('a store outage is 503 with Retry-After in every dialect', async t => {
  const store = await switchableStore(t.testdir())
  const port = await startServer(t, store.driver)
  store.down()
  const requests: Array<[DialectName, string]> = [
    ['oci', '/v2/demo/tags/list'],
    ['cnr', '/cnr/api/v1/packages/ns/app'],
    ['cnr', '/api/v1/packages'],
    ['packages', '/packages/demo-1.0.0.tar.gz'],
    ['packages', '/packages']
  ]
  for (const [dialect, path] of requests) {
    const res = await exchange(port, `GET ${path} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)
    t.equal(res.status, 503, `${path}: 503`)
    t.match(res.headers['retry-after'], /^\d+$/, `${path}: Retry-After`)
    assertDialect(t, dialect, res, path)
    if (dialect === 'oci') t.equal((JSON.parse(res.body) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAVAILABLE')
    if (dialect === 'cnr') t.equal((JSON.parse(res.body) as { code: string }).code, 'unavailable')
  }
})
