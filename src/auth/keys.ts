// The HS256 key tokens are signed with. It lives in the store (auth/signing-key), created once with
// create-if-absent, so every replica signs and verifies with the same key and a token issued by one replica is
// honoured by all. Whoever can read the store can mint tokens; so can whoever can write users there.
import { randomBytes, randomUUID } from 'node:crypto'
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import { readRecord } from '../registry/records.js'

export interface SigningKey {
  kid: string
  secret: Uint8Array
}

interface StoredKey {
  kid: string
  /** 32 random bytes, base64. */
  secret: string
  createdAt: string
}

/** Loads the shared key, creating it when no replica has yet. Safe to race: one creation wins, all read it. */
export async function loadSigningKey (driver: StorageDriver): Promise<SigningKey> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await readRecord<StoredKey>(driver, paths.authSigningKey)
    if (stored !== undefined) {
      const secret = Buffer.from(stored.secret, 'base64')
      if (secret.length < 32) throw new Error(`${paths.authSigningKey} holds a key shorter than 256 bits`)
      return { kid: stored.kid, secret: new Uint8Array(secret) }
    }
    const fresh: StoredKey = { kid: randomUUID(), secret: randomBytes(32).toString('base64'), createdAt: new Date().toISOString() }
    await driver.createIfAbsent(paths.authSigningKey, Buffer.from(JSON.stringify(fresh)))
  }
  throw new Error(`could not create or read ${paths.authSigningKey}`)
}
