// Listings, each one page from one prefix listing: tags (end-8), referrers (end-12) and the catalog.
import { nameUnknown } from '../../errors/registry-error.js'
import { parseDigest } from '../../registry/digest.js'
import { MediaTypes } from '../../registry/manifest-schemas.js'
import type { OciContext } from '../context.js'
import { nextLink, pageLimit, queryString } from '../http.js'

export async function listTags (c: OciContext): Promise<unknown> {
  const { registry, config, request, reply, name } = c
  const limit = pageLimit(queryString(request.query, 'n'), config.pageSize)
  const last = queryString(request.query, 'last')
  // A mirrored name lists a page of the upstream's tags, or, when it cannot answer, the tags held.
  const upstream = limit === 0 ? undefined : await c.mirror?.upstreamTags(c, { limit, last })
  if (upstream === undefined && !await registry.catalog.exists(name)) throw nameUnknown(name)
  const page = upstream ?? (limit === 0 ? { items: [], truncated: false } : await registry.tags.list(name, { limit, last }))
  if (page.truncated) reply.header('Link', nextLink(`/v2/${name}/tags/list`, { n: limit, last: page.items.at(-1) }))
  return { name, tags: page.items }
}

export async function listCatalog ({ registry, config, request, reply, access }: OciContext): Promise<unknown> {
  const limit = pageLimit(queryString(request.query, 'n'), config.pageSize)
  const last = queryString(request.query, 'last')
  // Only the repositories the caller may pull are listed (all of them on an open registry or for admins).
  const page = limit === 0
    ? { items: [], truncated: false }
    : await access.readableNames(async r => await registry.catalog.list(r), last === undefined ? { limit } : { limit, last })
  if (page.truncated) reply.header('Link', nextLink('/v2/_catalog', { n: limit, last: page.items.at(-1) }))
  return { repositories: page.items }
}

export async function listReferrers (c: OciContext): Promise<unknown> {
  const { registry, config, request, reply, name, target } = c
  parseDigest(target)
  // A mirrored subject's referrers are first fetched from the upstream (src/mirror/cache.ts).
  await c.mirror?.prepareReferrers(c)
  const artifactType = queryString(request.query, 'artifactType')
  const last = queryString(request.query, 'last')
  const limit = pageLimit(queryString(request.query, 'n'), config.pageSize)
  const page = limit === 0 ? { items: [], truncated: false, last: undefined } : await registry.referrers.list(name, target, { limit, last })
  const manifests = artifactType === undefined ? page.items : page.items.filter(d => d.artifactType === artifactType)
  if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType')
  if (page.truncated) {
    reply.header('Link', nextLink(`/v2/${name}/referrers/${target}`, { n: limit, last: page.last, artifactType }))
  }
  // Sent as bytes: Fastify adds "; charset=utf-8" to string payloads, and clients (oras) compare this
  // Content-Type verbatim to decide whether the referrers API exists.
  return await reply.type(MediaTypes.ociIndex)
    .send(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests })))
}
