// The tags list of a mirrored name costs one upstream page per page: against a real upstream (CNCF Distribution)
// holding 250 tags, Berth's pages and Link headers cross the page boundaries exactly, `n` and `last` reach the
// upstream (its access log shows one tags-list request per page, with them), and with the upstream stopped the
// tags held are listed, with the stale header.
import t from 'tap'
import { mapLimit } from '../../src/util/map-limit.js'
import { startServer } from '../helpers/server-process.js'
import { startDistribution, tool } from './cache-upstream.js'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const TAGS = Array.from({ length: 250 }, (_, i) => `t${String(i).padStart(3, '0')}`)

t.test('a page of a mirrored tags list is one upstream page', async t => {
  const upstream = await startDistribution(t)
  const dir = t.testdir({ 'one.txt': 'one image, many tags\n' })
  await tool('oras', ['push', '--plain-http', `${upstream.host}/library/many:t000`, 'one.txt'], { cwd: dir })
  const manifest = Buffer.from(await (await fetch(`${upstream.url}/v2/library/many/manifests/t000`, { headers: { accept: OCI_MANIFEST } })).arrayBuffer())
  // Tagged over the HTTP API (a PUT of the same manifest per tag), not one process per tag.
  await mapLimit(TAGS.slice(1), 8, async tag => {
    const res = await fetch(`${upstream.url}/v2/library/many/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: manifest })
    await res.body?.cancel()
    if (res.status !== 201) throw new Error(`tagging ${tag}: ${res.status}`)
  })

  const berth = await startServer(t, {
    BERTH_MIRRORS: JSON.stringify([{ prefix: 'hub', upstream: upstream.url, upstreamPrefix: 'library', ttlSeconds: 86400 }]),
    LOG_LEVEL: 'error'
  })
  const list = async (query: string): Promise<{ tags: string[], link: string | null, stale: string | null, status: number }> => {
    const res = await fetch(`${berth.url}/v2/hub/many/tags/list${query}`)
    const body = await res.json() as { name: string, tags: string[] }
    return { tags: body.tags, link: res.headers.get('link'), stale: res.headers.get('berth-mirror'), status: res.status }
  }
  const tagRequests = (): string[] => upstream.requests.filter(r => r.startsWith('GET /v2/library/many/tags/list'))
  /** The upstream's tags-list requests since `before`, once its access log has caught up with `count` of them. */
  const requestsSince = async (before: number, count: number): Promise<string[]> => {
    const deadline = Date.now() + 10_000
    while (tagRequests().length < before + count && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
    await new Promise(resolve => setTimeout(resolve, 200)) // any request beyond `count` would show by now
    return tagRequests().slice(before).map(r => r.split(' ')[1] as string)
  }

  await t.test('pages and Link headers across the boundaries, one upstream request each', async t => {
    const before = tagRequests().length
    const first = await list('?n=100')
    t.equal(first.status, 200)
    t.same(first.tags, TAGS.slice(0, 100))
    t.equal(first.link, '</v2/hub/many/tags/list?n=100&last=t099>; rel="next"')
    const second = await list('?n=100&last=t099')
    t.same(second.tags, TAGS.slice(100, 200))
    t.equal(second.link, '</v2/hub/many/tags/list?n=100&last=t199>; rel="next"')
    const third = await list('?n=100&last=t199')
    t.same(third.tags, TAGS.slice(200), 'the last page is short')
    t.equal(third.link, null, 'and has no Link')
    t.same(await requestsSince(before, 3), [
      '/v2/library/many/tags/list?n=101',
      '/v2/library/many/tags/list?n=101&last=t099',
      '/v2/library/many/tags/list?n=101&last=t199'
    ], 'one upstream page per page, with n and last passed through')
  })

  await t.test('a page that ends exactly at the end of the list has no Link', async t => {
    const before = tagRequests().length
    const exact = await list('?n=50&last=t199')
    t.same(exact.tags, TAGS.slice(200))
    t.equal(exact.link, null)
    const boundary = await list('?n=50&last=t149')
    t.same(boundary.tags, TAGS.slice(150, 200))
    t.equal(boundary.link, '</v2/hub/many/tags/list?n=50&last=t199>; rel="next"')
    const past = await list('?n=10&last=t249')
    t.same(past.tags, [], 'after the last tag: an empty page')
    t.equal(past.link, null)
    t.equal((await requestsSince(before, 3)).length, 3)
    const all = await list('')
    t.same(all.tags, TAGS, 'the default page holds them all')
    t.equal(all.link, null)
  })

  await t.test('with the upstream stopped, the tags held are listed', async t => {
    const pulled = await fetch(`${berth.url}/v2/hub/many/manifests/t007`, { headers: { accept: OCI_MANIFEST } })
    t.equal(pulled.status, 200)
    t.ok(Buffer.from(await pulled.arrayBuffer()).equals(manifest))
    await upstream.stop()
    const held = await list('?n=10')
    t.equal(held.status, 200)
    t.equal(held.stale, 'stale; upstream unavailable')
    t.same(held.tags, ['t007'])
    const unknown = await fetch(`${berth.url}/v2/hub/never/tags/list`)
    t.equal(unknown.status, 404)
    t.equal(((await unknown.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'NAME_UNKNOWN')
  })
})
