// Helpers for the auth tests: a test app with users in it, credentials, tokens from the token endpoint, and
// tokens signed by hand with the store's key (to forge expired, tampered or foreign ones).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { SignJWT } from 'jose'
import type { Test } from 'tap'
import { AuthError, type AuthFailure } from '../../src/auth/index.js'
import type { Config } from '../../src/config.js'
import { paths } from '../../src/storage/paths.js'
import { buildTestApp } from '../helpers/app.js'
import { header, type AnyRes } from '../oci/helpers.js'

export const PASSWORDS = { root: 'root-password-1', alice: 'alice-password-1', bob: 'bob-password-1' } as const
export type Who = keyof typeof PASSWORDS

export function basic (user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
}

export const basicOf = (who: Who): string => basic(who, PASSWORDS[who])

/** An app with auth on: root (admin), alice and bob. */
export async function buildAuthApp (t: Test, env: Record<string, string> = {}): Promise<{ app: FastifyInstance, config: Config }> {
  const built = await buildTestApp(t, env)
  await built.app.berth.auth.users.add('root', PASSWORDS.root, { admin: true })
  await built.app.berth.auth.users.add('alice', PASSWORDS.alice)
  await built.app.berth.auth.users.add('bob', PASSWORDS.bob)
  return built
}

/** GET /v2/token with Basic credentials (or none) for these scopes; requires 200 and returns the token. */
export async function tokenFor (app: FastifyInstance, who: Who | undefined, scopes: string[]): Promise<string> {
  const query = new URLSearchParams({ service: 'berth' })
  for (const scope of scopes) query.append('scope', scope)
  const res = await app.inject({
    method: 'GET',
    url: `/v2/token?${query.toString()}`,
    headers: who === undefined ? {} : { authorization: basicOf(who) }
  })
  if (res.statusCode !== 200) throw new Error(`token for ${who ?? 'anonymous'}: ${res.statusCode} ${res.body}`)
  return (res.json() as { token: string }).token
}

/** The claims of a JWT, unverified. */
export function claimsOf (token: string): Record<string, unknown> {
  const payload = token.split('.')[1] ?? ''
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
}

/** Signs arbitrary claims with the key in the app's store, as Berth would (HS256, iss berth). */
export async function forge (app: FastifyInstance, claims: Record<string, unknown>, { audience = 'berth', expiresAt, issuedAt }: { audience?: string, expiresAt?: number, issuedAt?: number } = {}): Promise<string> {
  // Make sure the key exists (the first token issued creates it).
  await tokenFor(app, undefined, [])
  const stored = JSON.parse((await app.berth.registry.driver.readAll(paths.authSigningKey)).toString('utf8')) as { kid: string, secret: string }
  const now = Math.floor(Date.now() / 1000)
  const iat = issuedAt ?? now
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: stored.kid })
    .setIssuer('berth')
    .setAudience(audience)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(expiresAt ?? now + 300)
    .sign(new Uint8Array(Buffer.from(stored.secret, 'base64')))
}

/** The attributes of a `WWW-Authenticate: Bearer k="v",…` challenge. */
export function challengeOf (res: AnyRes): Record<string, string> | undefined {
  const value = header(res, 'www-authenticate')
  if (value === undefined) return undefined
  const match = /^Bearer (.*)$/.exec(value)
  if (match === null) return undefined
  const out: Record<string, string> = {}
  for (const [, k, v] of (match[1] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)) out[k ?? ''] = v ?? ''
  return out
}

/**
 * A data directory that outlives buildTestApp() (which calls t.testdir(), and that empties the test's
 * directory), for tests that point several processes or apps at one store. Removed when the test ends.
 */
export function dataDir (t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-auth-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/** Asserts that a call fails with an AuthError of this reason (and message). */
export async function rejectsWith (t: Test, promise: Promise<unknown>, reason: AuthFailure, message?: RegExp, label: string = reason): Promise<void> {
  try {
    await promise
    t.fail(`${label}: expected an AuthError (${reason})`)
  } catch (err) {
    t.ok(err instanceof AuthError, `${label}: an AuthError`)
    t.equal((err as AuthError).reason, reason, `${label}: reason ${reason}`)
    if (message !== undefined) t.match((err as Error).message, message, `${label}: message`)
  }
}
