// Sends a response body, taking the allocation-free path for file ranges (src/storage/file-range-stream.ts):
// their pieces are written straight to the socket, each buffer filled again only once the socket has taken it.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { FileRangeStream } from '../storage/file-range-stream.js'

export async function sendBody (reply: FastifyReply, body: Readable | Buffer): Promise<FastifyReply> {
  if (!(body instanceof FileRangeStream)) return await reply.send(body)
  // Fastify no longer handles this reply: its status and headers are written here, and its completion logged
  // here as Fastify logs its own.
  reply.hijack()
  const res = reply.raw
  res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders)
  try {
    await body.copyTo(async piece => { await writePiece(res, piece) })
    await new Promise<void>(resolve => { res.end(resolve) })
    reply.log.info({ res: reply, responseTime: reply.elapsedTime }, 'request completed')
  } catch (err) {
    // The status line is out: all a client can be told now is that the body is cut short.
    reply.log.warn({ err, res: reply }, 'response body cut short')
    res.destroy()
  }
  return reply
}

/** Resolves once the socket has taken `piece` (its buffer may then be reused), or rejects if the client left. */
async function writePiece (res: ServerResponse, piece: Buffer): Promise<void> {
  if (res.destroyed) throw new Error('the client closed the connection')
  await new Promise<void>((resolve, reject) => {
    // A write still queued when the socket is destroyed may never call back: 'close' settles it then.
    const onClose = (): void => { reject(new Error('the client closed the connection')) }
    res.once('close', onClose)
    res.write(piece, err => {
      res.off('close', onClose)
      if (err === undefined || err === null) resolve()
      else reject(err)
    })
  })
}
