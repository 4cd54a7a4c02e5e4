// Blob endpoints: GET/HEAD (end-2, with single byte ranges, or a presigned redirect) and DELETE (end-10).
import { sendBody } from '../../http/send-body.js'
import { parseDigest } from '../../registry/digest.js'
import { paths } from '../../storage/paths.js'
import type { OciContext } from '../context.js'
import { parseBlobRange } from '../http.js'

async function describe ({ registry, reply, name, target }: OciContext): Promise<number> {
  parseDigest(target)
  const { size } = await registry.blobs.stat(name, target)
  reply.header('Docker-Content-Digest', target).header('Accept-Ranges', 'bytes').type('application/octet-stream')
  return size
}

export async function headBlob (c: OciContext): Promise<unknown> {
  if (c.mirror !== undefined && await c.mirror.serveBlob(c, true)) return c.reply
  const size = await describe(c)
  return await c.reply.header('Content-Length', size).send()
}

export async function getBlob (c: OciContext): Promise<unknown> {
  if (c.mirror !== undefined && await c.mirror.serveBlob(c, false)) return c.reply
  const size = await describe(c)
  const { storage } = c.config
  const presign = c.registry.driver.presignedUrl
  // Presigned redirect: the client fetches the bytes from the store itself. Never for Range requests,
  // whose 206 semantics stay here.
  if (storage.driver === 's3' && storage.s3.presignedRedirects && presign !== undefined && c.request.headers.range === undefined) {
    const url = await presign.call(c.registry.driver, paths.blob(c.target), { expiresSeconds: storage.s3.presignExpirySeconds })
    return await c.reply.code(307).header('Location', url).header('Content-Length', 0).send()
  }
  const range = parseBlobRange(c.request.headers.range, size)
  if (range === undefined) {
    c.reply.header('Content-Length', size)
  } else {
    c.reply.code(206)
      .header('Content-Range', `bytes ${range.start}-${range.end}/${size}`)
      .header('Content-Length', range.end - range.start + 1)
  }
  return await sendBody(c.reply, await c.registry.blobs.download(c.name, c.target, size, range))
}

export async function deleteBlob ({ registry, reply, name, target }: OciContext): Promise<unknown> {
  await registry.blobs.delete(name, target)
  return await reply.code(202).header('Content-Length', 0).send()
}
