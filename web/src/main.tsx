// The Berth web UI: a shell (navigation, who is signed in) around one page per route.
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { call, forgetAccess, getJson, type Session } from './api.js'
import { ErrorBox, Loading } from './components.js'
import { ManifestPage, Repositories, Repository } from './oci.js'
import { CnrPackage, CnrPackages, Files, SignIn, Storage } from './others.js'
import { navigate, useRoute } from './router.js'

function Content ({ route, refreshSession, session }: { route: string[], refreshSession: () => void, session: Session }) {
  const [head, ...rest] = route
  switch (head) {
    case undefined: return <Repositories />
    case 'repo': return <Repository name={rest.join('/')} />
    case 'manifest': return <ManifestPage name={rest.slice(0, -1).join('/')} reference={rest.at(-1) ?? ''} />
    case 'cnr': return rest.length === 0 ? <CnrPackages /> : <CnrPackage name={rest.join('/')} />
    case 'files': return <Files />
    case 'storage': return <Storage admin={!session.authEnabled || session.user?.admin === true} />
    case 'signin': return <SignIn onSignedIn={refreshSession} />
    default: return <ErrorBox error={`There is no page at #/${route.join('/')}.`} />
  }
}

function App () {
  const route = useRoute()
  const [session, setSession] = useState<Session>()
  const [error, setError] = useState<unknown>()
  const [round, setRound] = useState(0)
  useEffect(() => {
    forgetAccess()
    getJson<Session>('/ui/api/session').then(r => { setSession(r.body); setError(undefined) }, setError)
  }, [round])
  const refresh = (): void => { setRound(r => r + 1) }
  if (error !== undefined) return <main><ErrorBox error={error} retry={refresh} /></main>
  if (session === undefined) return <main><Loading /></main>
  const current = (prefix: string): boolean => (route[0] ?? '') === prefix || (prefix === '' && route[0] === 'repo') || (prefix === '' && route[0] === 'manifest')
  const link = (href: string, prefix: string, label: string) =>
    <a href={href} aria-current={current(prefix) ? 'page' : undefined}>{label}</a>
  return (
    <>
      <a class="skip" href="#main" onClick={e => { e.preventDefault(); document.getElementById('main')?.focus() }}>Skip to content</a>
      <header>
        <a class="brand" href="#/">⚓ Berth</a>
        <nav aria-label="main">
          {link('#/', '', 'Repositories')}
          {link('#/cnr', 'cnr', 'CNR packages')}
          {link('#/files', 'files', 'Package files')}
          {link('#/storage', 'storage', 'Storage')}
        </nav>
        <div class="who">
          {session.user !== null
            ? <><span>Signed in as <strong>{session.user.username}</strong>{session.user.admin && ' (admin)'}</span>
              <button type="button" onClick={() => {
                call('/ui/api/session', { method: 'DELETE' }).then(() => { refresh(); navigate('#/signin') }, setError)
              }}>Sign out</button></>
            : session.authEnabled ? <a href="#/signin">Sign in</a> : <span class="muted">Open registry</span>}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {session.user === null && session.authEnabled && route[0] !== 'signin' &&
          <p class="notice">You are browsing anonymously: only public content is shown. <a href="#/signin">Sign in</a> to see more.</p>}
        <Content key={route.join('/')} route={route} refreshSession={refresh} session={session} />
      </main>
    </>
  )
}

const root = document.getElementById('app') as HTMLElement
root.textContent = '' // the "Loading…" shown until this script runs
render(<App />, root)
