// Listing and search: filters, a plain case-insensitive substring match, pages with Link headers, and a
// cost of O(page) store operations, however many packages there are.
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import type { StorageDriver } from '../../src/storage/driver.js'
import { createDriver } from '../../src/storage/factory.js'
import { type Api, KPM_FILES, push, request, startApi, tarGz } from './helpers.js'

async function seed (api: Api, names: string[], mediaType = 'kpm'): Promise<void> {
  const blob = await tarGz(KPM_FILES('x'))
  for (const name of names) {
    const res = await push(api, name, '1.0.0', mediaType, blob)
    if (res.status !== 200) throw new Error(`${name}: ${res.text}`)
  }
}

const names = (res: { json: <T>() => T }): string[] => res.json<Array<{ name: string }>>().map(p => p.name)

t.test('search is a plain, case-insensitive substring match', async t => {
  const api = await startApi(t)
  await seed(api, ['titi/rocketchat', 'ant31/rocket.ui', 'ant31/kube-ui', 'core/etcd', 'core/etcd-operator'])
  const search = async (q: string): Promise<unknown> => (await api.request('GET', `/cnr/api/v1/packages/search?q=${encodeURIComponent(q)}`)).json()
  t.same(await search('rocket'), ['ant31/rocket.ui', 'titi/rocketchat'])
  t.same(await search('ROCKET'), ['ant31/rocket.ui', 'titi/rocketchat'], 'case-insensitive')
  t.same(await search('ui'), ['ant31/kube-ui', 'ant31/rocket.ui'], 'two characters')
  t.same(await search('t'), ['ant31/kube-ui', 'ant31/rocket.ui', 'core/etcd', 'core/etcd-operator', 'titi/rocketchat'], 'one character')
  t.same(await search('.*'), [], 'no regular expressions')
  t.same(await search('t.u'), ['ant31/rocket.ui'], 'a dot is a dot')
  t.same(await search('31/ku'), ['ant31/kube-ui'], 'across the slash')
  t.same(await search('etcd-op'), ['core/etcd-operator'])
  t.same(await search('zzz'), [])
  t.same(await search(''), ['ant31/kube-ui', 'ant31/rocket.ui', 'core/etcd', 'core/etcd-operator', 'titi/rocketchat'], 'no q: every package')
})

t.test('list filters combine: namespace, query, media_type', async t => {
  const api = await startApi(t)
  await seed(api, ['a/one', 'a/two', 'b/one', 'ab/one'])
  await seed(api, ['a/chart', 'b/chart'], 'helm')
  const list = async (query: string): Promise<string[]> => names(await api.request('GET', `/cnr/api/v1/packages?${query}`))
  t.same(await list(''), ['a/chart', 'a/one', 'a/two', 'ab/one', 'b/chart', 'b/one'])
  t.same(await list('namespace=a'), ['a/chart', 'a/one', 'a/two'], 'a namespace is a whole component')
  t.same(await list('query=one'), ['a/one', 'ab/one', 'b/one'])
  t.same(await list('namespace=b&query=ONE'), ['b/one'])
  t.same(await list('media_type=helm'), ['a/chart', 'b/chart'])
  t.same(await list('media_type=helm&namespace=b'), ['b/chart'])
  t.same(await list('media_type=dab'), [])
  const filtered = (await api.request('GET', '/cnr/api/v1/packages?media_type=helm')).json<Array<{ manifests: string[] }>>()
  t.same(filtered.map(p => p.manifests), [['helm'], ['helm']])
})

t.test('pages: n and last, with a Link to the next page', async t => {
  const api = await startApi(t)
  const all = Array.from({ length: 7 }, (_, i) => `ns/pkg${i}`)
  await seed(api, all)
  const seen: string[] = []
  let url: string | undefined = '/cnr/api/v1/packages?n=3'
  let pages = 0
  while (url !== undefined) {
    const res = await api.request('GET', url)
    seen.push(...names(res))
    const link = res.headers.link
    url = typeof link === 'string' ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined
    pages++
  }
  t.same(seen, all)
  t.equal(pages, 3)
  const search = await api.request('GET', '/api/v1/packages/search?q=pkg&n=2')
  t.same(search.json(), ['ns/pkg0', 'ns/pkg1'])
  t.equal(search.headers.link, '</api/v1/packages/search?q=pkg&n=2&last=ns%2Fpkg1>; rel="next"')
  t.same((await api.request('GET', '/api/v1/packages/search?q=pkg&n=2&last=ns%2Fpkg5')).json(), ['ns/pkg6'])
  t.equal((await api.request('GET', '/cnr/api/v1/packages?n=0')).status, 400)
})

/** A server whose store counts the read operations made while `counting` is set. */
async function countingApi (t: Test): Promise<{ api: Api, reads: () => number, reset: () => void }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-cnr-count-'))
  const config = loadConfig({ BERTH_DATA_DIR: dataDir, LOG_LEVEL: 'silent' })
  const store = await createDriver(config.storage)
  let reads = 0
  const counted = new Set(['read', 'readAll', 'readVersioned', 'stat', 'list'])
  const driver = new Proxy(store, {
    get (target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (counted.has(String(key))) reads++
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    }
  }) as StorageDriver
  const app = await buildApp(await createBerth(config, { driver }))
  t.teardown(async () => {
    await app.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return {
    api: { host: url.slice(7), url, request: async (method, p, options) => await request(url, method, p, options) },
    reads: () => reads,
    reset: () => { reads = 0 }
  }
}

t.test('a page costs O(page) store reads, not a read of every package', async t => {
  const { api, reads, reset } = await countingApi(t)
  const many = Array.from({ length: 60 }, (_, i) => `ns${i % 3}/package-${String(i).padStart(2, '0')}`)
  await seed(api, many)
  await seed(api, ['zz/needle'])

  const cost = async (url: string, expected: number): Promise<number> => {
    reset()
    const res = await api.request('GET', url)
    t.equal(res.json<unknown[]>().length, expected, url)
    return reads()
  }
  const page = await cost('/cnr/api/v1/packages?n=5', 5)
  t.ok(page <= 5 + 3, `a page of 5 out of 61 packages: ${page} reads`)
  const search = await cost('/cnr/api/v1/packages/search?q=needle', 1)
  t.ok(search <= 1 + 3, `a search with one hit among 61 packages: ${search} reads`)
  const namespace = await cost('/cnr/api/v1/packages?namespace=zz', 1)
  t.ok(namespace <= 1 + 3, `a namespace with one package: ${namespace} reads`)
})
