// Client-side routes live in the URL fragment (#/repo/…), so the server serves one document and links work
// without a round trip.
import { useEffect, useState } from 'preact/hooks'

export function navigate (hash: string): void {
  location.hash = hash
}

export function useRoute (): string[] {
  const read = (): string[] => location.hash.replace(/^#\/?/, '').split('/').filter(s => s !== '').map(s => decodeURIComponent(s))
  const [route, setRoute] = useState(read)
  useEffect(() => {
    const changed = (): void => { setRoute(read()); window.scrollTo(0, 0) }
    addEventListener('hashchange', changed)
    return () => { removeEventListener('hashchange', changed) }
  }, [])
  return route
}
