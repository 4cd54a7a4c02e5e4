// Failed-login throttling, per client (its IP address). A client that failed `maxFailures` times within the
// last `windowMs` is refused (429 with Retry-After) until its oldest failure in the window ages out, whether
// or not its next password is right, so guessing cannot continue. Successes do not wipe the slate: a caller
// with one valid account cannot interleave logins to keep guessing another. The count is per process: each
// replica throttles on its own, which bounds a client to `maxFailures` × replicas per window.
import { AuthError } from './errors.js'

export interface ThrottleOptions {
  maxFailures: number
  windowMs: number
  now: () => number
  /** Clients remembered at most; the ones idle longest are forgotten first. */
  maxClients?: number
}

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>()

  constructor (private readonly options: ThrottleOptions) {}

  private recent (client: string): number[] {
    const since = this.options.now() - this.options.windowMs
    const list = (this.failures.get(client) ?? []).filter(t => t > since)
    if (list.length === 0) this.failures.delete(client)
    else this.failures.set(client, list)
    return list
  }

  /** Seconds the client must wait, or undefined when it may try. */
  retryAfter (client: string): number | undefined {
    const list = this.recent(client)
    if (list.length < this.options.maxFailures) return undefined
    const oldest = list[list.length - this.options.maxFailures] ?? this.options.now()
    return Math.max(1, Math.ceil((oldest + this.options.windowMs - this.options.now()) / 1000))
  }

  /** Throws AuthError `throttled` when the client must wait. */
  check (client: string): void {
    const wait = this.retryAfter(client)
    if (wait !== undefined) {
      throw new AuthError('throttled', `too many failed logins from this client; retry in ${wait} s`, { retryAfterSeconds: wait })
    }
  }

  fail (client: string): void {
    const list = this.recent(client)
    this.failures.delete(client) // re-inserted last: Map order is least recently failed first
    this.failures.set(client, [...list, this.options.now()])
    const max = this.options.maxClients ?? 10_000
    while (this.failures.size > max) {
      const idlest = this.failures.keys().next().value
      if (idlest === undefined) break
      this.failures.delete(idlest)
    }
  }
}
