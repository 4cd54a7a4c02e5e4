// A CNR tarball or /packages file fetched from the upstream streams to the client while it is stored, as a /v2
// blob does: the client's first bytes do not wait for the whole file. The upstream is a second Berth behind a
// gate that sends the first part of each blob and holds the rest until the test opens it; the client must see
// bytes while the gate is shut, and the whole file, verified and stored once, after.
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { push, sha256, startApi, tarGz } from '../cnr/helpers.js'

/** What the gate lets through of a blob body before it waits for `open`. */
const FIRST_PART = 256 * 1024

interface Gate {
  url: string
  /** Lets the rest of every held blob body through, and every later one. */
  open: () => void
  /** The blob GETs forwarded so far (configs too), as "GET /v2/...". */
  blobGets: string[]
}

/** A forwarding proxy in front of `upstream` that holds blob bodies after their first part until `open`. */
async function startGate (t: Test, upstream: string): Promise<Gate> {
  let opened = false
  const waiting: Array<() => void> = []
  const blobGets: string[] = []
  const server = http.createServer((req, res) => {
    const isBlob = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '')
    if (isBlob) blobGets.push(`GET ${req.url ?? ''}`)
    const forwarded = http.request(new URL(req.url ?? '/', upstream), { method: req.method, headers: req.headers }, upstreamRes => {
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers)
      if (!isBlob || opened) { upstreamRes.pipe(res); return }
      let sent = 0
      upstreamRes.on('data', (chunk: Buffer) => {
        const through = opened ? chunk.length : Math.max(0, Math.min(chunk.length, FIRST_PART - sent))
        sent += through
        if (through > 0) res.write(chunk.subarray(0, through))
        if (through === chunk.length) return
        upstreamRes.pause()
        waiting.push(() => { res.write(chunk.subarray(through)); upstreamRes.resume() })
      })
      upstreamRes.on('end', () => { res.end() })
    })
    forwarded.on('error', () => { res.destroy() })
    req.pipe(forwarded)
  })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => { server.closeAllConnections(); await new Promise(resolve => { server.close(resolve) }) })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    open: () => { opened = true; for (const resume of waiting.splice(0)) resume() },
    blobGets
  }
}

interface Download { status: number, headers: http.IncomingHttpHeaders, body: Promise<Buffer> }

/**
 * A GET that resolves once the response has delivered its first bytes, or fails after `deadlineMs`: a
 * download that waits for the whole file never gets there while the gate holds the rest.
 */
async function firstBytes (t: Test, url: string, deadlineMs = 30_000): Promise<Download> {
  return await new Promise((resolve, reject) => {
    const deadline = setTimeout(() => { req.destroy(); reject(new Error(`no bytes within ${deadlineMs} ms while the upstream held the rest`)) }, deadlineMs)
    const req = http.get(url, res => {
      const chunks: Buffer[] = []
      const body = new Promise<Buffer>((resolve, reject) => {
        res.on('end', () => { resolve(Buffer.concat(chunks)) })
        res.on('error', reject)
      })
      body.catch(() => {})
      res.on('data', (chunk: Buffer) => {
        if (chunks.push(chunk) > 1 || chunk.length === 0) return
        clearTimeout(deadline)
        t.ok(chunk.length > 0, `the first ${chunk.length} bytes arrived while the upstream held the rest`)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
      })
    })
    req.on('error', err => { clearTimeout(deadline); reject(err) })
  })
}

t.test('mirrored CNR and /packages downloads stream while they are stored', async t => {
  const upstream = await startApi(t)
  // Random bytes do not compress: each file is about 1.5 MB, several times what the gate lets through.
  const tarball = await tarGz({ 'big/README': randomBytes(1_500_000) })
  t.equal((await push(upstream, 'ns/big', '1.0.0', 'helm', tarball)).status, 200)
  const file = randomBytes(1_500_000)
  t.equal((await upstream.request('PUT', '/packages/tool-2.0.0.tar.gz', { body: file })).status, 200)

  const gate = await startGate(t, upstream.url)
  const mirror = await startApi(t, {
    BERTH_MIRRORS: JSON.stringify([
      { prefix: 'up', upstream: gate.url, upstreamPrefix: 'ns' },
      { prefix: 'packages', upstream: gate.url, upstreamPrefix: 'packages' }
    ])
  })

  const pulling = await firstBytes(t, `${mirror.url}/cnr/api/v1/packages/up/big/1.0.0/helm/pull`)
  const downloading = await firstBytes(t, `${mirror.url}/packages/tool-2.0.0.tar.gz`)
  t.equal(pulling.status, 200)
  t.equal(pulling.headers['content-length'], String(tarball.length))
  t.equal(downloading.status, 200)
  t.equal(downloading.headers['content-length'], String(file.length))
  // While the gate is shut neither file is stored: a /v2 read of it would wait for this same fetch.
  const fetched = (): string[] => gate.blobGets.filter(get => get.includes(sha256(tarball)) || get.includes(sha256(file)))
  t.equal(fetched().length, 2, 'one upstream GET for each file')

  gate.open()
  t.ok((await pulling.body).equals(tarball), 'the whole tarball pushed upstream')
  t.ok((await downloading.body).equals(file), 'the whole file uploaded upstream')

  // Stored and verified: read again, both come from the store, with no upstream blob GET.
  const again = await mirror.request('GET', '/cnr/api/v1/packages/up/big/1.0.0/helm/pull')
  t.ok(again.body.equals(tarball))
  const stored = await fetch(`${mirror.url}/v2/packages/tool/blobs/${sha256(file)}`)
  t.equal(stored.headers.get('docker-content-digest'), sha256(file))
  t.ok(Buffer.from(await stored.arrayBuffer()).equals(file))
  t.equal(fetched().length, 2, 'nothing more was fetched')
})
