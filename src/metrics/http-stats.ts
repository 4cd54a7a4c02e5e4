// Request figures by dialect, method, route and status, kept per route so that recording one costs a Map
// lookup by a small integer and a few additions. Routes are Fastify route patterns (or, below /v2, the
// pattern of the OCI endpoint matched), never raw URLs, so the number of label sets stays bounded.
import { Timing } from './series.js'

export type Dialect = 'oci' | 'cnr' | 'packages' | 'other'

/** The dialect a route pattern or URL belongs to, by its first path segment (as src/http/dialects.ts routes errors). */
export function dialectOf (path: string): Dialect {
  const segment = path.slice(0, path.indexOf('/', 1) >>> 0)
  switch (segment.split('?')[0]) {
    case '/v2': return 'oci'
    case '/cnr': case '/api': case '/version': return 'cnr'
    case '/packages': return 'packages'
    default: return 'other'
  }
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'other'] as const
const METHOD_CODES: Readonly<Record<string, number>> = Object.assign(Object.create(null) as Record<string, number>,
  Object.fromEntries(METHODS.map((m, i) => [m, i])))
const OTHER_METHOD = METHODS.length - 1

/** One (dialect, method, route, status): latency, and body bytes received and sent. */
export class RequestSeries extends Timing {
  received = 0
  sent = 0
}

export class RouteStats {
  private readonly byKey = new Map<number, RequestSeries>()
  constructor (readonly dialect: Dialect, readonly route: string, private readonly all: RequestSeries[]) {}

  series (method: string | undefined, status: number): RequestSeries {
    const code = METHOD_CODES[method ?? ''] ?? OTHER_METHOD
    const key = status * 8 + code
    let series = this.byKey.get(key)
    if (series === undefined) {
      series = new RequestSeries({ dialect: this.dialect, method: METHODS[code] as string, route: this.route, status: String(status) })
      this.byKey.set(key, series)
      this.all.push(series)
    }
    return series
  }
}

/** Paths no route matched, by dialect. */
const UNMATCHED = 'unmatched'

export class HttpStats {
  /** Every series, for the scrape. */
  readonly all: RequestSeries[] = []
  private readonly routes = new Map<string, RouteStats>()
  private readonly unmatched = new Map<Dialect, RouteStats>()

  route (pattern: string): RouteStats {
    let stats = this.routes.get(pattern)
    if (stats === undefined) this.routes.set(pattern, stats = new RouteStats(dialectOf(pattern), pattern, this.all))
    return stats
  }

  /** Requests no route matched (404s, and the errors Fastify answers before routing), by the URL's dialect. */
  unmatchedRoute (url: string): RouteStats {
    const dialect = dialectOf(url)
    let stats = this.unmatched.get(dialect)
    if (stats === undefined) this.unmatched.set(dialect, stats = new RouteStats(dialect, UNMATCHED, this.all))
    return stats
  }
}
