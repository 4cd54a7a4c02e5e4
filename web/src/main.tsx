// The Berth web UI: a shell (navigation, who is signed in) around one page per route.
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { call, forgetAccess, getJson, type Session } from './api.js'
import { ErrorBox, Loading } from './components.js'
import { ManifestPage, Repositories, Repository } from './oci.js'
import { CnrPackage, CnrPackages, Files, SignIn, Storage } from './others.js'
import { navigate, useRoute } from './router.js'

function Content ({ route, refreshSession, returnTo, session }: { route: string[], refreshSession: () => void, returnTo: string, session: Session }) {
  const [head, ...rest] = route
  switch (head) {
    case undefined: return <Repositories />
    case 'repo': return <Repository name={rest.join('/')} />
    case 'manifest': return <ManifestPage name={rest.slice(0, -1).join('/')} reference={rest.at(-1) ?? ''} />
    case 'cnr': return rest.length === 0 ? <CnrPackages /> : <CnrPackage name={rest.join('/')} />
    case 'files': return <Files />
    case 'storage': return <Storage admin={!session.authEnabled || session.user?.admin === true} />
    case 'signin': return <SignIn onSignedIn={refreshSession} returnTo={returnTo} />
    default: return <ErrorBox error={`There is no page at #/${route.join('/')}.`} />
  }
}

function App () {
  const route = useRoute()
  const [session, setSession] = useState<Session>()
  const [error, setError] = useState<unknown>()
  const [round, setRound] = useState(0)
  // Set when a signed-in session ends under the user (it expired, or was signed out elsewhere).
  const [ended, setEnded] = useState(false)
  // The page to come back to after signing in.
  const [returnTo, setReturnTo] = useState('#/')
  useEffect(() => {
    forgetAccess()
    getJson<Session>('/ui/api/session').then(r => { setSession(r.body); setError(undefined); setEnded(false) }, setError)
  }, [round])
  // Every navigation asks again: that keeps a session in use alive (the server renews it in place) and
  // notices one that has ended, without leaving the page.
  const path = route.join('/')
  useEffect(() => {
    if (route[0] !== 'signin') setReturnTo(`#/${route.map(encodeURIComponent).join('/')}`)
    if (session === undefined) return
    getJson<Session>('/ui/api/session').then(r => {
      if (r.body.user?.username === session.user?.username) return
      forgetAccess()
      if (session.user !== null && r.body.user === null) setEnded(true)
      setSession(r.body)
    }, () => {})
  }, [path])
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
                call('/ui/api/session', { method: 'DELETE' }).then(() => {
                  forgetAccess()
                  setSession({ ...session, user: null })
                  navigate('#/signin')
                }, setError)
              }}>Sign out</button></>
            : session.authEnabled ? <a href="#/signin">Sign in</a> : <span class="muted">Open registry</span>}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {ended && route[0] !== 'signin' &&
          <p class="notice" role="alert">Your session has ended. <a href="#/signin">Sign in again</a> to go on where you were.</p>}
        {!ended && session.user === null && session.authEnabled && route[0] !== 'signin' &&
          <p class="notice">You are browsing anonymously: only public content is shown. <a href="#/signin">Sign in</a> to see more.</p>}
        <Content key={path} route={route} refreshSession={refresh} returnTo={returnTo} session={session} />
      </main>
    </>
  )
}

const root = document.getElementById('app') as HTMLElement
root.textContent = '' // the "Loading…" shown until this script runs
render(<App />, root)
