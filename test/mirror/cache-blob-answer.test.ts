// A blob the cache answers from the upstream (a GET streamed while stored, a HEAD) is answered once: the handler
// does not go on to answer it again from the store. Found by docker pulling through the cache, which logged
// "Cannot write headers after they are sent" for every layer it fetched; the client saw nothing wrong, so the
// test reads Berth's log.
import { createHash, randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import path from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import { tarLayer } from '../helpers/tar-layer.js'
import { startDistribution, tool } from './cache-upstream.js'

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

t.test('a blob fetched from the upstream is answered once, with no error logged', async t => {
  const upstream = await startDistribution(t)
  const dir = t.testdir({ 'big.tar': tarLayer('big.txt', randomBytes(400_000).toString('hex')), 'small.tar': tarLayer('small.txt', 'small\n') })
  await tool('crane', ['--insecure', 'append', '-f', path.join(dir, 'big.tar'), '-f', path.join(dir, 'small.tar'), '-t', `${upstream.host}/library/app:1`])
  const manifest = JSON.parse(await tool('crane', ['--insecure', 'manifest', `${upstream.host}/library/app:1`])) as { layers: Array<{ digest: string, size: number }> }
  const [big, small] = manifest.layers as [{ digest: string, size: number }, { digest: string, size: number }]

  const logged: Array<{ level: number, msg: string, err?: { message?: string } }> = []
  const sink = new Writable({ write (line: Buffer, _encoding, done) { logged.push(JSON.parse(line.toString()) as typeof logged[number]); done() } })
  const mirrors = [{ prefix: 'hub', upstream: upstream.url, upstreamPrefix: 'library' }]
  const config = loadConfig({ BERTH_DATA_DIR: path.join(dir, 'berth'), BERTH_MIRRORS: JSON.stringify(mirrors) })
  const app = await buildApp(await createBerth(config, { logger: pino({ level: 'warn' }, sink) }))
  t.teardown(async () => { await app.close() })
  const warnings = (): string[] => logged.filter(entry => entry.level >= 40 && !/NO USERS ARE CONFIGURED/.test(entry.msg))
    .map(entry => `${entry.msg}: ${entry.err?.message ?? ''}`)

  const head = await app.inject({ method: 'HEAD', url: `/v2/hub/app/blobs/${small.digest}` })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['docker-content-digest'], small.digest)
  t.equal(head.headers['content-length'], String(small.size))
  const get = await app.inject({ method: 'GET', url: `/v2/hub/app/blobs/${big.digest}` })
  t.equal(get.statusCode, 200)
  t.equal(get.rawPayload.length, big.size)
  t.equal(sha256(get.rawPayload), big.digest)
  const again = await app.inject({ method: 'GET', url: `/v2/hub/app/blobs/${big.digest}` })
  t.equal(sha256(again.rawPayload), big.digest, 'then served from the store')
  t.same(warnings(), [], 'nothing was answered twice')
})
