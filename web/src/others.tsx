// The CNR packages, the /packages files and the storage summary.
import { useEffect, useState } from 'preact/hooks'
import { accessTo, call, getJson, pathOf, type Access } from './api.js'
import { CopyButton, DeleteButton, ErrorBox, Loading, Page, useLoad } from './components.js'
import { humanDate, humanSize, shortDigest } from './format.js'
import { navigate } from './router.js'

const CNR = '/cnr/api/v1'

interface PackageSummary { name: string, releases: string[], default: string, manifests: string[], visibility: string, created_at: string | null }
interface ReleaseManifest { package: string, release: string, created_at: string | null, mediaType: string, content: { size: number, digest: string } }
interface Channel { name: string, current: string, releases: string[] }
interface DeletedRelease { release: string, media_type: string, digest: string, deleted_at: string }

/** `helm` from application/vnd.appr.package-manifest.helm.v0.json: how media types are named in CNR paths. */
const shortType = (mediaType: string): string => /package-manifest\.([^.]+)\.v0/.exec(mediaType)?.[1] ?? /package\.([^.]+)\.v0/.exec(mediaType)?.[1] ?? mediaType
/** CNR times are naive UTC. */
const utc = (time: string | null | undefined): string | undefined => time == null ? undefined : /[zZ]|[+-]\d\d:?\d\d$/.test(time) ? time : `${time}Z`

export function CnrPackages () {
  const [query, setQuery] = useState('')
  const { value, error, loading, reload } = useLoad(async () => {
    const { body } = await getJson<PackageSummary[]>(`${CNR}/packages`)
    if (query === '') return body
    const { body: names } = await getJson<string[]>(`${CNR}/packages/search?q=${encodeURIComponent(query)}`)
    const matches = new Set(names)
    return body.filter(p => matches.has(p.name))
  }, [query])
  return (
    <Page title="CNR packages">
      <form class="search" role="search" onSubmit={e => { e.preventDefault() }}>
        <label for="cnr-search">Search packages</label>
        <input id="cnr-search" type="search" value={query} placeholder="namespace/name contains…"
          onInput={e => { setQuery((e.target as HTMLInputElement).value.trim()) }} />
      </form>
      {error !== undefined ? <ErrorBox error={error} retry={reload} />
        : value === undefined ? <Loading what="Loading packages" />
          : <>{loading && <Loading />}{value.length === 0 ? <p class="empty">No packages{query === '' ? '' : ` match “${query}”`}.</p>
            : <div class="table-wrap"><table aria-label="packages">
              <thead><tr><th scope="col">Package</th><th scope="col">Default release</th><th scope="col">Releases</th><th scope="col">Media types</th><th scope="col">Visibility</th><th scope="col">First push</th></tr></thead>
              <tbody>{value.map(p => (
                <tr key={p.name}><td><a href={`#/cnr/${pathOf(p.name)}`}>{p.name}</a></td><td>{p.default}</td><td>{p.releases.length}</td>
                  <td>{p.manifests.map(shortType).join(', ')}</td><td>{p.visibility}</td><td>{humanDate(utc(p.created_at))}</td></tr>))}
              </tbody></table></div>}</>}
    </Page>
  )
}

