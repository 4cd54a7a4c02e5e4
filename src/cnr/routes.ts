// The CNR/APPR route table, as data: each route's method, path (below the API root, /cnr/api/v1 or
// /api/v1), handler, and what the OpenAPI description says about it. index.ts registers these routes and
// openapi.ts describes them, so the two cannot disagree.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { VISIBILITIES, type Auth, type RepositoryAction, type Visibility } from '../auth/index.js'
import type { Config } from '../config.js'
import type { LoginRequest, PackageSummary, SignupRequest, Token } from '../types/generated/cnr/index.js'
import { invalidUsage } from './errors.js'
import { mergedParams, nextLink, sendJson, sendRaw, stringParam } from './http.js'
import { DEFAULT_MEDIA_TYPE } from './media-types.js'
import { packageName, type CnrService } from './service.js'

export interface CnrContext {
  service: CnrService
  auth: Auth
  config: Config
  request: FastifyRequest
  reply: FastifyReply
  /** Path parameters. */
  p: Record<string, string>
  /** The path of the API root the request came in under (/cnr/api/v1 or /api/v1). */
  root: string
}

export type Method = 'GET' | 'POST' | 'DELETE'

export interface Parameter {
  name: string
  description: string
  required?: boolean
}

export interface CnrRoute {
  method: Method
  path: string
  operationId: string
  summary: string
  query?: Parameter[]
  /** Title of the request body schema (schemas/cnr). */
  body?: string
  /** Status -> title of the response schema, or a binary media type. */
  responses: Record<number, string | { binary: string }>
  /**
   * What the caller must be allowed to do to the package `<namespace>/<package>` of the path, checked (index.ts)
   * before the handler runs. Routes without it are open to anyone (version, list and search filter themselves).
   */
  access?: RepositoryAction
  handler: (c: CnrContext) => Promise<unknown>
}

const name = (c: CnrContext): string => packageName(c.p.namespace ?? '', c.p.package ?? '')

function pageParams (c: CnrContext, params: Record<string, unknown>): { limit: number, last?: string } {
  const n = stringParam(params, 'n')
  const { pageSize } = c.config
  let limit = pageSize.default
  if (n !== undefined && n !== '') {
    const value = Number(n)
    if (!Number.isInteger(value) || value < 1) throw invalidUsage(`n must be a positive integer (got '${n}')`, { n })
    limit = Math.min(value, pageSize.max)
  }
  return { limit, last: stringParam(params, 'last') || undefined }
}

function withNext<T> (c: CnrContext, path: string, page: { items: T[], truncated: boolean }, last: string | undefined,
  params: Record<string, string | number | undefined>): T[] {
  if (page.truncated && last !== undefined) c.reply.header('Link', nextLink(`${c.root}${path}`, { ...params, last }))
  return page.items
}

const paging: Parameter[] = [
  { name: 'n', description: 'Page size (default 1000, at most 10000). A `Link: <...>; rel="next"` header points at the next page.' },
  { name: 'last', description: 'The last package name of the previous page.' }
]

async function pull (c: CnrContext, json: boolean): Promise<unknown> {
  const download = await c.service.pull(name(c), c.p.release ?? '', c.p.media_type ?? '')
  return json ? await sendJson(c.reply, download) : await sendRaw(c.reply, download)
}

async function pullBlob (c: CnrContext, json: boolean): Promise<unknown> {
  const download = await c.service.pullBlob(name(c), c.p.digest ?? '')
  return json ? await sendJson(c.reply, download) : await sendRaw(c.reply, download)
}

const isJsonFormat = (c: CnrContext): boolean => stringParam(mergedParams(c.request), 'format') === 'json'

/** The user name and password of a login or signup body (400 when either is missing). */
function credentials (body: unknown, kind: 'login' | 'signup'): { username: string, password: string } {
  const user = (body as Partial<LoginRequest | SignupRequest> | undefined)?.user
  const username = user?.username
  const password = user?.password
  if (typeof username !== 'string' || username === '' || typeof password !== 'string' || password === '') {
    throw invalidUsage('user.username and user.password are required', { user: username ?? null })
  }
  if (kind === 'signup') {
    const confirmation = (user as SignupRequest['user']).password_confirmation
    if (confirmation !== undefined && confirmation !== password) throw invalidUsage('password and password_confirmation differ', { user: username })
  }
  return { username, password }
}

