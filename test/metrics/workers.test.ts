// /metrics with BERTH_WORKERS=2: whichever worker a scrape lands on, it answers with every worker's figures
// summed (the primary gathers them).
import { createHash } from 'node:crypto'
import t from 'tap'
import { spawnBerth, tempDir } from '../server/helpers.js'
import { Scrape } from './scrape.js'

t.test('a scrape on either worker reports the requests both workers served', async t => {
  const berth = spawnBerth(t, { BERTH_DATA_DIR: tempDir(t), BERTH_WORKERS: '2' })
  const url = await berth.url()
  await berth.waitForLog(e => /Server listening/.test(e.msg ?? '') && e.pid !== berth.logs.find(l => /Server listening/.test(l.msg ?? ''))?.pid)

  const body = Buffer.from('counted by every worker')
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`
  t.equal((await fetch(`${url}/v2/w/counted/blobs/uploads/?digest=${digest}`, { method: 'POST', body })).status, 201)
  // A new connection each time: the kernel spreads them over both workers.
  const pulls = 24
  for (let i = 0; i < pulls; i++) {
    const res = await fetch(`${url}/v2/w/counted/blobs/${digest}`, { headers: { connection: 'close' } })
    t.equal(await res.text(), body.toString())
  }

  const blobs = { dialect: 'oci', method: 'GET', route: '/v2/:name/blobs/:digest', status: '200' }
  for (let i = 0; i < 8; i++) {
    const res = await fetch(`${url}/metrics`, { headers: { connection: 'close' } })
    t.equal(res.status, 200)
    const scraped = new Scrape(await res.text())
    t.equal(scraped.value('berth_http_requests_total', blobs), pulls, `scrape ${i + 1}: every pull, whichever worker served it`)
    t.equal(scraped.value('berth_http_sent_bytes_total', { dialect: 'oci', method: 'GET', route: '/v2/:name/blobs/:digest' }), pulls * body.length)
    t.equal(scraped.histogram('berth_http_request_duration_seconds', blobs).count, pulls)
    t.equal(scraped.value('berth_http_requests_total', { method: 'POST', status: '201' }), 1, 'the push, once')
    // The earlier scrapes landed on one worker or the other: all of them are counted.
    t.equal(scraped.value('berth_http_requests_total', { route: '/metrics', status: '200' }), i, 'every earlier scrape')
    t.ok(scraped.value('process_resident_memory_bytes') > 0, 'process metrics too')
  }
  berth.child.kill('SIGTERM')
  t.equal(await berth.exited, 0)
})
