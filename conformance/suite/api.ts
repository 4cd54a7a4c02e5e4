// Base API checks: the /v2/ ping, an empty repository (§2.6), error envelopes and /v2/_catalog pagination.
import { expect, expectEqual, expectErrorBody, expectHeaderEquals, expectJsonObject, expectStatus } from './expect.js'
import type { Suite } from './harness.js'
import { nextLink, type Client, type Res } from './http.js'
import { expectReferrersIndex } from './discovery.js'
import {
  configBlob, deleteManifestTolerant, descriptor, getManifest, imageManifest, MT, paths, pushBlob, pushManifest,
  putManifest, randomBlob, unknownDigest, type Ctx, type Manifest
} from './oci.js'

export function baseGroup (suite: Suite, ctx: Ctx): void {
  const { client, repo, run } = ctx
  suite.group('API', (g) => {
    g.test('GET /v2/ returns 200 with Docker-Distribution-API-Version: registry/2.0', async () => {
      const res = await client.get('/v2/')
      expectStatus(res, 200)
      expectHeaderEquals(res, 'docker-distribution-api-version', 'registry/2.0')
    })
    const empty = `${repo}-empty-${run}`
    g.test('tags/list of an empty repository returns 200 (no tags) or 404 NAME_UNKNOWN', async () => {
      const res = await client.get(paths.tags(empty))
      expectStatus(res, 200, 404)
      if (res.status === 404) {
        expectErrorBody(res, ['NAME_UNKNOWN'])
      } else {
        const tags = expectJsonObject(res).tags
        expect(tags === null || tags === undefined || (Array.isArray(tags) && tags.length === 0), 'empty repository lists tags', res)
      }
    })
    g.test('referrers in an empty repository return 200 with an empty image index', async () => {
      const list = expectReferrersIndex(await client.get(paths.referrers(empty, unknownDigest())))
      expectEqual(list.length, 0, 'number of referrers')
    })
  })
}

export function errorGroup (suite: Suite, ctx: Ctx): void {
  const { client, repo } = ctx
  suite.group('Error responses', (g) => {
    g.test('GET unknown blob returns 404 with a BLOB_UNKNOWN error body', async () => {
      const res = await client.get(paths.blob(repo, unknownDigest()))
      expectStatus(res, 404)
      expectErrorBody(res, ['BLOB_UNKNOWN'])
    })
    g.test('GET unknown manifest returns 404 with a MANIFEST_UNKNOWN error body', async () => {
      const res = await getManifest(client, repo, unknownDigest())
      expectStatus(res, 404)
      expectErrorBody(res, ['MANIFEST_UNKNOWN'])
    })
    g.test('GET unknown upload session returns 404 with a BLOB_UPLOAD_UNKNOWN error body', async () => {
      const res = await client.get(`${paths.uploads(repo)}00000000-0000-4000-8000-000000000000`)
      expectStatus(res, 404)
      expectErrorBody(res, ['BLOB_UPLOAD_UNKNOWN'])
    })
    g.test('PUT of a malformed manifest returns 400 MANIFEST_INVALID', async () => {
      const bytes = Buffer.from('{"schemaVersion": 2, "mediaType": ')
      const m: Manifest = { bytes, digest: descriptor(MT.manifest, bytes).digest, mediaType: MT.manifest, body: {} }
      const res = await putManifest(client, repo, 'malformed', m)
      expectStatus(res, 400)
      expectErrorBody(res, ['MANIFEST_INVALID'])
    })
  })
}

/** Walks /v2/_catalog following Link rel="next"; returns every page's repositories. */
async function walkCatalog (client: Client, n: number): Promise<{ pages: string[][], last: Res }> {
  const pages: string[][] = []
  let res = await client.get(paths.catalog(), { query: { n } })
  for (let i = 0; ; i++) {
    expectStatus(res, 200)
    const repos = expectJsonObject(res).repositories
    expect(Array.isArray(repos), '"repositories" must be an array', res)
    expect(repos.length <= n, `page has ${repos.length} repositories, more than n=${n}`, res)
    pages.push(repos as string[])
    const next = nextLink(res)
    if (next === null || i >= 10_000) return { pages, last: res }
    res = await client.get(next)
  }
}

export function catalogGroup (suite: Suite, ctx: Ctx): void {
  const { client, repo, run } = ctx
  suite.group('Catalog', (g) => {
    const repos = ['a', 'b', 'c'].map((s) => `${repo}-catalog-${run}/${s}`)
    const config = configBlob()
    const layer = randomBlob(100)
    const manifest: Manifest = imageManifest({ config: descriptor(MT.config, config), layers: [descriptor(MT.layer, layer)] })
    let all: string[] = []
    g.test('push one manifest to each of three new repositories', async () => {
      for (const r of repos) {
        await pushBlob(client, r, config)
        await pushBlob(client, r, layer)
        await pushManifest(client, r, 'latest', manifest)
      }
    })
    g.test('GET /v2/_catalog returns 200, sorted, listing the new repositories', async () => {
      const res = await client.get(paths.catalog())
      expectStatus(res, 200)
      const list = expectJsonObject(res).repositories
      expect(Array.isArray(list) && list.every((r) => typeof r === 'string'), '"repositories" must be an array of strings', res)
      all = list as string[]
      const missing = repos.filter((r) => !all.includes(r))
      expect(missing.length === 0, `catalog lacks ${missing.join(', ')}`, res)
      expect(all.every((r, i) => i === 0 || (all[i - 1] as string) < r), 'catalog is not in lexical order without duplicates', res)
    })
    g.test('GET /v2/_catalog?n=1 returns one repository and Link rel="next"', async () => {
      const res = await client.get(paths.catalog(), { query: { n: 1 } })
      expectStatus(res, 200)
      const list = expectJsonObject(res).repositories
      expect(Array.isArray(list) && list.length === 1, 'n=1 should return exactly one repository', res)
      expect(nextLink(res) !== null, 'truncated catalog page has no Link rel="next"', res)
    })
    g.test('following Link rel="next" pages through the whole catalog exactly once', async () => {
      expect(all.length > 0, 'needs the full catalog from the previous check')
      const { pages, last } = await walkCatalog(client, 2)
      expectEqual(pages.flat().join(','), all.join(','), 'concatenated catalog pages', last)
    })
    g.test('GET /v2/_catalog?last=<repo> starts after that repository', async () => {
      const first = repos[0] as string
      const res = await client.get(paths.catalog(), { query: { last: first } })
      expectStatus(res, 200)
      const list = expectJsonObject(res).repositories
      expect(Array.isArray(list), '"repositories" must be an array', res)
      expectEqual(list.join(','), all.slice(all.indexOf(first) + 1).join(','), `repositories after ${first}`, res)
    })
    g.test('delete the catalog test manifests', async () => {
      for (const r of repos) await deleteManifestTolerant(client, r, manifest.digest)
    })
  })
}
