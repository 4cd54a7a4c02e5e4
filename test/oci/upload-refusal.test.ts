// A refused chunk is answered after its body has been read: a client sending a large out-of-order chunk reads
// the 416 (and keeps its connection), instead of a broken pipe from a server that answered and closed while
// it was still writing. The OCI suite's chunked tests hit this on S3, whose chunks are 5 MiB.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { sha256 } from './helpers.js'

interface Answer { status: number, headers: http.IncomingHttpHeaders, body: string }

/** Sends `body` in 64 KiB writes on a real socket; resolves with the answer, rejects on a socket error. */
async function send (port: number, method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { ...headers, 'content-length': String(body.length) } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }) })
    })
    req.on('error', reject)
    let offset = 0
    const write = (): void => {
      while (offset < body.length) {
        const piece = body.subarray(offset, offset + 65536)
        offset += piece.length
        if (!req.write(piece)) { req.once('drain', write); return }
      }
      req.end()
    }
    write()
  })
}

t.test('an out-of-order 8 MiB chunk gets its 416 with the upload\'s range, on a connection kept alive', async t => {
  const { app } = await buildTestApp(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const started = await app.inject({ method: 'POST', url: '/v2/big/chunks/blobs/uploads/' })
  t.equal(started.statusCode, 202)
  const location = String(started.headers.location)
  const chunk = Buffer.alloc(8 * 1024 * 1024, 7)
  const refused = await send(port, 'PATCH', location, {
    'content-type': 'application/octet-stream', 'content-range': `100-${100 + chunk.length - 1}`
  }, chunk)
  t.equal(refused.status, 416)
  t.match(JSON.parse(refused.body), { errors: [{ code: 'RANGE_INVALID' }] })
  t.not(refused.headers.connection, 'close', 'the connection stays open')
  // The session is unharmed: the same chunk at the right offset is taken, and completes the blob.
  const accepted = await send(port, 'PATCH', location, { 'content-type': 'application/octet-stream', 'content-range': `0-${chunk.length - 1}` }, chunk)
  t.equal(accepted.status, 202)
  t.equal(accepted.headers.range, `0-${chunk.length - 1}`)
  const done = await send(port, 'PUT', `${String(accepted.headers.location)}?digest=${sha256(chunk)}`, {}, Buffer.alloc(0))
  t.equal(done.status, 201)
  const head = await app.inject({ method: 'HEAD', url: `/v2/big/chunks/blobs/${sha256(chunk)}` })
  t.equal(head.headers['content-length'], String(chunk.length))
})

t.test('a final chunk refused on PUT is read too, and the 416 reaches the client', async t => {
  const { app } = await buildTestApp(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const started = await app.inject({ method: 'POST', url: '/v2/big/final/blobs/uploads/' })
  const chunk = Buffer.alloc(8 * 1024 * 1024, 9)
  const refused = await send(port, 'PUT', `${String(started.headers.location)}?digest=${sha256(chunk)}`, {
    'content-type': 'application/octet-stream', 'content-range': `5-${5 + chunk.length - 1}`
  }, chunk)
  t.equal(refused.status, 416)
  t.not(refused.headers.connection, 'close')
})
