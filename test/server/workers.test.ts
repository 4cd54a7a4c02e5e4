// BERTH_WORKERS: several server processes share one port (src/workers.ts) and act as one registry.
import t from 'tap'
import { spawnBerth, tempDir } from './helpers.js'

t.test('two workers share the port, say they started once, and drain on SIGTERM', async t => {
  const berth = spawnBerth(t, { BERTH_DATA_DIR: tempDir(t), BERTH_WORKERS: '2' })
  const url = await berth.url()
  await berth.waitForLog(e => e.version !== undefined)
  // Both workers listen on the port the first one got (PORT=0).
  const listening = await berth.waitForLog(e => /Server listening/.test(e.msg ?? '') && e.pid !== berth.logs.find(l => /Server listening/.test(l.msg ?? ''))?.pid)
  t.match(listening.msg, url)
  t.equal(berth.logs.filter(e => e.version !== undefined).length, 1, 'one start-up line')
  t.match(berth.logs.find(e => e.version !== undefined), { workers: 2 })

  // A blob pushed through one connection is there for the next ones, whichever worker answers.
  const body = Buffer.from('shared by every worker')
  const { createHash } = await import('node:crypto')
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`
  const put = await fetch(`${url}/v2/w/blob/blobs/uploads/?digest=${digest}`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })
  t.equal(put.status, 201)
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`${url}/v2/w/blob/blobs/${digest}`, { headers: { connection: 'close' } })
    t.equal(Buffer.from(await res.arrayBuffer()).toString(), body.toString())
  }

  berth.child.kill('SIGTERM')
  t.equal(await berth.exited, 0, 'every worker drained; exit status 0')
  t.equal(berth.logs.filter(e => /all requests finished/.test(e.msg ?? '')).length, 2, 'each worker drained')
})