/**
 * While no users exist Berth is open and checks nothing: the token is `basic <base64(user:password)>`, which the
 * client replays verbatim and which becomes a real credential once that user exists.
 */
const openToken = ({ username, password }: { username: string, password: string }): Token =>
  ({ token: `basic ${Buffer.from(`${username}:${password}`).toString('base64')}` })

/** Login: a `Bearer <identity token>` the client replays verbatim as its Authorization header. */
async function login (c: CnrContext): Promise<Token> {
  const creds = credentials(mergedParams(c.request), 'login')
  if (!await c.auth.enabled()) return openToken(creds)
  return await c.auth.cnrLogin(creds.username, creds.password, c.auth.clientOf(c.request))
}

/**
 * Signup: creates a user when BERTH_SIGNUP=true (403 otherwise, 409 for a taken name, 429 when throttled). On an
 * open registry with signup off, nothing is created and the open login token is returned, as before.
 */
async function signup (c: CnrContext): Promise<Token> {
  const creds = credentials(mergedParams(c.request), 'signup')
  if (!c.config.auth.signup && !await c.auth.enabled()) return openToken(creds)
  return await c.auth.signup(creds.username, creds.password, c.auth.clientOf(c.request))
}

/** The push `visibility` field: public, private, or absent (left as it is). */
function visibilityParam (params: Record<string, unknown>, pkg: string): Visibility | undefined {
  const value = params.visibility
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value !== 'string' || !VISIBILITIES.includes(value as Visibility)) {
    throw invalidUsage(`visibility must be "public" or "private" (got ${JSON.stringify(value)})`, { package: pkg, parameter: 'visibility' })
  }
  return value as Visibility
}

/** Summaries with the visibility each package really has (everything is public while Berth runs open). */
async function withVisibility (c: CnrContext, summaries: PackageSummary[]): Promise<PackageSummary[]> {
  if (!await c.auth.enabled()) return summaries
  return await Promise.all(summaries.map(async s => ({ ...s, visibility: await c.auth.visibility(s.name) })))
}

/** A page of the package index, keeping only the packages the caller may pull. */
async function readableSummaries (c: CnrContext, filters: { namespace?: string, query?: string, mediaType?: string }, page: { limit: number, last?: string }) {
  const identity = await c.auth.identify(c.request)
  return await c.auth.readablePage(identity, async r => await c.service.list({ ...filters, ...r }), page, s => s.name)
}

const PACKAGE = '/packages/:namespace/:package'
const RELEASE = `${PACKAGE}/:release/:media_type`

