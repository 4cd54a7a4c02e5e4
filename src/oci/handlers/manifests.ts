// Manifest endpoints: GET/HEAD (end-3), PUT (end-7), DELETE (end-9).
import type { ManifestRef } from '../../registry/manifests.js'
import type { OciContext } from '../context.js'
import { parseAccept, queryList, readBodyLimited, urls } from '../http.js'

async function negotiate (c: OciContext): Promise<ManifestRef> {
  const { registry, request, reply, name, target } = c
  await c.mirror?.prepareManifest(c)
  const ref = await registry.manifests.negotiate(name, target, parseAccept(request.headers.accept))
  reply.type(ref.mediaType)
    .header('Docker-Content-Digest', ref.digest)
    .header('ETag', `"${ref.digest}"`)
    .header('Content-Length', ref.size)
  return ref
}

export async function headManifest (c: OciContext): Promise<unknown> {
  await negotiate(c)
  return await c.reply.send()
}

export async function getManifest (c: OciContext): Promise<unknown> {
  const ref = await negotiate(c)
  const { bytes } = await c.registry.manifests.read(ref)
  const { events } = c.registry
  // Pull events are opt-in (sampled webhooks): without a listener nothing is built.
  if (events.listens('manifest-pulled')) {
    await events.emit('manifest-pulled', { repository: c.name, reference: c.target, digest: ref.digest, mediaType: ref.mediaType, size: ref.size })
  }
  return await c.reply.send(bytes)
}

export async function putManifest ({ registry, config, request, reply, name, target }: OciContext): Promise<unknown> {
  const bytes = await readBodyLimited(request.raw, request.headers['content-length'], config.maxManifestBytes)
  const extraTags = queryList(request.query, 'tag')
  const result = await registry.manifests.put(name, target, bytes, request.headers['content-type'], extraTags)
  reply.code(201)
    .header('Location', urls.manifest(name, result.digest))
    .header('Docker-Content-Digest', result.digest)
    .header('Content-Length', 0)
  if (result.subject !== undefined) reply.header('OCI-Subject', result.subject)
  if (extraTags.length > 0) reply.header('OCI-Tag', result.tags)
  return await reply.send()
}

export async function deleteManifest ({ registry, reply, name, target }: OciContext): Promise<unknown> {
  await registry.manifests.delete(name, target)
  return await reply.code(202).header('Content-Length', 0).send()
}
