// The OCI pages: the catalog, a repository's tags, a manifest or index with its referrers.
import { useEffect, useState } from 'preact/hooks'
import { accessTo, ApiError, call, getJson, mapLimit, MANIFEST_TYPES, pathOf, type Access } from './api.js'
import { Command, CopyButton, DeleteButton, ErrorBox, Loading, Page, useLoad } from './components.js'
import { humanDate, humanSize, shortDigest } from './format.js'
import { navigate } from './router.js'

const CATALOG_PAGE = 50
const TAGS_PAGE = 100

/** Pages move forward with `last` cursors; the stack of cursors seen lets the user go back. */
function useCursorPages (reset: unknown[]) {
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined])
  useEffect(() => { setCursors([undefined]) }, reset)
  return {
    cursor: cursors.at(-1),
    page: cursors.length,
    next: (last: string) => { setCursors(c => [...c, last]) },
    previous: () => { setCursors(c => c.length > 1 ? c.slice(0, -1) : c) }
  }
}

function Pager ({ page, hasNext, onNext, onPrevious, label }: { page: number, hasNext: boolean, onNext: () => void, onPrevious: () => void, label: string }) {
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button type="button" disabled={page === 1} onClick={onPrevious}>← Previous</button>
      <span>Page {page}</span>
      <button type="button" disabled={!hasNext} onClick={onNext}>Next →</button>
    </nav>
  )
}

export function Repositories () {
  const [query, setQuery] = useState('')
  const pages = useCursorPages([query])
  const { value, error, loading, reload } = useLoad(async () => {
    // The server searches (and pages) the catalog; one request reads a bounded part of it, so a search may come
    // back with fewer names and a cursor to search on from.
    const params = new URLSearchParams({ n: String(CATALOG_PAGE) })
    if (query !== '') params.set('q', query)
    if (pages.cursor !== undefined) params.set('last', pages.cursor)
    const { body } = await getJson<{ repositories: string[], next: string | null }>(`/ui/api/repositories?${params.toString()}`)
    return { names: body.repositories, next: body.next ?? undefined }
  }, [query, pages.cursor])
  const partial = value !== undefined && value.next !== undefined && value.names.length < CATALOG_PAGE
  return (
    <Page title="Repositories">
      <form class="search" role="search" onSubmit={e => { e.preventDefault() }}>
        <label for="repo-search">Search repositories</label>
        <input id="repo-search" type="search" value={query} placeholder="name contains…"
          onInput={e => { setQuery((e.target as HTMLInputElement).value.trim()) }} />
      </form>
      {error !== undefined ? <ErrorBox error={error} retry={reload} />
        : value === undefined ? <Loading what="Loading repositories" />
          : <>
            {loading && <Loading what="Loading" />}
            {value.names.length === 0
              ? <p class="empty">{partial ? `No match in this part of the catalog (up to ${value.next ?? ''}).`
                : query === '' ? 'No repositories yet (or none you may pull).' : `No repository name contains “${query}”.`}</p>
              : <ul class="list" aria-label="repositories">
                {value.names.map(name => <li key={name}><a href={`#/repo/${pathOf(name)}`}>{name}</a></li>)}
              </ul>}
            {partial && <p class="muted" role="status">Part of the catalog was searched: Next → searches on from {value.next}.</p>}
            <Pager label="Repository" page={pages.page} hasNext={value.next !== undefined}
              onNext={() => { if (value.next !== undefined) pages.next(value.next) }} onPrevious={pages.previous} />
          </>}
    </Page>
  )
}

interface Descriptor {
  mediaType?: string
  digest: string
  size: number
  artifactType?: string
  annotations?: Record<string, string>
  platform?: { os?: string, architecture?: string, variant?: string }
}

interface Manifest {
  schemaVersion?: number
  mediaType?: string
  artifactType?: string
  config?: Descriptor
  layers?: Descriptor[]
  manifests?: Descriptor[]
  subject?: Descriptor
  annotations?: Record<string, string>
}

