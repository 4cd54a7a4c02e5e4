// What a user name and a password must look like. Kept apart from users.ts and passwords.ts, and free of
// imports, so that reading the configuration (src/config.ts) checks BERTH_ADMIN_USER and BERTH_ADMIN_PASSWORD
// without loading the auth modules: the cluster primary reads it too and should stay small.

/**
 * A user name is one OCI repository-name component (the user's namespace is `<name>/…`), 1 to 64 characters:
 * lowercase letters and digits, separated by `.`, `_`, `__` or dashes.
 */
const USERNAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
export const USERNAME_MAX_LENGTH = 64

export function isValidUsername (name: string): boolean {
  return name.length <= USERNAME_MAX_LENGTH && USERNAME.test(name)
}

/** Shortest and longest passwords accepted (bytes of UTF-8). */
export const PASSWORD_LIMITS = { min: 8, max: 1024 } as const

/** Why a password is not acceptable, or undefined when it is. */
export function passwordProblem (password: string): string | undefined {
  const bytes = Buffer.byteLength(password, 'utf8')
  if (bytes < PASSWORD_LIMITS.min) return `a password needs at least ${PASSWORD_LIMITS.min} characters`
  if (bytes > PASSWORD_LIMITS.max) return `a password may have at most ${PASSWORD_LIMITS.max} bytes`
  return undefined
}