export function CnrPackage ({ name }: { name: string }) {
  const [access, setAccess] = useState<Access>()
  useEffect(() => { accessTo(name).then(setAccess, () => { setAccess(undefined) }) }, [name])
  const base = `${CNR}/packages/${pathOf(name)}`
  const { value, error, reload } = useLoad(async () => {
    const [releases, channels, deleted] = await Promise.all([
      getJson<ReleaseManifest[]>(base), getJson<Channel[]>(`${base}/channels`), getJson<DeletedRelease[]>(`${base}/deleted`)
    ])
    return { releases: releases.body, channels: channels.body, deleted: deleted.body }
  }, [name])
  if (error !== undefined) return <Page title={name}><ErrorBox error={error} retry={reload} /></Page>
  if (value === undefined) return <Page title={name}><Loading what="Loading package" /></Page>
  const byType = new Map<string, ReleaseManifest[]>()
  for (const r of value.releases) byType.set(shortType(r.mediaType), [...(byType.get(shortType(r.mediaType)) ?? []), r])
  const channelsOf = (release: string): string[] => value.channels.filter(c => c.current === release).map(c => c.name)
  const mayDelete = access?.delete === true
  return (
    <Page title={<>Package <span class="name">{name}</span></>}>
      <p><a href="#/cnr">← All packages</a></p>
      {[...byType].map(([type, releases]) => (
        <section key={type} aria-label={`${type} releases`}>
          <h2>Releases ({type})</h2>
          <div class="table-wrap"><table aria-label={`${type} releases`}>
            <thead><tr><th scope="col">Release</th><th scope="col">Channels</th><th scope="col">Size</th><th scope="col">Digest</th><th scope="col">Pushed</th><th scope="col">Download</th>{mayDelete && <th scope="col"><span class="offscreen">Actions</span></th>}</tr></thead>
            <tbody>{releases.map(r => {
              const download = `${base}/${encodeURIComponent(r.release)}/${encodeURIComponent(type)}/pull`
              return (
                <tr key={r.release}><td>{r.release}</td><td>{channelsOf(r.release).map(c => <span class="badge" key={c}>{c}</span>)}</td>
                  <td>{humanSize(r.content.size)}</td><td><code title={r.content.digest}>{shortDigest(r.content.digest)}</code></td><td>{humanDate(utc(r.created_at))}</td>
                  <td><a href={download} download={`${name.replace('/', '_')}_${r.release}.tar.gz`}>tarball</a> <CopyButton text={`${location.origin}${download}`} label="Copy URL" /></td>
                  {mayDelete && <td><DeleteButton what={`release ${name} ${r.release} (${type})`} onConfirm={async () => {
                    await call(`${base}/${encodeURIComponent(r.release)}/${encodeURIComponent(type)}`, { method: 'DELETE' })
                    reload()
                  }} /></td>}
                </tr>)
            })}</tbody></table></div>
        </section>))}
      {byType.size === 0 && <p class="empty">No releases left.</p>}

      <h2>Channels</h2>
      {value.channels.length === 0 ? <p class="muted">No channels.</p>
        : <div class="table-wrap"><table aria-label="channels">
          <thead><tr><th scope="col">Channel</th><th scope="col">Current release</th><th scope="col">Releases</th>{mayDelete && <th scope="col"><span class="offscreen">Actions</span></th>}</tr></thead>
          <tbody>{value.channels.map(c => (
            <tr key={c.name}><td>{c.name}</td><td>{c.current}</td><td>{c.releases.join(', ')}</td>
              {mayDelete && <td><DeleteButton what={`channel ${c.name} of ${name}`} onConfirm={async () => {
                await call(`${base}/channels/${encodeURIComponent(c.name)}`, { method: 'DELETE' })
                reload()
              }} /></td>}</tr>))}
          </tbody></table></div>}

      <h2>Deleted releases</h2>
      {value.deleted.length === 0 ? <p class="muted">None.</p>
        : <div class="table-wrap"><table aria-label="deleted releases">
          <thead><tr><th scope="col">Release</th><th scope="col">Media type</th><th scope="col">Digest</th><th scope="col">Deleted</th></tr></thead>
          <tbody>{value.deleted.map(d => (
            <tr key={`${d.release}-${d.media_type}-${d.deleted_at}`}><td>{d.release}</td><td>{shortType(d.media_type)}</td><td><code title={d.digest}>{shortDigest(d.digest)}</code></td><td>{humanDate(utc(d.deleted_at))}</td></tr>))}
          </tbody></table></div>}
    </Page>
  )
}

interface PackageFiles { name: string, latest_versions: Array<{ version: string, file: string }> }

export function Files () {
  const { value, error, reload } = useLoad(async () => {
    const { body } = await getJson<PackageFiles[]>('/packages?recency=5')
    const access = await Promise.all(body.map(async p => await accessTo(`packages/${p.name}`).catch(() => undefined)))
    return body.map((p, i) => ({ ...p, mayDelete: access[i]?.delete === true }))
  }, [])
  return (
    <Page title="Package files">
      {error !== undefined ? <ErrorBox error={error} retry={reload} />
        : value === undefined ? <Loading what="Loading package files" />
          : value.length === 0 ? <p class="empty">No package files.</p>
            : <div class="table-wrap"><table aria-label="package files">
              <thead><tr><th scope="col">Package</th><th scope="col">Version</th><th scope="col">File</th><th scope="col"><span class="offscreen">Actions</span></th></tr></thead>
              <tbody>{value.flatMap(p => p.latest_versions.map((v, i) => (
                <tr key={v.file}><td>{i === 0 ? p.name : ''}</td><td>{v.version}{i === 0 && <span class="badge">latest</span>}</td>
                  <td><a href={`/packages/${encodeURIComponent(v.file)}`} download={v.file}>{v.file}</a></td>
                  <td><CopyButton text={`curl -fO ${location.origin}/packages/${encodeURIComponent(v.file)}`} label="Copy curl" />
                    {p.mayDelete && <DeleteButton what={`file ${v.file}`} onConfirm={async () => {
                      await call(`/packages/${encodeURIComponent(v.file)}`, { method: 'DELETE' })
                      reload()
                    }} />}</td></tr>)))}
              </tbody></table></div>}
    </Page>
  )
}