/** A tag as /ui/api/tags gives it (size: the manifest's own bytes), with the image's total size and creation date. */
interface TagRow { tag: string, digest: string, mediaType: string, size: number, pushedAt: string, imageSize?: number, created?: string, error?: string }

const isIndex = (m: Manifest, type: string): boolean => m.manifests !== undefined || /index|list/.test(type)
/** The bytes an image refers to (config and layers), or the sum of an index's manifests' sizes. */
const totalSize = (m: Manifest): number => m.manifests !== undefined
  ? m.manifests.reduce((sum, d) => sum + d.size, 0)
  : (m.config?.size ?? 0) + (m.layers ?? []).reduce((sum, d) => sum + d.size, 0)
const createdOf = (m: Manifest): string | undefined => m.annotations?.['org.opencontainers.image.created']

async function fetchManifest (name: string, reference: string): Promise<{ manifest: Manifest, digest: string, mediaType: string, bytes: number }> {
  const response = await call(`/v2/${pathOf(name)}/manifests/${encodeURIComponent(reference)}`, { headers: { Accept: MANIFEST_TYPES } })
  const text = await response.text()
  const manifest = JSON.parse(text) as Manifest
  return {
    manifest,
    digest: response.headers.get('Docker-Content-Digest') ?? '',
    mediaType: manifest.mediaType ?? response.headers.get('Content-Type') ?? '',
    bytes: new TextEncoder().encode(text).length
  }
}

function useAccess (repository: string): Access | undefined {
  const [access, setAccess] = useState<Access>()
  useEffect(() => { accessTo(repository).then(setAccess, () => { setAccess({ pull: false, push: false, delete: false }) }) }, [repository])
  return access
}

export function Repository ({ name }: { name: string }) {
  const pages = useCursorPages([name])
  const access = useAccess(name)
  const { value, error, loading, reload } = useLoad(async () => {
    const params = new URLSearchParams({ repository: name, n: String(TAGS_PAGE) })
    if (pages.cursor !== undefined) params.set('last', pages.cursor)
    const { body } = await getJson<{ tags: TagRow[], next: string | null }>(`/ui/api/tags?${params.toString()}`)
    // The image size and creation date are in each manifest.
    const rows = await mapLimit(body.tags, 6, async (row): Promise<TagRow> => {
      try {
        const { manifest } = await fetchManifest(name, row.digest)
        return { ...row, imageSize: totalSize(manifest), created: createdOf(manifest) }
      } catch (err) {
        return { ...row, error: err instanceof Error ? err.message : String(err) }
      }
    })
    return { rows, next: body.next ?? undefined }
  }, [name, pages.cursor])
  return (
    <Page title={<>Repository <span class="name">{name}</span></>}>
      <p><a href="#/">← All repositories</a></p>
      {error !== undefined ? <ErrorBox error={error} retry={reload} />
        : value === undefined ? <Loading what="Loading tags" />
          : <>
            {loading && <Loading />}
            {value.rows.length === 0 ? <p class="empty">No tags.</p>
              : <div class="table-wrap"><table aria-label="tags">
                <thead><tr><th scope="col">Tag</th><th scope="col">Digest</th><th scope="col">Size</th><th scope="col">Media type</th><th scope="col">Pushed</th><th scope="col" class="wide-only">Created</th>{access?.delete === true && <th scope="col"><span class="offscreen">Actions</span></th>}</tr></thead>
                <tbody>
                  {value.rows.map(row => (
                    <tr key={row.tag}>
                      <td><a href={`#/manifest/${pathOf(name)}/${encodeURIComponent(row.tag)}`}>{row.tag}</a></td>
                      <td><code title={row.digest}>{shortDigest(row.digest)}</code>{row.error !== undefined && <> <span class="muted">{row.error}</span></>}</td>
                      <td>{humanSize(row.imageSize ?? row.size)}</td>
                      <td class="type">{row.mediaType}</td>
                      <td><time dateTime={row.pushedAt} title={row.pushedAt}>{humanDate(row.pushedAt)}</time></td>
                      <td class="wide-only">{humanDate(row.created)}</td>
                      {access?.delete === true && <td><DeleteButton what={`tag ${name}:${row.tag}`} onConfirm={async () => {
                        await call(`/v2/${pathOf(name)}/manifests/${encodeURIComponent(row.tag)}`, { method: 'DELETE' })
                        reload()
                      }} /></td>}
                    </tr>
                  ))}
                </tbody>
              </table></div>}
            <Pager label="Tag" page={pages.page} hasNext={value.next !== undefined}
              onNext={() => { if (value.next !== undefined) pages.next(value.next) }} onPrevious={pages.previous} />
          </>}
    </Page>
  )
}

