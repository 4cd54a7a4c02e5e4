// The package-repository API with plain curl, as its documentation shows it, asserting on bytes and
// listings; and the files as OCI artifacts that oras pulls.
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { toolPath } from '../../scripts/tool-paths.mjs'
import { startApi } from '../cnr/helpers.js'

const exec = promisify(execFile)

/** curl, returning the status code and the body (-w appends the status on a line of its own). */
async function curl (args: string[], cwd: string): Promise<{ status: number, body: string }> {
  const { stdout } = await exec('curl', ['-sS', '-w', '\n%{http_code}', ...args], { cwd, maxBuffer: 256 * 1024 * 1024 })
  const cut = stdout.lastIndexOf('\n')
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) }
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex')

t.test('upload, list, download and delete with curl', async t => {
  const api = await startApi(t)
  const dir = t.testdir()
  const host = `http://${api.host}`
  const files: Record<string, Buffer> = {
    'my-package-1.0.0.tar.gz': randomBytes(1000),
    'my-package-1.0.10.tar.gz': randomBytes(2000),
    'my-package-1.0.9.tar.gz': randomBytes(3000),
    'my-package-1.1.0-rc1.tar.gz': randomBytes(100),
    'spark-batch-example-app-1.0.23.tar.gz': randomBytes(500)
  }
  for (const [file, content] of Object.entries(files)) {
    writeFileSync(path.join(dir, file), content)
    const up = await curl([`${host}/packages/${file}`, '--upload-file', file], dir)
    t.equal(up.status, 200, `PUT ${file}`)
    t.equal(up.body, '')
  }

  const listing = await curl([`${host}/packages`], dir)
  t.equal(listing.status, 200)
  t.same(JSON.parse(listing.body), [
    { name: 'my-package', latest_versions: [{ version: '1.1.0-rc1', file: 'my-package-1.1.0-rc1.tar.gz' }] },
    { name: 'spark-batch-example-app', latest_versions: [{ version: '1.0.23', file: 'spark-batch-example-app-1.0.23.tar.gz' }] }
  ], 'recency defaults to 1')
  t.same(JSON.parse((await curl([`${host}/packages?recency=4`], dir)).body)[0], {
    name: 'my-package',
    latest_versions: ['1.1.0-rc1', '1.0.10', '1.0.9', '1.0.0'].map(version => ({ version, file: `my-package-${version}.tar.gz` }))
  }, 'versions in version order, not name order')

  for (const [file, content] of Object.entries(files)) {
    const got = await curl([`${host}/packages/${file}`, '-o', `down-${file}`], dir)
    t.equal(got.status, 200)
    t.ok(readFileSync(path.join(dir, `down-${file}`)).equals(content), `GET ${file}: the bytes uploaded`)
  }

  // Uploading again replaces the file.
  const replaced = randomBytes(1234)
  writeFileSync(path.join(dir, 'my-package-1.0.0.tar.gz'), replaced)
  t.equal((await curl([`${host}/packages/my-package-1.0.0.tar.gz`, '--upload-file', 'my-package-1.0.0.tar.gz'], dir)).status, 200)
  await curl([`${host}/packages/my-package-1.0.0.tar.gz`, '-o', 'again.tar.gz'], dir)
  t.ok(readFileSync(path.join(dir, 'again.tar.gz')).equals(replaced))

  const del = await curl(['-X', 'DELETE', `${host}/packages/my-package-1.1.0-rc1.tar.gz`], dir)
  t.equal(del.status, 200)
  t.same(JSON.parse((await curl([`${host}/packages?recency=1`], dir)).body)[0], {
    name: 'my-package', latest_versions: [{ version: '1.0.10', file: 'my-package-1.0.10.tar.gz' }]
  })
  t.same(await curl([`${host}/packages/my-package-1.1.0-rc1.tar.gz`], dir), { status: 404, body: '404 not found\n' })
  t.equal((await curl(['-X', 'DELETE', `${host}/packages/my-package-1.1.0-rc1.tar.gz`], dir)).status, 404)

  // A package whose every version is deleted is no longer listed.
  t.equal((await curl(['-X', 'DELETE', `${host}/packages/spark-batch-example-app-1.0.23.tar.gz`], dir)).status, 200)
  t.same(JSON.parse((await curl([`${host}/packages`], dir)).body).map((p: { name: string }) => p.name), ['my-package'])
})

t.test('bad names and requests: 400 or 404 with a text message, never a 500', async t => {
  const api = await startApi(t)
  const dir = t.testdir({ 'x.tar.gz': 'x' })
  const host = `http://${api.host}`
  for (const bad of ['nodash.tar.gz', 'name-1.0.tar.gz', 'name-1.0.0.zip', 'Upper-1.0.0.tar.gz', 'name-v1.0.0.tar.gz', '-1.0.0.tar.gz']) {
    const res = await curl([`${host}/packages/${bad}`, '--upload-file', 'x.tar.gz'], dir)
    t.equal(res.status, 400, bad)
    t.match(res.body, /<name>-<major>\.<minor>\.<patch>/)
  }
  t.equal((await curl([`${host}/packages/nodash.tar.gz`], dir)).status, 404)
  t.equal((await curl([`${host}/packages/absent-1.0.0.tar.gz`], dir)).status, 404)
  t.equal((await curl([`${host}/packages?recency=zero`], dir)).status, 400)
  t.equal((await curl([`${host}/packages/a/b`], dir)).status, 404)
  t.same(JSON.parse((await curl([`${host}/packages/`], dir)).body), [], 'an empty repository lists nothing')
})

t.test('a large file streams in and out unchanged', async t => {
  const api = await startApi(t)
  const dir = t.testdir()
  const big = randomBytes(48 * 1024 * 1024)
  writeFileSync(path.join(dir, 'big-2.0.0.tar.gz'), big)
  t.equal((await curl([`http://${api.host}/packages/big-2.0.0.tar.gz`, '--upload-file', 'big-2.0.0.tar.gz'], dir)).status, 200)
  t.equal((await curl([`http://${api.host}/packages/big-2.0.0.tar.gz`, '-o', 'big.out'], dir)).status, 200)
  t.equal(sha256(readFileSync(path.join(dir, 'big.out'))), sha256(big))
})

t.test('files are OCI artifacts: packages/<name>:<version>, one layer titled with the file name', async t => {
  const api = await startApi(t)
  const dir = t.testdir()
  const content = randomBytes(4096)
  writeFileSync(path.join(dir, 'tool-3.2.1.tar.gz'), content)
  await curl([`http://${api.host}/packages/tool-3.2.1.tar.gz`, '--upload-file', 'tool-3.2.1.tar.gz'], dir)
  const manifest = (await api.request('GET', '/v2/packages/tool/manifests/3.2.1', { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json<{
    artifactType: string, layers: Array<{ digest: string, size: number, annotations: Record<string, string> }>
  }>()
  t.equal(manifest.artifactType, 'application/vnd.berth.package.v1')
  t.same(manifest.layers.map(l => [l.digest, l.size, l.annotations['org.opencontainers.image.title']]),
    [[`sha256:${sha256(content)}`, content.length, 'tool-3.2.1.tar.gz']])
  mkdirSync(path.join(dir, 'out'))
  await exec(toolPath('oras'), ['pull', '--plain-http', '-o', 'out', `${api.host}/packages/tool:3.2.1`], { cwd: dir, env: { ...process.env, HOME: dir } })
  t.ok(readFileSync(path.join(dir, 'out', 'tool-3.2.1.tar.gz')).equals(content), 'oras pull writes the same file')
})
