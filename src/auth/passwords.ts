// Password hashing with scrypt (node:crypto), stored as a self-describing string so the cost can be raised
// later without invalidating existing hashes:  $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt base64>$<key base64>
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto'

const KEY_LENGTH = 32
const SALT_LENGTH = 16
/** N = 2^15, r = 8, p = 1: 32 MiB and roughly 50-100 ms per hash on a build machine core. */
const DEFAULT_COST = { ln: 15, r: 8, p: 1 }

export { PASSWORD_LIMITS, passwordProblem } from './credential-rules.js'

async function scrypt (password: string, salt: Buffer, cost: { ln: number, r: number, p: number }): Promise<Buffer> {
  const N = 2 ** cost.ln
  const options: ScryptOptions = { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r + 1024 * 1024 }
  return await new Promise((resolve, reject) => {
    scryptCallback(password.normalize('NFC'), salt, KEY_LENGTH, options, (err, key) => { err === null ? resolve(key) : reject(err) })
  })
}

export async function hashPassword (password: string): Promise<string> {
  const salt = randomBytes(SALT_LENGTH)
  const key = await scrypt(password, salt, DEFAULT_COST)
  const { ln, r, p } = DEFAULT_COST
  return `$scrypt$ln=${ln},r=${r},p=${p}$${salt.toString('base64')}$${key.toString('base64')}`
}

interface Parsed {
  cost: { ln: number, r: number, p: number }
  salt: Buffer
  key: Buffer
}

function parse (hash: string): Parsed | undefined {
  const match = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(hash)
  if (match === null) return undefined
  const [, ln, r, p, salt, key] = match
  const cost = { ln: Number(ln), r: Number(r), p: Number(p) }
  if (cost.ln < 10 || cost.ln > 20 || cost.r < 1 || cost.p < 1) return undefined
  return { cost, salt: Buffer.from(salt ?? '', 'base64'), key: Buffer.from(key ?? '', 'base64') }
}

/** Checks a password against a stored hash, comparing the derived keys in constant time. */
export async function verifyPassword (password: string, hash: string): Promise<boolean> {
  const parsed = parse(hash)
  if (parsed === undefined || parsed.key.length !== KEY_LENGTH) return false
  const key = await scrypt(password, parsed.salt, parsed.cost)
  return timingSafeEqual(key, parsed.key)
}

// A hash of nothing anyone knows, verified when the user does not exist, so that a login for an unknown name
// takes as long as one with a wrong password and response times do not tell which names exist.
let dummy: Promise<string> | undefined
export async function burnVerification (password: string): Promise<false> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'))
  await verifyPassword(password, await dummy)
  return false
}
