// The Berth-Mirror header of a CNR or /packages read. Those services are HTTP-free and reach the cache a few
// calls down, so the route runs the read inside `withMirrorNote` and the cache's `noteMirror` lands on that
// request's reply. /v2 handlers hold their reply and set the header directly (src/mirror/cache.ts).
import { AsyncLocalStorage } from 'node:async_hooks'

/** Says what a read of a mirrored name was answered from, when not a fresh copy ("stale; upstream unavailable"). */
export const MIRROR_HEADER = 'Berth-Mirror'

export type MirrorNote = (value: string) => void

const current = new AsyncLocalStorage<MirrorNote>()

/** Runs a read whose mirror note, if the cache makes one, goes to `note`. */
export async function withMirrorNote<T> (note: MirrorNote, read: () => Promise<T>): Promise<T> {
  return await current.run(note, read)
}

/** Gives the note to the read under way, when it asked for notes. */
export function noteMirror (value: string): void {
  current.getStore()?.(value)
}
