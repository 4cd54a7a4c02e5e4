// HTTP client for the suite: Node's global fetch (undici), every exchange recorded so a failing check can show
// what it sent and what came back.

export interface Exchange {
  method: string
  url: string
  requestHeaders: Record<string, string>
  requestBodyLength?: number
  status?: number
  responseHeaders?: Headers
  responseBody?: Buffer
  error?: string
}

export type Body = Buffer | string | ReadableStream<Uint8Array>

export interface RequestOptions {
  headers?: Record<string, string>
  body?: Body
  /** query parameters appended to the URL; array values repeat the parameter */
  query?: Record<string, string | string[] | number | undefined>
}

/** A completed response with its body read into memory. */
export class Res {
  constructor (readonly exchange: Exchange, readonly status: number, readonly headers: Headers, readonly body: Buffer) {}

  get method (): string { return this.exchange.method }
  get url (): string { return this.exchange.url }

  header (name: string): string | null {
    return this.headers.get(name)
  }

  text (): string {
    return this.body.toString('utf8')
  }

  /** Parsed JSON body, or undefined when the body is not JSON. */
  json (): unknown {
    try {
      return JSON.parse(this.text()) as unknown
    } catch {
      return undefined
    }
  }
}

export class Client {
  private exchanges: Exchange[] = []
  readonly origin: string

  /** `timeoutMs`: limit for one request, response body included */
  constructor (baseUrl: string, private readonly timeoutMs = 30_000) {
    this.origin = new URL(baseUrl).origin
  }

  /** Starts a fresh exchange log (one per check) and returns it. */
  resetLog (): Exchange[] {
    this.exchanges = []
    return this.exchanges
  }

  /**
   * Resolves a path or a Location header value against the registry. Like the upstream suite, only path and query
   * of an absolute Location are used; the request always goes to the configured registry origin.
   */
  resolve (pathOrUrl: string): URL {
    const u = new URL(pathOrUrl, this.origin)
    return new URL(u.pathname + u.search, this.origin)
  }

  async request (method: string, pathOrUrl: string, opts: RequestOptions = {}): Promise<Res> {
    const url = this.resolve(pathOrUrl)
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v === undefined) continue
      for (const item of Array.isArray(v) ? v : [String(v)]) url.searchParams.append(k, item)
    }
    // identity encoding keeps Content-Length checks exact
    const headers: Record<string, string> = { 'accept-encoding': 'identity', ...lowerKeys(opts.headers ?? {}) }
    const exchange: Exchange = { method, url: url.toString(), requestHeaders: withoutDefaults(headers) }
    if (opts.body !== undefined && !(opts.body instanceof ReadableStream)) {
      exchange.requestBodyLength = Buffer.byteLength(opts.body)
    }
    this.exchanges.push(exchange)
    let response: Response
    try {
      response = await fetch(url, {
        method,
        headers,
        body: opts.body,
        redirect: 'follow',
        signal: AbortSignal.timeout(this.timeoutMs),
        // required by undici for stream bodies; harmless otherwise
        duplex: 'half'
      } as RequestInit)
    } catch (err) {
      exchange.error = err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}` : String(err)
      throw err
    }
    const body = Buffer.from(await response.arrayBuffer())
    exchange.status = response.status
    exchange.responseHeaders = response.headers
    exchange.responseBody = body
    return new Res(exchange, response.status, response.headers, body)
  }

  get (path: string, opts?: RequestOptions): Promise<Res> { return this.request('GET', path, opts) }
  head (path: string, opts?: RequestOptions): Promise<Res> { return this.request('HEAD', path, opts) }
  post (path: string, opts?: RequestOptions): Promise<Res> { return this.request('POST', path, opts) }
  put (path: string, opts?: RequestOptions): Promise<Res> { return this.request('PUT', path, opts) }
  patch (path: string, opts?: RequestOptions): Promise<Res> { return this.request('PATCH', path, opts) }
  delete (path: string, opts?: RequestOptions): Promise<Res> { return this.request('DELETE', path, opts) }
}

function lowerKeys (h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))
}

function withoutDefaults (h: Record<string, string>): Record<string, string> {
  const { 'accept-encoding': _ignored, ...rest } = h
  return rest
}

/** Parses `Link: <url>; rel="next"` and returns the URL, or null. */
export function nextLink (res: Res): string | null {
  const link = res.header('link')
  if (link === null) return null
  for (const part of link.split(',')) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part)
    if (m !== null && /\brel="?next"?/i.test(m[2] ?? '')) return m[1] ?? null
  }
  return null
}
