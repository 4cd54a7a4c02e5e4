// docker through the pull-through cache: an image pushed by crane into a real upstream (CNCF Distribution) is
// pulled by a real Docker engine (a private dockerd, test/helpers/dockerd.ts) from Berth's mirror prefix. docker
// reports the upstream's manifest digest, its image ID is the upstream's config digest and its layers are the
// pushed tar files byte for byte; Berth's store holds every blob under its digest, each fetched from the
// upstream once; pulled again after `docker rmi`, the image comes from Berth's store alone.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startDockerd } from '../helpers/dockerd.js'
import { startServer } from '../helpers/server-process.js'
import { tarLayer } from '../helpers/tar-layer.js'
import { startDistribution, tool } from './cache-upstream.js'

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

interface Inspect { Id: string, RepoDigests: string[], RepoTags: string[], RootFS: { Layers: string[] } }

t.test('docker pulls an upstream image through Berth', async t => {
  const upstream = await startDistribution(t)
  const dir = t.testdir()
  const crane = async (...args: string[]): Promise<string> => await tool('crane', ['--insecure', ...args], { cwd: dir })
  // two layers, each a tar file crane gzips: the uncompressed layer (docker's diff ID) is the file itself
  const tars = [['motd.txt', 100_000], ['data.txt', 750_000]].map(([name, size]) => {
    const file = path.join(dir, `${String(name)}.tar`)
    writeFileSync(file, tarLayer(String(name), randomBytes(Number(size)).toString('hex')))
    return file
  })
  const image = `${upstream.host}/library/app:1.0`
  for (const tar of tars) await crane('append', '-f', tar, ...(tar === tars[0] ? [] : ['-b', image]), '-t', image)
  const manifestBytes = Buffer.from(await crane('manifest', image), 'latin1')
  const digest = sha256(manifestBytes)
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as { config: { digest: string }, layers: Array<{ digest: string }> }
  t.equal(manifest.layers.length, 2)

  const dataDir = path.join(dir, 'berth')
  const berth = await startServer(t, {
    BERTH_DATA_DIR: dataDir,
    BERTH_MIRRORS: JSON.stringify([{ prefix: 'hub', upstream: upstream.url, upstreamPrefix: 'library', ttlSeconds: 86400 }]),
    LOG_LEVEL: 'error'
  })
  const { docker } = await startDockerd(t)
  const ref = `${berth.host}/hub/app`

  const pull = await docker(['pull', `${ref}:1.0`])
  t.match(pull, `Digest: ${digest}`, 'docker reports the upstream\'s manifest digest')
  const [inspected] = JSON.parse(await docker(['image', 'inspect', `${ref}:1.0`])) as Inspect[]
  t.equal(inspected?.Id, manifest.config.digest, 'the image ID is the upstream\'s config digest')
  t.same(inspected?.RepoDigests, [`${ref}@${digest}`])
  t.same(inspected?.RootFS.Layers, tars.map(tar => sha256(readFileSync(tar))), 'the layers are the pushed tar files, byte for byte')

  // Berth's store holds the manifest, the config and both layers, each under its digest, with the upstream's bytes
  for (const blob of [digest, manifest.config.digest, ...manifest.layers.map(l => l.digest)]) {
    const hex = blob.slice('sha256:'.length)
    const stored = readFileSync(path.join(dataDir, 'objects', 'blobs', 'sha256', hex.slice(0, 2), `${hex}~`))
    t.equal(sha256(stored), blob, `the store holds ${blob.slice(0, 19)}... under its digest`)
    if (blob !== digest) t.ok(stored.equals(Buffer.from(await crane('blob', `${upstream.host}/library/app@${blob}`), 'latin1')), 'with the upstream\'s bytes')
  }
  for (const blob of [manifest.config.digest, ...manifest.layers.map(l => l.digest)]) {
    t.equal(upstream.requests.filter(r => r.startsWith(`GET /v2/library/app/blobs/${blob} `)).length, 2, `${blob.slice(0, 19)}... fetched once by Berth (and once by this test)`)
  }

  // after rmi, the pull comes from Berth's store: no request reaches the upstream
  await docker(['rmi', `${ref}:1.0`])
  const before = upstream.requests.length
  t.match(await docker(['pull', `${ref}@${digest}`]), `Digest: ${digest}`)
  const [again] = JSON.parse(await docker(['image', 'inspect', `${ref}@${digest}`])) as Inspect[]
  t.equal(again?.Id, manifest.config.digest)
  t.equal(upstream.requests.length, before, 'the second pull is served from Berth\'s store')
})
