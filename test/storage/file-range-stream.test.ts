// File ranges served through reused buffers (src/storage/file-range-stream.ts, src/http/send-body.ts): the
// bytes are exact across piece boundaries, as a stream and as a copy, and a client that leaves mid-body
// neither stops the server nor leaves the file open.
import { createHash, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import t from 'tap'
import { FILE_PIECE_BYTES, FileRangeStream } from '../../src/storage/file-range-stream.js'
import { buildTestApp } from '../helpers/app.js'
import { pushBlob } from '../oci/helpers.js'

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex')

t.test('a range reads the same bytes as a stream and as a copy, across piece boundaries', async t => {
  const data = randomBytes(FILE_PIECE_BYTES * 2 + 12345)
  const file = path.join(t.testdir(), 'data')
  writeFileSync(file, data)
  const ranges: Array<[number, number]> = [[0, data.length - 1], [1, FILE_PIECE_BYTES], [FILE_PIECE_BYTES - 1, FILE_PIECE_BYTES * 2 + 1], [7, 7]]
  for (const [start, end] of ranges) {
    const streamed: Buffer[] = []
    for await (const piece of new FileRangeStream(await open(file, 'r'), start, end)) streamed.push(piece as Buffer)
    t.same(Buffer.concat(streamed), data.subarray(start, end + 1), `stream ${start}-${end}`)
    const copied: Buffer[] = []
    // Each piece is copied out before the write resolves: the buffer is filled again afterwards.
    await new FileRangeStream(await open(file, 'r'), start, end).copyTo(async piece => { copied.push(Buffer.from(piece)) })
    t.same(Buffer.concat(copied), data.subarray(start, end + 1), `copy ${start}-${end}`)
  }
})

t.test('a file shorter than its range fails the copy and closes the file', async t => {
  const file = path.join(t.testdir(), 'short')
  writeFileSync(file, Buffer.alloc(100))
  const handle = await open(file, 'r')
  await t.rejects(new FileRangeStream(handle, 0, 199).copyTo(async () => {}), /ended 100 bytes early/)
  await t.rejects(handle.stat(), { code: 'EBADF' }, 'the handle is closed')
})

t.test('a blob pull over a real socket, whole, ranged, and cut off by the client', async t => {
  const { app } = await buildTestApp(t)
  const data = randomBytes(FILE_PIECE_BYTES * 3 + 17)
  const digest = await pushBlob(app, 'big/pull', data)
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `${address}/v2/big/pull/blobs/${digest}`

  const whole = await fetch(url)
  t.equal(whole.status, 200)
  t.equal(whole.headers.get('content-length'), String(data.length))
  t.equal(whole.headers.get('docker-content-digest'), digest)
  t.equal(whole.headers.get('docker-distribution-api-version'), 'registry/2.0', 'headers set by hooks are kept')
  t.equal(sha256(Buffer.from(await whole.arrayBuffer())), sha256(data))

  const start = FILE_PIECE_BYTES - 3
  const end = FILE_PIECE_BYTES * 2 + 5
  const ranged = await fetch(url, { headers: { Range: `bytes=${start}-${end}` } })
  t.equal(ranged.status, 206)
  t.equal(ranged.headers.get('content-range'), `bytes ${start}-${end}/${data.length}`)
  t.same(Buffer.from(await ranged.arrayBuffer()), data.subarray(start, end + 1))

  // A client that reads one piece and hangs up.
  await new Promise<void>((resolve, reject) => {
    const req = http.get(url, res => {
      res.once('data', () => { req.destroy(); resolve() })
    })
    req.on('error', err => { if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err) })
  })
  const again = await fetch(url)
  t.equal(sha256(Buffer.from(await again.arrayBuffer())), sha256(data), 'the server still serves the blob whole')
})
