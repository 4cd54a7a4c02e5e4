// Users, stored through the storage driver (auth/users/<name>) so every replica sees the same ones.
import { randomBytes } from 'node:crypto'
import type { StorageDriver } from '../storage/driver.js'
import { paths } from '../storage/paths.js'
import { AuthError, invalidAuthRequest } from './errors.js'
import { USERNAME_MAX_LENGTH, isValidUsername, passwordProblem } from './credential-rules.js'
import { burnVerification, hashPassword, verifyPassword } from './passwords.js'
import { RecordCache } from './records.js'

export interface UserRecord {
  username: string
  /** scrypt hash string (src/auth/passwords.ts). */
  password: string
  admin: boolean
  /** Changes whenever the password does: tokens carry it, so a new password revokes every token issued before. */
  gen: string
  createdAt: string
  updatedAt: string
}

/** A user as the rest of Berth sees it: never the password hash. */
export interface User {
  username: string
  admin: boolean
  gen: string
}

export { USERNAME_MAX_LENGTH, isValidUsername }

function assertUsername (name: string): void {
  if (!isValidUsername(name)) {
    throw invalidAuthRequest(`invalid user name "${name}": use 1-${USERNAME_MAX_LENGTH} lowercase letters and digits, separated by '.', '_' or '-'`)
  }
}

function assertPassword (password: string): void {
  const problem = passwordProblem(password)
  if (problem !== undefined) throw invalidAuthRequest(problem)
}

const newGen = (): string => randomBytes(8).toString('hex')
const publicView = (r: UserRecord): User => ({ username: r.username, admin: r.admin, gen: r.gen })

export function createUsers (driver: StorageDriver, { cacheTtlMs }: { cacheTtlMs: number }) {
  const records = new RecordCache<UserRecord>(driver, cacheTtlMs)
  // Whether any user exists (auth is on), remembered for the cache lifetime.
  let anyUser: { value: boolean, until: number } | undefined

  const users = {
    async get (username: string): Promise<User | undefined> {
      if (!isValidUsername(username)) return undefined
      const record = await records.get(paths.authUser(username))
      return record === undefined ? undefined : publicView(record)
    },

    /** Whether at least one user exists. With none, Berth runs open. */
    async any (): Promise<boolean> {
      if (anyUser !== undefined && anyUser.until > Date.now()) return anyUser.value
      const page = await driver.list(paths.authUsersPrefix, { limit: 1 })
      anyUser = { value: page.keys.length > 0, until: Date.now() + cacheTtlMs }
      return anyUser.value
    },

    async add (username: string, password: string, { admin = false }: { admin?: boolean } = {}): Promise<User> {
      assertUsername(username)
      assertPassword(password)
      const now = new Date().toISOString()
      const record: UserRecord = { username, password: await hashPassword(password), admin, gen: newGen(), createdAt: now, updatedAt: now }
      if (!await driver.createIfAbsent(paths.authUser(username), Buffer.from(JSON.stringify(record)))) {
        throw new AuthError('conflict', `user "${username}" already exists`)
      }
      records.forget(paths.authUser(username))
      anyUser = undefined
      return publicView(record)
    },

    /** Sets a new password (and so revokes the user's tokens). Returns false when the user does not exist. */
    async setPassword (username: string, password: string): Promise<boolean> {
      assertPassword(password)
      if (!isValidUsername(username)) return false
      const hash = await hashPassword(password)
      const stored = await records.update(paths.authUser(username), current =>
        current === undefined ? undefined : { ...current, password: hash, gen: newGen(), updatedAt: new Date().toISOString() })
      return stored !== undefined
    },

    /** Grants or takes away admin rights. Returns false when the user does not exist. */
    async setAdmin (username: string, admin: boolean): Promise<boolean> {
      if (!isValidUsername(username)) return false
      let found = false
      await records.update(paths.authUser(username), current => {
        if (current === undefined) return undefined
        found = true
        return current.admin === admin ? undefined : { ...current, admin, updatedAt: new Date().toISOString() }
      })
      return found
    },

    async delete (username: string): Promise<boolean> {
      if (!isValidUsername(username)) return false
      const existed = await records.remove(paths.authUser(username))
      anyUser = undefined
      return existed
    },

    /** Every user, in name order (for the CLI: the list is read whole). */
    async list (): Promise<Array<User & { createdAt: string, updatedAt: string }>> {
      const out: Array<User & { createdAt: string, updatedAt: string }> = []
      let startAfter: string | undefined
      for (;;) {
        const page = await driver.list(paths.authUsersPrefix, { limit: 1000, startAfter })
        for (const key of page.keys) {
          const record = await records.get(key)
          if (record !== undefined) out.push({ ...publicView(record), createdAt: record.createdAt, updatedAt: record.updatedAt })
        }
        if (!page.truncated) return out
        startAfter = page.keys.at(-1)
      }
    },

    /**
     * The user, when the password is theirs. An unknown name costs as much time as a wrong password, and the
     * derived keys are compared in constant time.
     */
    async verify (username: string, password: string): Promise<User | undefined> {
      const record = isValidUsername(username) && password.length <= 4096
        ? await records.get(paths.authUser(username))
        : undefined
      if (record === undefined) {
        await burnVerification(password.slice(0, 4096))
        return undefined
      }
      return await verifyPassword(password, record.password) ? publicView(record) : undefined
    }
  }
  return users
}

export type Users = ReturnType<typeof createUsers>
