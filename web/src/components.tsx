import { ApiError } from './api.js'
import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'

/** Copies text: the Clipboard API where the page is a secure context, else a hidden textarea (plain HTTP). */
async function copyText (text: string): Promise<void> {
  if (window.isSecureContext && navigator.clipboard !== undefined) {
    try {
      await navigator.clipboard.writeText(text)
      return
    } catch {}
  }
  const area = document.createElement('textarea')
  area.value = text
  area.setAttribute('readonly', '')
  area.className = 'offscreen'
  document.body.append(area)
  area.select()
  const ok = document.execCommand('copy')
  area.remove()
  if (!ok) throw new Error('copy refused')
}

export function CopyButton ({ text, label = 'Copy' }: { text: string, label?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle')
  useEffect(() => {
    if (state === 'idle') return
    const timer = setTimeout(() => { setState('idle') }, 2000)
    return () => { clearTimeout(timer) }
  }, [state])
  return (
    <button type="button" class="copy" aria-label={`${label}: ${text}`}
      onClick={() => { copyText(text).then(() => { setState('copied') }, () => { setState('failed') }) }}>
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Select and copy' : label}
    </button>
  )
}

export function Command ({ text }: { text: string }) {
  return <div class="command"><code>{text}</code><CopyButton text={text} /></div>
}

export function Loading ({ what = 'Loading' }: { what?: string }) {
  return <p class="loading" role="status" aria-live="polite">{what}…</p>
}

export function ErrorBox ({ error, retry }: { error: unknown, retry?: () => void }) {
  const message = error instanceof Error ? error.message : String(error)
  if (error instanceof ApiError && error.status === 401) {
    return <div class="error" role="alert">Sign in to see this page. <a href="#/signin">Sign in</a></div>
  }
  return (
    <div class="error" role="alert">
      <strong>Something went wrong:</strong> {message}
      {retry !== undefined && <button type="button" onClick={retry}>Try again</button>}
    </div>
  )
}

/** A delete button that asks first, in a modal dialog (Escape or Cancel keeps everything). */
export function DeleteButton ({ what, onConfirm }: { what: string, onConfirm: () => Promise<void> }) {
  const dialog = useRef<HTMLDialogElement>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(undefined)
  return (
    <>
      <button type="button" class="danger" aria-label={`Delete ${what}`} onClick={() => { setError(undefined); dialog.current?.showModal() }}>Delete</button>
      <dialog ref={dialog} class="confirm" aria-label={`Delete ${what}`}>
        <p>Delete <strong>{what}</strong>? This cannot be undone.</p>
        {error !== undefined && <ErrorBox error={error} />}
        <div class="actions">
          <button type="button" onClick={() => dialog.current?.close()}>Cancel</button>
          <button type="button" class="danger" disabled={busy} onClick={() => {
            setBusy(true)
            onConfirm().then(() => { dialog.current?.close() }, err => { setError(err) }).finally(() => { setBusy(false) })
          }}>{busy ? 'Deleting…' : `Yes, delete`}</button>
        </div>
      </dialog>
    </>
  )
}

/** Loads `load()` when `deps` change; gives its value, error, loading state and a reload function. */
export function useLoad<T> (load: () => Promise<T>, deps: unknown[]): { value?: T, error?: unknown, loading: boolean, reload: () => void } {
  const [state, setState] = useState<{ value?: T, error?: unknown, loading: boolean }>({ loading: true })
  const [round, setRound] = useState(0)
  useEffect(() => {
    let live = true
    setState(s => ({ ...s, loading: true, error: undefined }))
    load().then(value => { if (live) setState({ value, loading: false }) }, error => { if (live) setState({ error, loading: false }) })
    return () => { live = false }
  }, [...deps, round])
  return { ...state, reload: () => { setRound(r => r + 1) } }
}

export function Page ({ title, children, actions }: { title: ComponentChildren, children: ComponentChildren, actions?: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => { heading.current?.focus() }, [])
  return (
    <section>
      <div class="page-head">
        <h1 tabIndex={-1} ref={heading}>{title}</h1>
        {actions}
      </div>
      {children}
    </section>
  )
}
