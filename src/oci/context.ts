import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import type { MirrorCache } from '../mirror/cache.js'
import type { Registry } from '../registry/index.js'
import type { OciAccess } from './access.js'

/** What a /v2 handler receives: the request, the reply, and the parts of the path its route captured. */
export interface OciContext {
  registry: Registry
  config: Config
  request: FastifyRequest
  reply: FastifyReply
  /** Repository name (validated), when the route has one. */
  name: string
  /** The last path segment the route captured: a tag or digest, a blob digest, or an upload id. */
  target: string
  /** The caller, already allowed to do what the route needs (src/oci/access.ts). */
  access: OciAccess
  /** The pull-through cache, when the name is under a mirror prefix (src/mirror/cache.ts). */
  mirror?: MirrorCache | undefined
}

export type OciHandler = (c: OciContext) => Promise<unknown>
