// Keeps the CNR package index in step with manifests pushed or deleted through /v2 (helm push, oras,
// crane...), so that they show in CNR lists and searches. It watches successful /v2 manifest writes at the
// HTTP level, before the response goes out (a client that lists right after pushing sees its push), and
// never fails the /v2 request: a sync error is logged, and the next write to the package repairs it.
//
// This is the interim wiring: the registry's manifest service has no change notifications yet. With an
// `onTagsChanged(name, tags)` hook on manifests.put/delete, this plugin becomes a subscriber and stops
// parsing /v2 URLs.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { looksLikeDigest } from '../registry/digest.js'
import type { CnrService } from './service.js'

const MANIFEST_URL = /^\/v2\/([a-z0-9._-]+\/[a-z0-9._-]+)\/manifests\/([^/?#]+)(?:\?(.*))?$/

/** The package and the tags a successful /v2 response changed; undefined when it changed none. */
export function changedTags (method: string, url: string, status: number): { name: string, tags: string[] | 'all' } | undefined {
  const match = MANIFEST_URL.exec(url)
  if (match === null) return undefined
  const name = match[1] as string
  const reference = decodeURIComponent(match[2] as string)
  if (method === 'PUT' && status === 201) {
    const extra = new URLSearchParams(match[3] ?? '').getAll('tag')
    const tags = looksLikeDigest(reference) ? extra : [reference, ...extra]
    return tags.length > 0 ? { name, tags } : undefined
  }
  if (method === 'DELETE' && status === 202) {
    // A digest delete removes every tag that named the manifest: re-read them all.
    return { name, tags: looksLikeDigest(reference) ? 'all' : [reference] }
  }
  return undefined
}

async function observer (app: FastifyInstance, { service }: { service: CnrService }): Promise<void> {
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (request.method !== 'PUT' && request.method !== 'DELETE') return payload
    const change = changedTags(request.method, request.url, reply.statusCode)
    if (change === undefined) return payload
    try {
      if (change.tags === 'all') await service.syncAll(change.name)
      else await service.syncTags(change.name, change.tags)
    } catch (err) {
      request.log.warn({ err, repository: change.name }, 'could not update the CNR index after a /v2 write')
    }
    return payload
  })
}

export const cnrObserver = fp(observer, { fastify: '5.x', name: 'berth-cnr-observer' })
