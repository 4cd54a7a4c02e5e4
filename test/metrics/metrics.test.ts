// GET /metrics: the counters, histograms and byte counts move by what requests in each dialect did, with the
// right labels; the store wrapper counts operations and errors; the GC, webhook and quota API moves its
// metrics; and the access rules (bearer token, or loopback only) hold.
import { request as httpRequest } from 'node:http'
import { createHash, randomBytes } from 'node:crypto'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import { createMetrics } from '../../src/metrics/index.js'
import { LATENCY_BUCKETS } from '../../src/metrics/series.js'
import { StorageUnavailableError, NotFoundError, type StorageDriver } from '../../src/storage/driver.js'
import { KPM_FILES, startApi, tarGz } from '../cnr/helpers.js'
import { Scrape, scrape } from './scrape.js'

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

/** What moved between two scrapes, for one counter and label set. */
const moved = (before: Scrape, after: Scrape, name: string, labels: Record<string, string>): number =>
  after.value(name, labels) - before.value(name, labels)

t.test('requests in each dialect move the request, latency and byte metrics of their route', async t => {
  const api = await startApi(t)
  const { url } = api
  const before = await scrape(url)

  // OCI: a monolithic push, then a pull that streams from the store (larger than the in-memory blob cache).
  const blob = randomBytes(100 * 1024 + 7)
  const digest = sha256(blob)
  const push = await fetch(`${url}/v2/team/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob })
  t.equal(push.status, 201)
  const pull = await fetch(`${url}/v2/team/app/blobs/${digest}`)
  t.same(Buffer.from(await pull.arrayBuffer()), blob)
  // A small blob, answered from memory by Fastify rather than streamed by hand.
  const small = Buffer.from('a small blob')
  t.equal((await fetch(`${url}/v2/team/app/blobs/uploads/?digest=${sha256(small)}`, { method: 'POST', body: small })).status, 201)
  t.equal(await (await fetch(`${url}/v2/team/app/blobs/${sha256(small)}`)).text(), 'a small blob')
  const missing = await fetch(`${url}/v2/team/app/manifests/nope`)
  t.equal(missing.status, 404)
  const missingBody = Buffer.from(await missing.arrayBuffer())

  // CNR: a release pushed as JSON.
  const cnrBody = Buffer.from(JSON.stringify({ release: '1.0.0', media_type: 'kpm', blob: (await tarGz(KPM_FILES('1.0.0'))).toString('base64') }))
  const cnr = await fetch(`${url}/cnr/api/v1/packages/team/chart`, { method: 'POST', body: cnrBody, headers: { 'content-type': 'application/json' } })
  const cnrAnswer = Buffer.from(await cnr.arrayBuffer())
  // /packages: an upload and a download.
  const file = randomBytes(3000)
  t.equal((await fetch(`${url}/packages/tool-1.0.0.tar.gz`, { method: 'PUT', body: file })).status, 200)
  const got = await fetch(`${url}/packages/tool-1.0.0.tar.gz`)
  t.same(Buffer.from(await got.arrayBuffer()), file)
  // A path no route serves.
  t.equal((await fetch(`${url}/no/such/path`)).status, 404)

  const after = await scrape(url)
  const requests = 'berth_http_requests_total'
  const oci = { dialect: 'oci' }
  t.equal(moved(before, after, requests, { ...oci, method: 'POST', route: '/v2/:name/blobs/uploads/', status: '201' }), 2, 'two pushes')
  t.equal(moved(before, after, requests, { ...oci, method: 'GET', route: '/v2/:name/blobs/:digest', status: '200' }), 2, 'two pulls')
  t.equal(moved(before, after, requests, { ...oci, method: 'GET', route: '/v2/:name/manifests/:reference', status: '404' }), 1, 'a 404 on its route')
  t.equal(moved(before, after, requests, { dialect: 'cnr', method: 'POST', route: '/cnr/api/v1/packages/:namespace/:package', status: String(cnr.status) }), 1, 'the CNR push')
  t.equal(cnr.status, 200, 'pushed (APPR answers 200)')
  t.equal(moved(before, after, requests, { dialect: 'packages', method: 'PUT', route: '/packages/:file', status: '200' }), 1)
  t.equal(moved(before, after, requests, { dialect: 'packages', method: 'GET', route: '/packages/:file', status: '200' }), 1)
  t.equal(moved(before, after, requests, { dialect: 'other', route: 'unmatched', status: '404' }), 1, 'unrouted paths share one label')
  t.notOk(after.samples(requests).some(s => /team|tool-1|nope|no\/such/.test(s.labels.route ?? '')), 'no raw URL is a label')

  const received = 'berth_http_received_bytes_total'
  const sent = 'berth_http_sent_bytes_total'
  t.equal(moved(before, after, received, { ...oci, method: 'POST', route: '/v2/:name/blobs/uploads/' }), blob.length + small.length, 'pushed bytes')
  t.equal(moved(before, after, sent, { ...oci, method: 'GET', route: '/v2/:name/blobs/:digest' }), blob.length + small.length, 'pulled bytes, streamed or not')
  t.equal(moved(before, after, sent, { ...oci, method: 'GET', route: '/v2/:name/manifests/:reference' }), missingBody.length, 'an error body')
  t.equal(moved(before, after, received, { dialect: 'cnr', method: 'POST' }), cnrBody.length, 'the CNR request body')
  t.equal(moved(before, after, sent, { dialect: 'cnr', method: 'POST' }), cnrAnswer.length, 'the CNR answer')
  t.equal(moved(before, after, received, { dialect: 'packages', method: 'PUT' }), file.length)
  t.equal(moved(before, after, sent, { dialect: 'packages', method: 'GET' }), file.length)
  t.equal(after.samples(received).concat(after.samples(sent)).filter(s => 'status' in s.labels).length, 0, 'byte counters carry no status')

  const duration = 'berth_http_request_duration_seconds'
  t.equal(after.families.get(duration)?.type, 'histogram')
  const pulls = { ...oci, method: 'GET', route: '/v2/:name/blobs/:digest', status: '200' }
  const h = after.histogram(duration, pulls)
  t.equal(h.count - before.histogram(duration, pulls).count, 2, 'two latencies observed')
  t.equal(h.buckets.get('+Inf'), h.count, '+Inf holds every observation')
  t.equal(h.buckets.size, LATENCY_BUCKETS.length + 1)
  const cumulative = [...h.buckets.values()]
  t.ok(cumulative.every((v, i) => i === 0 || v >= (cumulative[i - 1] as number)), 'buckets are cumulative')
  t.ok(h.sum > 0 && h.sum < 60, 'the latencies add up to a plausible time')

  t.equal(after.families.get(requests)?.type, 'counter')
  t.ok(after.value('process_cpu_user_seconds_total') > 0, 'process metrics are there')
  t.ok(after.value('nodejs_heap_size_used_bytes') > 0)
})

t.test('store operations are counted and timed by kind; uploads streaming a body are in flight', async t => {
  const api = await startApi(t)
  const { url } = api
  const before = await scrape(url)
  const start = await fetch(`${url}/v2/team/chunked/blobs/uploads/`, { method: 'POST' })
  t.equal(start.status, 202)
  const location = new URL(start.headers.get('location') as string, url)

  // A chunk whose body is still being sent: its upload is in flight until the body ends.
  const body = new PassThrough()
  const answered = new Promise<number>((resolve, reject) => {
    const req = httpRequest(location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' } }, res => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    body.pipe(req)
  })
  const chunk = randomBytes(4096)
  body.write(chunk)
  let during: Scrape
  for (;;) {
    during = await scrape(url)
    if (during.value('berth_uploads_in_flight') === 1) break
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  t.equal(during.value('berth_uploads_in_flight'), 1, 'one upload streaming')
  body.end()
  t.equal(await answered, 202)
  location.searchParams.set('digest', sha256(chunk))
  const done = await fetch(location, { method: 'PUT' })
  t.equal(done.status, 201)

  const after = await scrape(url)
  t.equal(after.value('berth_uploads_in_flight'), 0, 'none once the body ended')
  const ops = 'berth_store_operations_total'
  t.equal(moved(before, after, ops, { driver: 'filesystem', operation: 'append' }), 2, 'the chunk\'s append and the closing PUT\'s (empty)')
  t.equal(moved(before, after, ops, { driver: 'filesystem', operation: 'move' }), 1, 'the upload moved into place')
  t.ok(moved(before, after, ops, { operation: 'compareAndSwap' }) >= 2, 'the session claimed and released')
  const appends = after.histogram('berth_store_operation_duration_seconds', { operation: 'append' })
  t.equal(appends.count, after.value(ops, { operation: 'append' }))
  t.equal(after.value('berth_store_errors_total'), 0, 'not-found answers are no errors')
})

t.test('store errors are counted by operation; not-found answers are not', async t => {
  const failing = {
    name: 'failing',
    chunkMinLength: 1,
    async stat () { throw new StorageUnavailableError('failing', 'down') },
    async readAll (key: string) { throw new NotFoundError(key, 'failing') },
    async close () {}
  } as unknown as StorageDriver
  const metrics = createMetrics('failing')
  const driver = metrics.instrument(failing)
  await t.rejects(driver.stat('a'), StorageUnavailableError)
  await t.rejects(driver.stat('b'), StorageUnavailableError)
  await t.rejects(driver.readAll('c'), NotFoundError)
  t.equal(driver.presignedUrl, undefined, 'an optional capability the driver lacks stays absent')
  const scraped = new Scrape(await metrics.render())
  t.equal(scraped.value('berth_store_errors_total', { driver: 'failing', operation: 'stat' }), 2)
  t.equal(scraped.value('berth_store_errors_total', { operation: 'readAll' }), 0)
  t.equal(scraped.value('berth_store_operations_total', { operation: 'readAll' }), 1)
  t.equal(scraped.histogram('berth_store_operation_duration_seconds', { operation: 'stat' }).count, 2, 'failures are timed too')
})

t.test('the GC, webhook and quota API moves its metrics', async t => {
  const metrics = createMetrics('filesystem')
  const empty = new Scrape(await metrics.render())
  t.equal(empty.value('berth_gc_runs_total'), 0)
  t.equal(empty.families.get('berth_gc_reclaimed_bytes_total')?.type, 'counter', 'defined before any run')

  metrics.recordGcRun({ deleted: { blobs: 3, manifests: 1, uploads: 0 }, reclaimedBytes: 5000, durationSeconds: 2, dryRun: false })
  metrics.recordGcRun({ deleted: { blobs: 2 }, reclaimedBytes: 100, durationSeconds: 1, dryRun: false })
  metrics.recordGcRun({ deleted: { blobs: 50 }, reclaimedBytes: 1e9, durationSeconds: 1, dryRun: true })
  metrics.recordWebhookDelivery({ outcome: 'delivered' })
  metrics.recordWebhookDelivery({ outcome: 'delivered' })
  metrics.recordWebhookDelivery({ outcome: 'retrying' })
  metrics.recordWebhookDelivery({ outcome: 'failed' })
  let reads = 0
  metrics.registerQuotaUsage(async () => {
    reads++
    return [{ namespace: 'team', usedBytes: 1234, limitBytes: 10_000 }, { namespace: 'free', usedBytes: 99 }]
  })

  const s = new Scrape(await metrics.render())
  t.equal(s.value('berth_gc_runs_total', { mode: 'delete' }), 2)
  t.equal(s.value('berth_gc_runs_total', { mode: 'dry-run' }), 1)
  t.equal(s.value('berth_gc_deleted_objects_total', { kind: 'blobs' }), 5, 'dry runs delete nothing')
  t.equal(s.value('berth_gc_deleted_objects_total', { kind: 'manifests' }), 1)
  t.equal(s.samples('berth_gc_deleted_objects_total', { kind: 'uploads' }).length, 0)
  t.equal(s.value('berth_gc_reclaimed_bytes_total'), 5100)
  t.equal(s.histogram('berth_gc_run_duration_seconds', { mode: 'delete' }).sum, 3)
  t.equal(s.value('berth_webhook_deliveries_total', { outcome: 'delivered' }), 2)
  t.equal(s.value('berth_webhook_deliveries_total', { outcome: 'retrying' }), 1)
  t.equal(s.value('berth_webhook_deliveries_total', { outcome: 'failed' }), 1)
  t.equal(s.value('berth_quota_usage_bytes', { namespace: 'team' }), 1234)
  t.equal(s.value('berth_quota_usage_bytes', { namespace: 'free' }), 99)
  t.equal(s.value('berth_quota_limit_bytes', { namespace: 'team' }), 10_000)
  t.equal(s.samples('berth_quota_limit_bytes', { namespace: 'free' }).length, 0, 'no limit, no sample')
  t.equal(reads, 1, 'one read of the usage per scrape')
})

t.test('access: loopback clients only without a token', async t => {
  const config = loadConfig({ BERTH_DATA_DIR: t.testdir(), LOG_LEVEL: 'silent' })
  const app = await buildApp(await createBerth(config))
  t.teardown(async () => { await app.close() })
  for (const remoteAddress of ['127.0.0.1', '127.5.6.7', '::1', '::ffff:127.0.0.1']) {
    const res = await app.inject({ url: '/metrics', remoteAddress })
    t.equal(res.statusCode, 200, `${remoteAddress} is answered`)
    t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  }
  for (const remoteAddress of ['10.0.0.8', '192.168.1.1', '::ffff:10.0.0.8', '2001:db8::1']) {
    const res = await app.inject({ url: '/metrics', remoteAddress, headers: { authorization: 'Bearer anything' } })
    t.equal(res.statusCode, 403, `${remoteAddress} is refused`)
    t.match(res.headers['content-type'], /^text\/plain/)
    t.match(res.body, /loopback clients only/)
  }
})

t.test('access: the bearer token when one is set, from any address', async t => {
  const config = loadConfig({ BERTH_DATA_DIR: t.testdir(), LOG_LEVEL: 'silent', BERTH_METRICS_TOKEN: 's3cret-token' })
  t.equal(config.metricsToken, 's3cret-token')
  const app = await buildApp(await createBerth(config))
  t.teardown(async () => { await app.close() })
  const ok = await app.inject({ url: '/metrics', remoteAddress: '10.0.0.8', headers: { authorization: 'Bearer s3cret-token' } })
  t.equal(ok.statusCode, 200)
  t.match(ok.body, /^# TYPE berth_http_requests_total counter$/m)
  for (const authorization of [undefined, 'Bearer wrong', 'Bearer s3cret-token2', 'Basic czNjcmV0LXRva2Vu', 's3cret-token']) {
    const res = await app.inject({ url: '/metrics', remoteAddress: '127.0.0.1', headers: authorization === undefined ? {} : { authorization } })
    t.equal(res.statusCode, 401, `refused with ${authorization ?? 'no header'}, even on loopback`)
    t.match(res.headers['content-type'], /^text\/plain/)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="metrics"')
    t.equal(res.body, 'a valid metrics bearer token is required\n')
  }
  // Berth's own users play no part: /metrics is not behind them, and their credentials do not open it.
  t.equal(loadConfig({ BERTH_METRICS_TOKEN: '' }).metricsToken, undefined, 'an empty token is no token')
})