export const routes: CnrRoute[] = [
  {
    method: 'GET',
    path: '/packages',
    operationId: 'listPackages',
    summary: 'List packages that have releases, in name order, with their releases (highest first), default release and its media types.',
    query: [
      { name: 'namespace', description: 'Only packages of this namespace.' },
      { name: 'query', description: 'Only packages whose name contains this text (case-insensitive).' },
      { name: 'media_type', description: 'Only releases of this media type.' },
      ...paging
    ],
    responses: { 200: 'PackageSummary[]' },
    handler: async c => {
      const params = mergedParams(c.request)
      const filters = {
        namespace: stringParam(params, 'namespace') || undefined,
        query: stringParam(params, 'query') || undefined,
        mediaType: stringParam(params, 'media_type') || undefined
      }
      const { limit, last } = pageParams(c, params)
      const page = await readableSummaries(c, filters, last === undefined ? { limit } : { limit, last })
      const items = withNext(c, '/packages', page, page.items.at(-1)?.name,
        { namespace: filters.namespace, query: filters.query, media_type: filters.mediaType, n: limit })
      return await withVisibility(c, items)
    }
  },
  {
    method: 'GET',
    path: '/packages/search',
    operationId: 'searchPackages',
    summary: 'Names of the packages whose `<namespace>/<name>` contains q: a plain, case-insensitive substring match.',
    query: [{ name: 'q', description: 'Text to look for (no regular expressions).' }, ...paging],
    responses: { 200: 'string[]' },
    handler: async c => {
      const params = mergedParams(c.request)
      const q = stringParam(params, 'q') ?? ''
      const { limit, last } = pageParams(c, params)
      const page = await readableSummaries(c, { query: q === '' ? undefined : q }, last === undefined ? { limit } : { limit, last })
      const names = { items: page.items.map(s => s.name), truncated: page.truncated }
      return withNext(c, '/packages/search', names, names.items.at(-1), { q, n: limit })
    }
  },
  {
    method: 'POST',
    path: PACKAGE,
    operationId: 'pushPackage',
    access: 'push',
    summary: 'Push a release of a package. Fields may come as JSON (whatever the Content-Type), form fields or query parameters.',
    query: [{ name: 'force', description: 'Replace an existing release and media type when "true".' }],
    body: 'PushRequest',
    responses: { 200: 'PushResult', 400: 'CnrError', 409: 'CnrError', 422: 'CnrError' },
    handler: async c => {
      const params = mergedParams(c.request)
      const pkg = name(c)
      const release = params.release
      const blob = params.blob
      if (release === undefined || release === null || release === '') throw invalidUsage('Missing release: the push needs a "release" field', { package: pkg })
      if (typeof release !== 'string') throw invalidUsage('release must be a string, such as "1.2.3"', { package: pkg, parameter: 'release' })
      const mediaType = params.media_type ?? DEFAULT_MEDIA_TYPE
      if (typeof mediaType !== 'string') throw invalidUsage('media_type must be a string, such as "helm"', { package: pkg, parameter: 'media_type' })
      if (blob === undefined || blob === null || blob === '') throw invalidUsage('Missing blob: the push needs a "blob" field (the tarball, base64)', { package: pkg })
      if (typeof blob !== 'string' || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(blob)) {
        throw invalidUsage('blob must be a base64 string', { package: pkg, parameter: 'blob' })
      }
      const visibility = visibilityParam(params, pkg)
      return await c.service.push(pkg, {
        blob: Buffer.from(blob, 'base64'),
        release,
        mediaType,
        force: params.force === 'true',
        metadata: params.metadata ?? null,
        // Set once the push is accepted (a refused push leaves no record) and before the release lands, so a
        // package pushed private is never readable in between.
        onAccepted: visibility === undefined ? undefined : async () => { await c.auth.setVisibility(pkg, visibility) }
      })
    }
  },
  {
    method: 'GET',
    path: PACKAGE,
    operationId: 'showPackage',
    access: 'pull',
    summary: 'Every release and media type of a package, highest release first.',
    query: [{ name: 'media_type', description: 'Only this media type.' }],
    responses: { 200: 'ReleaseManifest[]', 404: 'CnrError' },
    handler: async c => await c.service.showPackage(name(c), stringParam(mergedParams(c.request), 'media_type') || undefined)
  },
  {
    method: 'GET',
    path: `${PACKAGE}/channels`,
    operationId: 'listChannels',
    access: 'pull',
    summary: 'The channels of a package.',
    responses: { 200: 'Channel[]', 404: 'CnrError' },
    handler: async c => await c.service.listChannels(name(c))
  },
  {
    method: 'GET',
    path: `${PACKAGE}/deleted`,
    operationId: 'listDeletedReleases',
    access: 'pull',
    summary: 'Releases and media types deleted from a package, with the CNR digest they had and when they were deleted.',
    responses: { 200: 'DeletedRelease[]', 404: 'CnrError' },
    handler: async c => await c.service.deletedReleases(name(c))
  },
  {
    method: 'GET',
    path: `${PACKAGE}/:release`,
    operationId: 'showRelease',
    access: 'pull',
    summary: 'The media types of one exact release.',
    responses: { 200: 'ReleaseManifest[]', 404: 'CnrError' },
    handler: async c => await c.service.showRelease(name(c), c.p.release ?? '')
  },
  {
    method: 'GET',
    path: RELEASE,
    operationId: 'showManifest',
    access: 'pull',
    summary: 'One release and media type. The release is a query: `default`, a version, or a range such as `>=1.0,<2`; media type `-` means the only one.',
    responses: { 200: 'ReleaseManifest', 400: 'CnrError', 404: 'CnrError', 422: 'CnrError' },
    handler: async c => await c.service.showManifest(name(c), c.p.release ?? '', c.p.media_type ?? '')
  },
  {
    method: 'DELETE',
    path: RELEASE,
    operationId: 'deleteRelease',
    access: 'delete',
    summary: 'Delete one exact release and media type. The deletion is recorded (see listDeletedReleases); a release with no media type left leaves its channels.',
    responses: { 200: 'DeleteReleaseResult', 404: 'CnrError' },
    handler: async c => await c.service.deleteRelease(name(c), c.p.release ?? '', c.p.media_type ?? '')
  },
  {
    method: 'GET',
    path: `${RELEASE}/pull`,
    operationId: 'pullPackage',
    access: 'pull',
    summary: 'The tarball of a release query and media type (application/x-gzip), or the pull JSON with format=json.',
    query: [{ name: 'format', description: '`json` for {package, blob (base64), release, media_type, filename}.' }],
    responses: { 200: { binary: 'application/x-gzip' }, 400: 'CnrError', 404: 'CnrError', 422: 'CnrError' },
    handler: async c => await pull(c, isJsonFormat(c))
  },
  {
    method: 'GET',
    path: `${RELEASE}/pull/json`,
    operationId: 'pullPackageJson',
    access: 'pull',
    summary: 'The pull JSON of a release query and media type.',
    responses: { 200: 'PullJson', 400: 'CnrError', 404: 'CnrError', 422: 'CnrError' },
    handler: async c => await pull(c, true)
  },
  {
    method: 'GET',
    path: `${PACKAGE}/blobs/sha256/:digest`,
    operationId: 'pullBlob',
    access: 'pull',
    summary: 'A tarball of the package by its CNR digest (sha256 of the uncompressed tar) or its OCI digest, raw or with format=json.',
    query: [{ name: 'format', description: '`json` for {package, blob (base64), release (the digest), filename}.' }],
    responses: { 200: { binary: 'application/x-gzip' }, 404: 'CnrError' },
    handler: async c => await pullBlob(c, isJsonFormat(c))
  },
  {
    method: 'GET',
    path: `${PACKAGE}/blobs/sha256/:digest/json`,
    operationId: 'pullBlobJson',
    access: 'pull',
    summary: 'The blob JSON of a tarball by digest.',
    responses: { 200: 'BlobJson', 404: 'CnrError' },
    handler: async c => await pullBlob(c, true)
  },
  {
    method: 'GET',
    path: `${PACKAGE}/channels/:channel`,
    operationId: 'showChannel',
    access: 'pull',
    summary: 'One channel.',
    responses: { 200: 'Channel', 404: 'CnrError' },
    handler: async c => await c.service.showChannel(name(c), c.p.channel ?? '')
  },
  {
    method: 'POST',
    path: `${PACKAGE}/channels/:channel/:release`,
    operationId: 'addChannelRelease',
    access: 'push',
    summary: 'Add an exact release to a channel (created when absent) and make it current. The channel is also the OCI tag <channel>.',
    responses: { 200: 'Channel', 400: 'CnrError', 404: 'CnrError', 422: 'CnrError' },
    handler: async c => await c.service.addChannelRelease(name(c), c.p.channel ?? '', c.p.release ?? '')
  },
  {
    method: 'DELETE',
    path: `${PACKAGE}/channels/:channel/:release`,
    operationId: 'deleteChannelRelease',
    access: 'delete',
    summary: 'Remove a release from a channel; the channel moves to its highest remaining release, or is deleted when none is left.',
    responses: { 200: 'DeleteChannelReleaseResult', 404: 'CnrError' },
    handler: async c => await c.service.deleteChannelRelease(name(c), c.p.channel ?? '', c.p.release ?? '')
  },
  {
    method: 'DELETE',
    path: `${PACKAGE}/channels/:channel`,
    operationId: 'deleteChannel',
    access: 'delete',
    summary: 'Delete a channel (and its OCI tag).',
    responses: { 200: 'DeleteChannelResult', 404: 'CnrError' },
    handler: async c => await c.service.deleteChannel(name(c), c.p.channel ?? '')
  },
  {
    method: 'POST',
    path: '/users/login',
    operationId: 'login',
    summary: 'Log in: returns a token (`Bearer <jwt>`) the client sends back verbatim in Authorization; `basic <base64(user:password)>` is accepted too. ' +
      'While no users are configured (Berth runs open) any credentials are accepted.',
    body: 'LoginRequest',
    responses: { 200: 'Token', 400: 'CnrError', 401: 'CnrError', 429: 'CnrError' },
    handler: async c => await login(c)
  },
  {
    method: 'POST',
    path: '/users',
    operationId: 'signup',
    summary: 'Sign up: creates a user and returns a token, as login does. Off unless BERTH_SIGNUP=true (403 forbidden).',
    body: 'SignupRequest',
    responses: { 200: 'Token', 400: 'CnrError', 403: 'CnrError', 409: 'CnrError', 429: 'CnrError' },
    handler: async c => await signup(c)
  }
]
