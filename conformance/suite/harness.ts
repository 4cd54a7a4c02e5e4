// A tiny sequential test harness: named checks registered in workflow groups, run in registration order.
//
// A check passes when its function resolves, fails when it throws. Throwing `SkipError` (via `skip()`) marks it
// skipped; a missing prerequisite from an earlier failed check (via `need()`) is reported as a failure so that a
// broken setup step can never make the suite pass by omission.
import type { Exchange } from './http.js'

export type CheckFn = () => Promise<void>

export interface Check {
  readonly group: string
  readonly name: string
  readonly fn: CheckFn
  /** overrides the suite-wide per-check timeout given to `run()` */
  readonly timeoutMs?: number
}

export interface CheckResult {
  readonly group: string
  readonly name: string
  readonly status: 'passed' | 'failed' | 'skipped'
  readonly durationMs: number
  /** failure or skip reason */
  readonly message?: string
  /** request/response excerpt of the exchange that failed (or the last one the check made) */
  readonly detail?: string
}

/**
 * A failed expectation; `exchange` is the HTTP exchange it is about, if any. `detail` is a ready-made failure
 * detail for checks whose evidence is not one of this suite's HTTP exchanges (a third-party client's command line,
 * its error and the registry responses it logged); it takes precedence over `exchange`.
 */
export class CheckError extends Error {
  constructor (message: string, readonly exchange?: Exchange, readonly detail?: string) {
    super(message)
    this.name = 'CheckError'
  }
}

export class SkipError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'SkipError'
  }
}

export function skip (reason: string): never {
  throw new SkipError(reason)
}

/** Returns `value`, or fails the check because an earlier step did not produce it. */
export function need<T> (value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) {
    throw new CheckError(`prerequisite missing: ${what} (an earlier check in this group failed)`)
  }
  return value
}

export class GroupBuilder {
  constructor (private readonly suite: Suite, readonly name: string) {}

  /** `options.timeoutMs` overrides the per-check timeout of `Suite.run()` for this check. */
  test (name: string, fn: CheckFn, options: { timeoutMs?: number } = {}): void {
    this.suite.add({ group: this.name, name, fn, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) })
  }
}

export interface RunHooks {
  /** called before each check; returns the exchanges the check will make (for failure details) */
  beforeEach: () => Exchange[]
  onResult: (result: CheckResult, index: number) => void
}

export class Suite {
  private readonly checks: Check[] = []

  /** `only`: run just the groups whose name matches */
  constructor (private readonly only?: RegExp) {}

  group (name: string, define: (g: GroupBuilder) => void): void {
    if (this.only !== undefined && !this.only.test(name)) return
    define(new GroupBuilder(this, name))
  }

  list (): ReadonlyArray<Pick<Check, 'group' | 'name'>> {
    return this.checks.map(({ group, name }) => ({ group, name }))
  }

  add (check: Check): void {
    this.checks.push(check)
  }

  get size (): number {
    return this.checks.length
  }

  async run (hooks: RunHooks, timeoutMs: number): Promise<CheckResult[]> {
    const results: CheckResult[] = []
    for (const [i, check] of this.checks.entries()) {
      const exchanges = hooks.beforeEach()
      const started = performance.now()
      const limitMs = check.timeoutMs ?? timeoutMs
      let result: CheckResult
      try {
        await withTimeout(check.fn(), limitMs, `check timed out after ${limitMs} ms`)
        result = { group: check.group, name: check.name, status: 'passed', durationMs: performance.now() - started }
      } catch (err) {
        const durationMs = performance.now() - started
        if (err instanceof SkipError) {
          result = { group: check.group, name: check.name, status: 'skipped', durationMs, message: err.message }
        } else {
          const exchange = err instanceof CheckError && err.exchange !== undefined ? err.exchange : exchanges.at(-1)
          const detail = err instanceof CheckError && err.detail !== undefined
            ? err.detail
            : exchange !== undefined ? formatExchange(exchange) : undefined
          result = {
            group: check.group,
            name: check.name,
            status: 'failed',
            durationMs,
            message: err instanceof CheckError ? err.message : `unexpected error: ${describeError(err)}`,
            ...(detail !== undefined ? { detail } : {})
          }
        }
      }
      results.push(result)
      hooks.onResult(result, i + 1)
    }
    return results
  }
}

async function withTimeout<T> (p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new CheckError(message)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function describeError (err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (cause: ${err.cause.message})` : ''
    return `${err.name}: ${err.message}${cause}`
  }
  return String(err)
}

const BORING_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding'])
const BODY_EXCERPT = 400

export function formatExchange (x: Exchange): string {
  const lines = [`${x.method} ${x.url}`]
  const sent = Object.entries(x.requestHeaders).map(([k, v]) => `${k}: ${v}`)
  if (sent.length > 0) lines.push(`  request headers: ${sent.join(' | ')}`)
  if (x.requestBodyLength !== undefined) lines.push(`  request body: ${x.requestBodyLength} bytes`)
  if (x.status === undefined) {
    lines.push(`  -> no response (${x.error ?? 'unknown error'})`)
    return lines.join('\n')
  }
  lines.push(`  -> ${x.status}`)
  const got: string[] = []
  x.responseHeaders?.forEach((value, key) => {
    if (!BORING_HEADERS.has(key)) got.push(`${key}: ${value}`)
  })
  if (got.length > 0) lines.push(`  response headers: ${got.join(' | ')}`)
  const body = x.responseBody
  if (body !== undefined && body.length > 0) lines.push(`  response body: ${excerpt(body)}`)
  return lines.join('\n')
}

function excerpt (body: Buffer): string {
  const head = body.subarray(0, BODY_EXCERPT)
  const printable = !head.some((b) => (b < 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) || b === 0x7f)
  if (!printable) return `<${body.length} bytes of binary data>`
  const text = head.toString('utf8').replace(/\s+/g, ' ')
  return body.length > BODY_EXCERPT ? `${text}… (${body.length} bytes)` : text
}

/** Prints one result as a TAP-style line, with the failure's message and detail as comments. */
export function printResult (r: CheckResult, i: number, { duration = false } = {}): void {
  const title = `${i} - ${r.group}: ${r.name}${duration ? ` (${(r.durationMs / 1000).toFixed(1)} s)` : ''}`
  if (r.status === 'passed') {
    console.log(`ok ${title}`)
  } else if (r.status === 'skipped') {
    console.log(`ok ${title} # SKIP ${r.message ?? ''}`)
  } else {
    console.log(`not ok ${title}`)
    for (const line of [r.message ?? 'failed', ...(r.detail ?? '').split('\n')].filter((l) => l !== '')) {
      console.log(`    # ${line}`)
    }
  }
}