/** A referrer as the page lists it: an OCI referrer, or a manifest found under cosign's tag scheme (`tag` set). */
interface Referrer extends Descriptor { tag?: { name: string, suffix: CosignSuffix } }

const SIGSTORE_BUNDLE = /^application\/vnd\.dev\.sigstore\.bundle\b/
const COSIGN_SIGNATURES = 'Signatures (cosign)'
const ATTESTATIONS = 'Attestations'
const SBOMS = 'SBOMs'
/** The groups in the order the page shows them; any other artifact type follows under its own name. */
const KINDS = [COSIGN_SIGNATURES, 'Signatures (Notation)', SBOMS, ATTESTATIONS]

/** What a referrer is, from its artifact type (and, for a Sigstore bundle, what the bundle holds). */
function kindOf (r: Referrer): string {
  if (r.tag !== undefined) return COSIGN_TAG_KINDS[r.tag.suffix]
  const artifactType = r.artifactType ?? ''
  if (SIGSTORE_BUNDLE.test(artifactType)) {
    return r.annotations?.['dev.sigstore.bundle.content'] === 'dsse-envelope' ? ATTESTATIONS : COSIGN_SIGNATURES
  }
  if (/cosign.*sig|dev\.cosign\.artifact\.sig/.test(artifactType)) return COSIGN_SIGNATURES
  if (/notary\.signature/.test(artifactType)) return 'Signatures (Notation)'
  if (/spdx|cyclonedx|syft|sbom/i.test(artifactType)) return SBOMS
  if (/in-toto|intoto|attestation|provenance|slsa/i.test(artifactType)) return ATTESTATIONS
  return artifactType === '' ? 'Other artifacts' : artifactType
}

/**
 * cosign's default (tag) scheme: what it signs, attests or attaches to sha256:<hex> is the manifest tagged
 * sha256-<hex>.sig, .att or .sbom in the same repository, not an OCI referrer.
 */
const COSIGN_TAG_KINDS = { sig: COSIGN_SIGNATURES, att: ATTESTATIONS, sbom: SBOMS } as const
type CosignSuffix = keyof typeof COSIGN_TAG_KINDS
const COSIGN_TAG = /^sha256-([0-9a-f]{64})\.(sig|att|sbom)$/
const cosignTag = (digest: string, suffix: string): string => `${digest.replace(':', '-')}.${suffix}`

