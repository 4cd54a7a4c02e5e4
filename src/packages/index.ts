// The package-repository API at /packages (the PNDA platform-package-repository API):
//   GET    /packages?recency=n   [{name, latest_versions: [{version, file}]}], n versions each (default 1)
//   GET    /packages/<file>      the file (200), or 404
//   PUT    /packages/<file>      store the body as the file (200; `curl --upload-file`), or 400 for a bad name
//   DELETE /packages/<file>      200, or 404
// Bodies stream between the socket and the store. Errors are short text bodies, as that API's were.
// Authorization: a file belongs to repository `packages/<name>`; GET needs pull on it (the listing shows only
// the packages the caller may pull), PUT push, DELETE delete. Denials are 401 (with a Basic challenge: curl
// and the PNDA tooling send Basic credentials) or 403, as text like every other error here.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Auth, RepositoryAction } from '../auth/index.js'
import type { Config } from '../config.js'
import type { MirrorCache } from '../mirror/cache.js'
import { MIRROR_HEADER, withMirrorNote } from '../mirror/notes.js'
import { errorReply } from '../http/error-reply.js'
import { sendBody } from '../http/send-body.js'
import { packagesDialect, setRealm } from './errors.js'
import { PackageFileError, parseFile, type PackageService } from './service.js'

export interface PackagesPluginOptions {
  packages: PackageService
  auth: Auth
  config: Config
  /** Uploads and deletes under a read-only mirror prefix are refused (403), as on /v2. */
  mirror?: Pick<MirrorCache, 'assertWritable' | 'covers'> | undefined
}

function positiveInt (value: unknown, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback
  const n = Number(value)
  if (typeof value !== 'string' || !Number.isInteger(n) || n < 1) throw new PackageFileError(400, `${name} must be a positive integer`)
  return n
}

export async function packagesApi (app: FastifyInstance, { packages, auth, config, mirror }: PackagesPluginOptions): Promise<void> {
  setRealm(app, auth.config.service)
  /**
   * Checks `action` on the file's repository. A name that is not a package file name belongs to no repository:
   * the service answers it (400 or 404) without revealing anything.
   */
  const requireAccess = async (request: FastifyRequest, action: RepositoryAction): Promise<void> => {
    const file = parseFile((request.params as { file: string }).file)
    if (file === undefined) return
    await auth.requireAccess(request, file.repository, action)
    if (action !== 'pull') mirror?.assertWritable(file.repository)
  }
  // Uploads are read from request.raw as a stream: no body parser may consume them first.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })
  const packagesErrorHandler = errorReply(packagesDialect)
  app.setErrorHandler(packagesErrorHandler)
  app.setNotFoundHandler(async (request, reply) => {
    await packagesErrorHandler(new PackageFileError(404, '404 not found'), request, reply)
  })

  const list = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const query = request.query as Record<string, unknown>
    const recency = positiveInt(query.recency, 'recency', 1)
    const limit = Math.min(positiveInt(query.n, 'n', config.pageSize.default), config.pageSize.max)
    const last = typeof query.last === 'string' && query.last !== '' ? query.last : undefined
    const identity = await auth.identify(request)
    const page = await auth.readablePage(identity, async r => await packages.list(recency, r.limit, r.last), last === undefined ? { limit } : { limit, last },
      p => `packages/${p.name}`, p => p.name)
    if (page.truncated) {
      const next = new URLSearchParams({ recency: String(recency), n: String(limit), last: page.items.at(-1)?.name ?? '' })
      reply.header('Link', `</packages?${next.toString()}>; rel="next"`)
    }
    return page.items
  }
  app.get('/', list) // also answers /packages (Fastify's prefixTrailingSlash)

  app.get('/:file', async (request, reply) => {
    await requireAccess(request, 'pull')
    const fileName = (request.params as { file: string }).file
    const repository = parseFile(fileName)?.repository
    const { size, body } = repository !== undefined && mirror?.covers(repository) === true
      ? await withMirrorNote(value => { reply.header(MIRROR_HEADER, value) }, async () => await packages.get(fileName))
      : await packages.get(fileName)
    return await sendBody(reply.type('application/gzip').header('Content-Length', size), body)
  })

  app.put('/:file', async (request, reply) => {
    await requireAccess(request, 'push')
    const length = Number(request.headers['content-length'])
    await packages.put((request.params as { file: string }).file, request.raw, Number.isSafeInteger(length) && length >= 0 ? length : undefined)
    return await reply.code(200).send()
  })

  app.delete('/:file', async (request, reply) => {
    await requireAccess(request, 'delete')
    await packages.delete((request.params as { file: string }).file)
    return await reply.code(200).send()
  })
}