interface NamespaceStorage { namespace: string, usedBytes: number, live: boolean, limitBytes?: number, measuredAt?: string }

/** Measures a namespace from the store (POST /ui/api/storage/measure) and answers its row. */
async function measure (namespace: string): Promise<NamespaceStorage> {
  return (await getJson<NamespaceStorage>('/ui/api/storage/measure', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ namespace }) })).body
}

function MeasureButton ({ namespace, onMeasured }: { namespace: string, onMeasured: (error?: unknown) => void }) {
  const [busy, setBusy] = useState(false)
  return (
    <button type="button" disabled={busy} aria-label={`Measure ${namespace} again`} onClick={() => {
      setBusy(true)
      measure(namespace).then(() => { onMeasured() }, onMeasured).finally(() => { setBusy(false) })
    }}>{busy ? 'Measuring…' : 'Measure again'}</button>
  )
}

/** Admins (or anyone on an open registry) measure any namespace by name. */
function MeasureForm ({ onMeasured }: { onMeasured: (error?: unknown) => void }) {
  const [busy, setBusy] = useState(false)
  return (
    <form class="search" onSubmit={e => {
      e.preventDefault()
      const form = e.currentTarget as HTMLFormElement
      const namespace = String(new FormData(form).get('namespace') ?? '').trim()
      if (namespace === '') return
      setBusy(true)
      measure(namespace).then(() => { form.reset(); onMeasured() }, onMeasured).finally(() => { setBusy(false) })
    }}>
      <label for="measure-namespace">Measure a namespace</label>
      <span class="inline"><input id="measure-namespace" name="namespace" autocomplete="off" spellcheck={false} placeholder="namespace" required />
        <button type="submit" disabled={busy}>{busy ? 'Measuring…' : 'Measure'}</button></span>
    </form>
  )
}

export function Storage ({ admin }: { admin: boolean }) {
  const { value, error, reload } = useLoad(async () => (await getJson<{ namespaces: NamespaceStorage[] }>('/ui/api/storage')).body, [])
  const [measureError, setMeasureError] = useState<unknown>()
  const measured = (err?: unknown): void => { setMeasureError(err); if (err === undefined) reload() }
  return (
    <Page title="Storage">
      <p class="muted">What each namespace stores: a blob or manifest counts once however many of its repositories hold it. A namespace with a quota (<code>berth quota set</code>) is counted live; any other shows what it stored when last measured.</p>
      {admin && <MeasureForm onMeasured={measured} />}
      {measureError !== undefined && <ErrorBox error={measureError} />}
      {error !== undefined ? <ErrorBox error={error} retry={reload} />
        : value === undefined ? <Loading what="Loading storage" />
          : value.namespaces.length === 0 ? <p class="empty">No namespace you may read has a quota or has been measured yet.</p>
            : <div class="table-wrap"><table aria-label="storage">
              <thead><tr><th scope="col">Namespace</th><th scope="col">Used</th><th scope="col">As of</th><th scope="col">Quota</th><th scope="col">Use</th></tr></thead>
              <tbody>{value.namespaces.map(n => {
                const limit = n.limitBytes
                const share = limit === undefined ? 0 : limit > 0 ? Math.min(1, n.usedBytes / limit) : 1
                return (
                  <tr key={n.namespace}><td>{n.namespace}</td><td>{humanSize(n.usedBytes)}</td>
                    <td>{n.live ? 'live' : <><time dateTime={n.measuredAt} title={n.measuredAt}>measured {humanDate(n.measuredAt)}</time> <MeasureButton namespace={n.namespace} onMeasured={measured} /></>}</td>
                    <td>{limit === undefined ? <span class="muted">none</span> : humanSize(limit)}</td>
                    <td>{limit === undefined ? '—' : <><meter min={0} max={1} value={share} high={0.8} aria-label={`${n.namespace} quota use`} /> {Math.round(share * 100)}%</>}</td></tr>)
              })}</tbody></table></div>}
    </Page>
  )
}

export function SignIn ({ onSignedIn, returnTo }: { onSignedIn: () => void, returnTo: string }) {
  const [error, setError] = useState<unknown>()
  const [busy, setBusy] = useState(false)
  return (
    <Page title="Sign in">
      <form class="signin" onSubmit={e => {
        e.preventDefault()
        const form = new FormData(e.currentTarget as HTMLFormElement)
        setBusy(true)
        setError(undefined)
        call('/ui/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: form.get('username'), password: form.get('password') }) })
          .then(() => { onSignedIn(); navigate(returnTo) }, err => { setError(err) }).finally(() => { setBusy(false) })
      }}>
        <label for="username">User name</label>
        <input id="username" name="username" autocomplete="username" required />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        {error !== undefined && <p class="error" role="alert">{error instanceof Error ? error.message : String(error)}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </Page>
  )
}
