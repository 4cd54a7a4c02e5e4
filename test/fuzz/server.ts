// The server under fuzz: Berth as a real child process (so a crash shows as the process dying, with its
// stderr kept for the report) on 127.0.0.1 port 0 with a fresh data directory, plus the two ways the fuzz
// talks to it: well-formed HTTP through node:http, and raw bytes over node:net for what node:http refuses
// to send.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import http, { type IncomingHttpHeaders } from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const serverEntry = fileURLToPath(new URL('../../src/server.ts', import.meta.url))
const dieWithParent = fileURLToPath(new URL('./die-with-parent.ts', import.meta.url))

export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

export interface FuzzServer {
  url: string
  port: number
  dataDir: string
  /** Undefined while the process runs; how it ended (exit code or signal, and its stderr tail) once it died. */
  death: () => string | undefined
  stop: () => Promise<void>
}

export async function startFuzzServer (): Promise<FuzzServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-fuzz-'))
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', '--import', dieWithParent, serverEntry], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', BERTH_DATA_DIR: dataDir, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-1500) })
  let death: string | undefined
  const exited = new Promise<void>(resolve => {
    child.once('exit', (code, signal) => {
      death = `the server process exited (code ${String(code)}, signal ${String(signal)}); stderr:\n${stderr}`
      resolve()
    })
  })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('berth did not start listening within 30 s')) }, 30_000)
    void exited.then(() => { clearTimeout(timer); reject(new Error(death)) })
    createInterface({ input: child.stdout! }).on('line', line => {
      const listening = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(line)
      if (listening !== null) {
        clearTimeout(timer)
        resolve(Number(listening[1]))
      }
    })
  })
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    death: () => death,
    stop: async () => {
      if (death === undefined) {
        child.kill('SIGKILL') // nothing to drain: the store is thrown away
        await exited
      }
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

export class NoReply extends Error {
  override readonly name = 'NoReply'
}

const REPLY_TIMEOUT_MS = 60_000

/** One request on a fresh connection. */
export async function send (server: FuzzServer, method: string, urlPath: string,
  options: { headers?: Record<string, string>, body?: Buffer | string } = {}): Promise<Reply> {
  const body = options.body === undefined ? undefined : Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body)
  const headers: Record<string, string> = { ...options.headers }
  if (body !== undefined && !Object.keys(headers).some(h => h.toLowerCase() === 'content-length')) headers['content-length'] = String(body.length)
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path: urlPath, headers, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) })
      res.on('error', err => { reject(new NoReply(`the response broke off: ${err.message}`)) })
    })
    req.setTimeout(REPLY_TIMEOUT_MS, () => { req.destroy(new NoReply(`no response within ${REPLY_TIMEOUT_MS / 1000} s`)) })
    req.on('error', err => { reject(err instanceof NoReply ? err : new NoReply(`the request failed: ${err.message}`)) })
    req.end(body)
  })
}

/**
 * Writes raw bytes, half-closes when `end` (a body cut short), and parses whatever comes back before the
 * server closes the connection. Undefined when the server closed without answering.
 */
export async function sendRaw (server: FuzzServer, bytes: Buffer, end: boolean): Promise<Reply | undefined> {
  const received = await new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: server.port })
    const chunks: Buffer[] = []
    let parsedEnough = false
    socket.setTimeout(REPLY_TIMEOUT_MS, () => { socket.destroy(new NoReply(`no response within ${REPLY_TIMEOUT_MS / 1000} s`)) })
    socket.on('data', (c: Buffer) => {
      chunks.push(c)
      // A keep-alive reply to a complete request: stop once the whole response is in.
      if (!parsedEnough && complete(Buffer.concat(chunks))) { parsedEnough = true; socket.destroy(); resolve(Buffer.concat(chunks)) }
    })
    socket.on('end', () => { resolve(Buffer.concat(chunks)) })
    socket.on('close', () => { resolve(Buffer.concat(chunks)) })
    socket.on('error', err => {
      // A reset after the server answered still leaves the answer to read.
      if (chunks.length > 0) resolve(Buffer.concat(chunks))
      else if ((err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'EPIPE') resolve(Buffer.alloc(0))
      else reject(err instanceof NoReply ? err : new NoReply(`the connection failed: ${err.message}`))
    })
    socket.write(bytes, () => { if (end) socket.end() })
  })
  return received.length === 0 ? undefined : parseResponse(received)
}

function splitHead (data: Buffer): { head: string, rest: Buffer } | undefined {
  const end = data.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  return { head: data.subarray(0, end).toString('latin1'), rest: data.subarray(end + 4) }
}

function headersOf (head: string): IncomingHttpHeaders {
  const headers: Record<string, string> = {}
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return headers
}

function complete (data: Buffer): boolean {
  const parts = splitHead(data)
  if (parts === undefined) return false
  const headers = headersOf(parts.head)
  if (headers['content-length'] !== undefined) return parts.rest.length >= Number(headers['content-length'])
  if (headers['transfer-encoding'] === 'chunked') return parts.rest.includes('\r\n0\r\n\r\n') || parts.rest.subarray(0, 5).toString() === '0\r\n\r\n'
  return false
}

function parseResponse (data: Buffer): Reply {
  const parts = splitHead(data)
  if (parts === undefined) return { status: 0, headers: {}, body: data }
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(parts.head)?.[1] ?? 0)
  const headers = headersOf(parts.head)
  let body = parts.rest
  if (headers['transfer-encoding'] === 'chunked') {
    const out: Buffer[] = []
    let at = 0
    for (;;) {
      const lineEnd = body.indexOf('\r\n', at)
      if (lineEnd < 0) break
      const size = parseInt(body.subarray(at, lineEnd).toString(), 16)
      if (!(size > 0)) break
      out.push(body.subarray(lineEnd + 2, lineEnd + 2 + size))
      at = lineEnd + 2 + size + 2
    }
    body = Buffer.concat(out)
  } else if (headers['content-length'] !== undefined) {
    body = body.subarray(0, Number(headers['content-length']))
  }
  return { status, headers, body }
}