async function cosignTagReferrers (name: string, digest: string): Promise<Referrer[]> {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) return []
  const suffixes = Object.keys(COSIGN_TAG_KINDS) as CosignSuffix[]
  const found = await Promise.all(suffixes.map(async (suffix): Promise<Referrer | undefined> => {
    const tag = cosignTag(digest, suffix)
    try {
      const response = await call(`/v2/${pathOf(name)}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: MANIFEST_TYPES } })
      return {
        tag: { name: tag, suffix },
        digest: response.headers.get('Docker-Content-Digest') ?? '',
        size: Number(response.headers.get('Content-Length') ?? 0),
        mediaType: response.headers.get('Content-Type') ?? undefined
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined
      throw err
    }
  }))
  return found.filter((r): r is Referrer => r !== undefined)
}

function Annotations ({ annotations }: { annotations?: Record<string, string> }) {
  const entries = Object.entries(annotations ?? {})
  if (entries.length === 0) return <p class="muted">None.</p>
  return <dl class="annotations">{entries.map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{v}</dd></div>)}</dl>
}

export function ManifestPage ({ name, reference }: { name: string, reference: string }) {
  const access = useAccess(name)
  const { value, error, reload } = useLoad(async () => {
    const fetched = await fetchManifest(name, reference)
    let referrers: Referrer[] = []
    let referrersError: string | undefined
    try {
      const [api, tagged] = await Promise.all([
        getJson<{ manifests?: Descriptor[] }>(`/v2/${pathOf(name)}/referrers/${fetched.digest}`),
        cosignTagReferrers(name, fetched.digest)
      ])
      referrers = [...(api.body.manifests ?? []), ...tagged]
    } catch (err) {
      referrersError = err instanceof Error ? err.message : String(err)
    }
    let config: { created?: string, os?: string, architecture?: string } | undefined
    const c = fetched.manifest.config
    if (c !== undefined && c.size < 256 * 1024 && /json/.test(c.mediaType ?? '')) {
      try {
        config = (await getJson<typeof config>(`/v2/${pathOf(name)}/blobs/${c.digest}`)).body
      } catch {}
    }
    return { ...fetched, referrers, referrersError, config }
  }, [name, reference])
  if (error !== undefined) return <Page title={`${name}:${reference}`}><ErrorBox error={error} retry={reload} /></Page>
  if (value === undefined) return <Page title={`${name}:${reference}`}><Loading what="Loading manifest" /></Page>
  const { manifest, digest, mediaType, bytes, referrers, referrersError, config } = value
  const host = location.host
  const plainHttp = location.protocol === 'http:'
  const byTag = !reference.startsWith('sha256:')
  const pinned = `${host}/${name}@${digest}`
  const groups = new Map<string, Referrer[]>(KINDS.map(kind => [kind, []]))
  for (const r of referrers) {
    const kind = kindOf(r)
    groups.set(kind, [...(groups.get(kind) ?? []), r])
  }
  for (const [kind, list] of groups) if (list.length === 0) groups.delete(kind)
  // A manifest in cosign's tag scheme names its subject in its tag, not in a subject field.
  const taggedSubject = COSIGN_TAG.exec(reference)?.[1]
  const subjectDigest = manifest.subject?.digest ?? (taggedSubject === undefined ? undefined : `sha256:${taggedSubject}`)
  const helm = manifest.config?.mediaType === 'application/vnd.cncf.helm.config.v1+json'
  return (
    <Page title={<>{name}<span class="ref">{byTag ? `:${reference}` : `@${shortDigest(reference)}`}</span></>}
      actions={access?.delete === true && <DeleteButton what={`manifest ${name}@${digest}`} onConfirm={async () => {
        await call(`/v2/${pathOf(name)}/manifests/${digest}`, { method: 'DELETE' })
        navigate(`#/repo/${pathOf(name)}`)
      }} />}>
      <p><a href={`#/repo/${pathOf(name)}`}>← Tags of {name}</a></p>
      <dl class="facts">
        <div><dt>Digest</dt><dd><code>{digest}</code> <CopyButton text={digest} label="Copy digest" /></dd></div>
        <div><dt>Media type</dt><dd>{mediaType}</dd></div>
        {manifest.artifactType !== undefined && <div><dt>Artifact type</dt><dd>{manifest.artifactType}</dd></div>}
        <div><dt>Manifest size</dt><dd>{humanSize(bytes)}</dd></div>
        <div><dt>Total size</dt><dd>{humanSize(totalSize(manifest))}</dd></div>
        {(config?.created ?? createdOf(manifest)) !== undefined && <div><dt>Created</dt><dd>{humanDate(config?.created ?? createdOf(manifest))}</dd></div>}
        {config?.os !== undefined && <div><dt>Platform</dt><dd>{config.os}/{config.architecture}</dd></div>}
        {subjectDigest !== undefined && <div><dt>Refers to</dt><dd><a href={`#/manifest/${pathOf(name)}/${subjectDigest}`}>{shortDigest(subjectDigest)}</a></dd></div>}
      </dl>

      <h2>Pull</h2>
      <div class="commands">
        <Command text={`docker pull ${byTag ? `${host}/${name}:${reference}` : pinned}`} />
        <Command text={`oras pull ${plainHttp ? '--plain-http ' : ''}${pinned}`} />
        <Command text={`crane ${plainHttp ? '--insecure ' : ''}pull ${pinned} image.tar`} />
        {(helm || byTag) && <Command text={`helm pull ${plainHttp ? '--plain-http ' : ''}oci://${host}/${name}${byTag ? ` --version ${reference}` : ''}`} />}
      </div>

      {isIndex(manifest, mediaType) && <>
        <h2>Platforms</h2>
        <div class="table-wrap"><table aria-label="platforms">
          <thead><tr><th scope="col">Platform</th><th scope="col">Digest</th><th scope="col">Size</th><th scope="col">Media type</th></tr></thead>
          <tbody>{(manifest.manifests ?? []).map(d => (
            <tr key={d.digest}>
              <td>{d.platform === undefined ? '—' : `${d.platform.os ?? '?'}/${d.platform.architecture ?? '?'}${d.platform.variant === undefined ? '' : `/${d.platform.variant}`}`}</td>
              <td><a href={`#/manifest/${pathOf(name)}/${d.digest}`}><code>{shortDigest(d.digest)}</code></a></td>
              <td>{humanSize(d.size)}</td>
              <td class="type">{d.mediaType}</td>
            </tr>))}
          </tbody>
        </table></div>
      </>}

      {manifest.config !== undefined && <>
        <h2>Config</h2>
        <p><code>{shortDigest(manifest.config.digest)}</code> · {humanSize(manifest.config.size)} · <span class="type">{manifest.config.mediaType}</span></p>
      </>}

      {manifest.layers !== undefined && <>
        <h2>Layers</h2>
        <div class="table-wrap"><table aria-label="layers">
          <thead><tr><th scope="col">#</th><th scope="col">Digest</th><th scope="col">Size</th><th scope="col">Media type</th></tr></thead>
          <tbody>{manifest.layers.map((d, i) => (
            <tr key={`${i}-${d.digest}`}><td>{i + 1}</td><td><code title={d.digest}>{shortDigest(d.digest)}</code></td><td>{humanSize(d.size)}</td>
              <td class="type">{d.mediaType}{d.annotations?.['org.opencontainers.image.title'] !== undefined && ` (${d.annotations['org.opencontainers.image.title']})`}</td></tr>))}
          </tbody>
        </table></div>
      </>}

      <h2>Annotations</h2>
      <Annotations annotations={manifest.annotations} />

      <h2>Referrers</h2>
      {referrersError !== undefined ? <ErrorBox error={referrersError} />
        : groups.size === 0 ? <p class="muted">No signatures, SBOMs or other artifacts refer to this manifest.</p>
          : [...groups].map(([kind, list]) => (
            <section key={kind} class="referrers" aria-label={kind}>
              <h3>{kind} <span class="count">{list.length}</span></h3>
              <ul class="list">{list.map(r => (
                <li key={r.digest}><a href={`#/manifest/${pathOf(name)}/${r.tag?.name ?? r.digest}`}><code title={r.digest}>{shortDigest(r.digest)}</code></a>
                  {' '}<span class="type">{r.tag !== undefined ? `cosign tag ${cosignTag(shortDigest(digest), r.tag.suffix)}` : r.artifactType}</span>
                  {r.annotations?.['dev.sigstore.bundle.predicateType'] !== undefined && <> · <span class="type">{r.annotations['dev.sigstore.bundle.predicateType']}</span></>}
                  {' '}· {humanSize(r.size)}
                  {r.annotations?.['org.opencontainers.image.created'] !== undefined && <> · {humanDate(r.annotations['org.opencontainers.image.created'])}</>}</li>))}
              </ul>
            </section>))}
    </Page>
  )
}
