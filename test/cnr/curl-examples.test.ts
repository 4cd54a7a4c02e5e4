// The CNR-era curl examples, run with the real curl exactly as they were written (only the host changes):
// the cnr-server README's elasticsearch chart (push, manifest, blob by digest) and the curl script of its
// Documentation (foo/bar, toto/titi). The blobs are the examples' own base64 tarballs, so the digests the
// examples print must come back: the CNR digest is sha256 of the *uncompressed* tar, the size the gzip's.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { cnrDigest, startApi } from './helpers.js'

const exec = promisify(execFile)

async function curl (args: string[], cwd: string): Promise<string> {
  const { stdout } = await exec('curl', ['-sS', ...args], { cwd, maxBuffer: 16 * 1024 * 1024 })
  return stdout
}

// The elasticsearch chart of the cnr-server README ("Create and encode the chart tarball").
const ELASTICSEARCH = 'H4sIAGBoF1gAA+2XTY/aMBCGc86vGKlngk02iRpVq1aUQw+VKlr1bowhVp0P2QZp/33tZFkCy0dVAburnUdCBs/EMyR5XyfjgmkbPbBSBVeDONL0zo80S0h/bInTLKAxIUmaxkmSBoTSu3QUALleS1tWxjINELDKxvRE3rn4G6VipchBKGas5EYwzYuwqP1cYW1j8uFwKW2xmkW8LoePacPd9LXQRtZVDiQaRSScC8O1bGw7NelnwlQYu1gp+Nn9nFRLWYmwZLKy7uOWyUOAAXxjFYzrxUI8wCfJ2y+f50Ia38O9W98lqzb1VyENjP0dDI2u19KVBgYzZiTfq/w06LXkIgpf+rS/GkpWyYW7LGZ4vRpe41mWHNW/Y1//yYgEkFyvpS3vXP/b678j6oFZ84vtCmf9P4n3rn9KKEH/vwWskb83/r2m4R9ZzXPnz61NhqWz2jmzzHvtoY0CQLGZ6LwYNhasn2cBFEJLy5Z+WxGqDE0juD+oqbV9NP1ufa6kqGy3nIvl8HFESC/eCKH70biNGqEEt7U+3cdLn+pXyTH968vJ/6z+M0r39J+kNEP934KD+p+KRknO/CPcuK6srpVysru6G+iurMmB/rOoAawoG8Ws6PL6TXoON+rpN3uu4U2HHl73n1Y9gxNVAGTZ/tOdYD6KaES3pTc2uFnvqcaPvgkei3oT/F93m06+fP0+icr5Re+qXc7pn9L9/Z+6SdT/Lfiw+6IUhvhOhSAIgiAIgiAIgiAIgiAIgiBvnr97lKMIACgAAA=='
const ELASTICSEARCH_DIGEST = '72ed15c9a65961ecd034cca098ec18eb99002cd402824aae8a674a8ae41bd0ef'

t.test('cnr-server README: push the elasticsearch chart, find its digest, fetch the blob', async t => {
  const api = await startApi(t)
  const dir = t.testdir()
  const R = `http://${api.host}`
  const pushed = await curl(['-XPOST', `${R}/api/v1/packages/myname/elasticsearch`, '-d', `
{
  "blob": "${ELASTICSEARCH}",
  "release": "2.2.1",
  "media_type": "helm"
}`], dir)
  t.same(JSON.parse(pushed), { status: 'ok' }, 'curl -d sends a form Content-Type; the body is read as JSON anyway')

  const shown = JSON.parse(await curl(['-XGET', `${R}/api/v1/packages/myname/elasticsearch/2.2.1/helm`], dir)) as Record<string, unknown>
  t.match(shown, { created_at: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/ })
  t.same({ ...shown, created_at: 'T' }, {
    package: 'myname/elasticsearch',
    release: '2.2.1',
    created_at: 'T',
    mediaType: 'application/vnd.appr.package-manifest.helm.v0.json',
    metadata: null,
    content: {
      mediaType: 'application/vnd.appr.package.helm.v0.tar+gzip',
      size: 583,
      digest: ELASTICSEARCH_DIGEST,
      urls: []
    },
    channels: []
  })

  await curl(['-XGET', `${R}/api/v1/packages/myname/elasticsearch/blobs/sha256/${ELASTICSEARCH_DIGEST}`, '-o', 'elasticsearch-chart.tar.gz'], dir)
  const fetched = readFileSync(path.join(dir, 'elasticsearch-chart.tar.gz'))
  t.ok(fetched.equals(Buffer.from(ELASTICSEARCH, 'base64')), 'the fetched blob is the pushed tarball, byte for byte')
  t.equal(fetched.length, 583)
  t.equal(cnrDigest(fetched), ELASTICSEARCH_DIGEST)
})

