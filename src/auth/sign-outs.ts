// Signed-out web UI sessions. A session token (tokens.ts, `session: true`) stays valid until it expires unless
// its user signs out: then its id is recorded here, in the store, so every replica refuses it from then on.
//
// A record is only needed until the token it revokes expires, so records are filed under the hour of that
// expiry (auth/signed-out/<hour>/<jti>): a check is one stat of a key the token itself names, and the
// expired records sort first, so each sign-out removes a page of them. The list never outgrows the sign-outs
// of one session lifetime.
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'

/** Expired records removed per sign-out: more than one, so the list shrinks whenever sign-outs slow down. */
const SWEEP_PAGE = 100

/** The hour a time falls in, as a key segment that sorts in time order: 2026-12-02T15. */
function hourOf (ms: number): string {
  return new Date(ms).toISOString().slice(0, 13)
}

export function createSignOuts (driver: StorageDriver, now: () => number) {
  async function sweep (): Promise<void> {
    const current = hourOf(now())
    const page = await driver.list(paths.authSignedOutPrefix, { limit: SWEEP_PAGE })
    for (const key of page.keys) {
      const hour = key.slice(paths.authSignedOutPrefix.length).split('/')[0] ?? ''
      // An hour before the current one: every token filed there has expired.
      if (hour >= current) break
      await driver.delete(key)
    }
  }

  return {
    /** Records that the session token `tokenId`, expiring at `expiresAt`, is signed out. */
    async signOut (tokenId: string, expiresAt: number): Promise<void> {
      if (expiresAt <= now()) return
      await driver.write(paths.authSignedOut(hourOf(expiresAt), tokenId), Buffer.alloc(0))
      await sweep()
    },

    async isSignedOut (tokenId: string, expiresAt: number): Promise<boolean> {
      return await driver.stat(paths.authSignedOut(hourOf(expiresAt), tokenId)) !== undefined
    }
  }
}

export type SignOuts = ReturnType<typeof createSignOuts>