// The kpm and helm blobs of the cnr-server Documentation's curl script.
const KPM = 'H4sIAP3mAFgAA+3OMQqEMBCF4ak9RU4gGaPxPClcVogKGou9/SpYrI2yhYjwf82DeVO8LvTtq5lS/gldlGvYhfflmlpX9jc3XtStV++KSsVqobUTYy/aszNPKYzGSOiT04O/s/6h3k2MQ3b3CgAAAAAAAAAAAAAAAADAv77X4+BWACgAAA=='
const HELM = 'H4sIANXqAFgAA+3OMQqDQBCF4alzij2BzLBxcgBPsoVgsUlA1yK3j4KFlWIhIvxf82DeFK/pUl+G6pfeWc6iE/fnnPaqdZ0LF4vz1euoUdTMzSToaYtWxqGkPgRJnxJt42+vv6muzfn7uHoFAAAAAAAAAAAAAAAAAOCoPyJ7ugAAKAAA'

t.test('cnr-server Documentation curl script: pushes, list, show, blobs by digest, delete', async t => {
  const api = await startApi(t)
  const dir = t.testdir()
  const R = `http://${api.host}`
  const post = async (pkg: string, blob: string, release: string, mediaType: string): Promise<unknown> =>
    JSON.parse(await curl(['-XPOST', `${R}/api/v1/packages/${pkg}`, '-d', `{"blob": "${blob}", "release": "${release}", "media_type": "${mediaType}"}`], dir))
  t.same(await post('foo/bar', KPM, '1.0.1', 'kpm'), { status: 'ok' })
  t.same(await post('foo/bar', HELM, '1.0.1', 'helm'), { status: 'ok' })
  t.same(await post('toto/titi', HELM, '4.2.1', 'helm'), { status: 'ok' })
  t.same(await post('toto/titi', HELM, '3.2.1', 'helm'), { status: 'ok' })

  const list = JSON.parse(await curl(['-XGET', `${R}/api/v1/packages`], dir)) as Array<Record<string, unknown>>
  t.same(list.map(p => [p.name, p.releases, p.default, p.manifests]), [
    ['foo/bar', ['1.0.1'], '1.0.1', ['helm', 'kpm']],
    ['toto/titi', ['4.2.1', '3.2.1'], '4.2.1', ['helm']]
  ])

  const helm = JSON.parse(await curl(['-XGET', `${R}/api/v1/packages/foo/bar/1.0.1/helm`], dir)) as { content: { digest: string } }
  t.equal(helm.content.digest, '92ba810abfe250d43cea35bad65906a7e199cd50b6cfeead6c66d31844223885')
  await curl(['-XGET', `${R}/api/v1/packages/foo/bar/blobs/sha256/92ba810abfe250d43cea35bad65906a7e199cd50b6cfeead6c66d31844223885`, '-o', 'foo_bar-92ba810a.tar.gz'], dir)
  t.ok(readFileSync(path.join(dir, 'foo_bar-92ba810a.tar.gz')).equals(Buffer.from(HELM, 'base64')))

  const kpm = JSON.parse(await curl(['-XGET', `${R}/api/v1/packages/foo/bar/1.0.1/kpm`], dir)) as { content: { digest: string } }
  t.equal(kpm.content.digest, '7da12a2f437eb6a327e0fc922c3d50c4a8259b8054ac358711d0de8a4fc178c0')
  await curl(['-XGET', `${R}/api/v1/packages/foo/bar/blobs/sha256/7da12a2f437eb6a327e0fc922c3d50c4a8259b8054ac358711d0de8a4fc178c0`, '-o', 'foo_bar-7da12a2.tar.gz'], dir)
  t.ok(readFileSync(path.join(dir, 'foo_bar-7da12a2.tar.gz')).equals(Buffer.from(KPM, 'base64')))

  t.same(JSON.parse(await curl(['-XDELETE', `${R}/api/v1/packages/foo/bar/1.0.1/helm`], dir)), { status: 'deleted', package: 'foo/bar', release: '1.0.1' })
  const after = JSON.parse(await curl(['-XGET', `${R}/api/v1/packages/foo/bar/1.0.1`], dir)) as Array<{ mediaType: string }>
  t.same(after.map(m => m.mediaType), ['application/vnd.appr.package-manifest.kpm.v0.json'])
})
