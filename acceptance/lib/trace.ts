// Reads the HTTP exchanges a client logged in its debug output (oras --debug, crane -v, regctl -v trace,
// skopeo --debug, helm --debug, podman --log-level=debug) back into one compact line per request, so that a failure
// can show what the registry answered, and so that a check can assert which API a client used (the referrers API, a mount).
//
// Each client logs in its own format; a parser that recognises nothing returns an empty list and the failure
// report falls back to the tail of stderr.

export interface TraceEntry {
  method: string
  url: string
  /** "404 Not Found", "201", or a transport error; absent when the client did not log the response */
  status?: string
  /** response body excerpt, when the client logged one (error bodies are JSON and short) */
  body?: string
}

export type ClientName = 'oras' | 'crane' | 'regctl' | 'skopeo' | 'helm' | 'docker' | 'podman'

const BODY_EXCERPT = 300

function excerpt (s: string): string {
  const oneLine = s.replace(/\s+/g, ' ').trim()
  return oneLine.length > BODY_EXCERPT ? `${oneLine.slice(0, BODY_EXCERPT)}…` : oneLine
}

/** oras --debug: numbered `--> Request #n` / `<-- Response #n` blocks, the body after `< Response body:`. */
function oras (log: string): TraceEntry[] {
  const byId = new Map<string, TraceEntry>()
  const order: TraceEntry[] = []
  const lines = log.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ''
    const req = /--> Request #(\d+)/.exec(line)
    if (req !== null) {
      const entry: TraceEntry = { method: '?', url: '?' }
      for (let j = i + 1; j < Math.min(i + 4, lines.length); j++) {
        const url = /^> Request URL: "(.*)"$/.exec(lines[j] ?? '')
        const method = /^> Request method: "(.*)"$/.exec(lines[j] ?? '')
        if (url !== null) entry.url = url[1] ?? '?'
        if (method !== null) entry.method = method[1] ?? '?'
      }
      byId.set(req[1] ?? '', entry)
      order.push(entry)
      continue
    }
    const res = /<-- Response #(\d+)/.exec(line)
    if (res !== null) {
      const entry = byId.get(res[1] ?? '')
      if (entry === undefined) continue
      let j = i + 1
      for (; j < lines.length && !/^\[\d{4}-/.test(lines[j] ?? ''); j++) {
        const status = /^< Response Status: "(.*)"$/.exec(lines[j] ?? '')
        if (status !== null) entry.status = status[1] ?? ''
        if (lines[j] === '< Response body:') {
          const body: string[] = []
          for (let k = j + 1; k < lines.length && (lines[k] ?? '') !== ''; k++) body.push(lines[k] ?? '')
          const text = body.join('\n').trim()
          if (text !== '' && text !== 'No response body to print') entry.body = excerpt(text)
        }
      }
    }
  }
  return order
}

/** crane -v: `--> METHOD URL`, `<-- STATUS URL (duration)` and an httputil dump whose body follows a blank line. */
function crane (log: string): TraceEntry[] {
  const order: TraceEntry[] = []
  const open: TraceEntry[] = []
  const lines = log.split('\n')
  const stamp = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ''
    const req = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d --> (\S+) (\S+)/.exec(line)
    if (req !== null) {
      const entry: TraceEntry = { method: req[1] ?? '?', url: req[2] ?? '?' }
      order.push(entry)
      open.push(entry)
      continue
    }
    const res = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d <-- (.*?) ?(\S+) \([^)]*\)$/.exec(line)
    if (res !== null) {
      // `<-- 404 URL (t)`, or `<-- <transport error> METHOD URL (t)`
      const url = res[2] ?? ''
      const at = open.findIndex(e => e.url === url)
      if (at < 0) continue
      const entry = open.splice(at, 1)[0] as TraceEntry
      entry.status = (res[1] ?? '').replace(new RegExp(` ${entry.method}$`), '')
      // the response dump, if it comes next: status line, headers, blank line, body
      const next = lines[i + 1] ?? ''
      if (/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d HTTP\/\d/.test(next)) {
        let j = i + 2
        while (j < lines.length && (lines[j] ?? '') !== '' && !stamp.test(lines[j] ?? '')) j++
        const body: string[] = []
        for (j++; j < lines.length && !stamp.test(lines[j] ?? '') && !/^Error: /.test(lines[j] ?? ''); j++) body.push(lines[j] ?? '')
        const text = body.join('\n').trim()
        if (text !== '') entry.body = excerpt(text)
      }
    }
  }
  return order
}

/** regctl -v trace: one `msg="reg http request"` record per exchange, status included. */
function regctl (log: string): TraceEntry[] {
  const order: TraceEntry[] = []
  for (const line of log.split('\n')) {
    if (!line.includes('msg="reg http request"')) continue
    const method = /req-method=(\S+)/.exec(line)?.[1] ?? '?'
    const url = /req-url=(\S+)/.exec(line)?.[1] ?? '?'
    const status = /resp-status="([^"]*)"/.exec(line)?.[1] ?? /resp-status=(\S+)/.exec(line)?.[1]
    order.push({ method, url, ...(status !== undefined ? { status } : {}) })
  }
  return order
}

/** skopeo --debug: `msg="GET URL"` records (statuses are logged only for the ping). */
function skopeo (log: string): TraceEntry[] {
  const order: TraceEntry[] = []
  for (const line of log.split('\n')) {
    const req = /msg="(GET|HEAD|PUT|POST|PATCH|DELETE) (https?:\/\/[^"\s]+)"/.exec(line)
    if (req !== null) {
      order.push({ method: req[1] ?? '?', url: req[2] ?? '?' })
      continue
    }
    const ping = /msg="Ping (https?:\/\/\S+) status (\d+)"/.exec(line)
    if (ping !== null) {
      const entry = [...order].reverse().find(e => e.url === ping[1] && e.status === undefined)
      if (entry !== undefined) entry.status = ping[2] ?? ''
    }
  }
  return order
}

/** helm --debug: `msg=Request id=N url=… method=…` and `msg=Response id=N status="…" … body="…"`. */
function helm (log: string): TraceEntry[] {
  const byId = new Map<string, TraceEntry>()
  const order: TraceEntry[] = []
  for (const line of log.split('\n')) {
    const req = /msg=Request id=(\d+) url=(\S+) method=(\S+)/.exec(line)
    if (req !== null) {
      const entry: TraceEntry = { method: req[3] ?? '?', url: req[2] ?? '?' }
      byId.set(req[1] ?? '', entry)
      order.push(entry)
      continue
    }
    const res = /msg=Response id=(\d+) status="([^"]*)"/.exec(line)
    if (res !== null) {
      const entry = byId.get(res[1] ?? '')
      if (entry === undefined) continue
      entry.status = res[2] ?? ''
      const body = /body="((?:[^"\\]|\\.)*)"/.exec(line)?.[1]
      if (body !== undefined && body !== '') {
        let text = body
        try { text = JSON.parse(`"${body}"`) as string } catch {}
        entry.body = excerpt(text)
      }
    }
  }
  return order
}

// docker: the daemon talks to the registry, not the client, so the client logs no exchanges (its stderr tail
// carries the daemon's error). podman --log-level=debug logs through containers/image, as skopeo does.
const none = (): TraceEntry[] => []

const PARSERS: Record<ClientName, (log: string) => TraceEntry[]> = { oras, crane, regctl, skopeo, helm, docker: none, podman: skopeo }

/** crane and skopeo try https first when told nothing (crane) or told not to verify (skopeo); that probe is noise. */
const httpsProbe = (e: TraceEntry): boolean => e.url.startsWith('https://') && /\/v2\/$/.test(e.url)

export function parseTrace (client: ClientName, log: string): TraceEntry[] {
  return PARSERS[client](log).filter(e => !httpsProbe(e))
}

export function formatEntry (e: TraceEntry): string {
  const status = e.status === undefined ? '' : ` -> ${e.status}`
  const body = e.body === undefined ? '' : ` ${e.body}`
  return `${e.method} ${e.url}${status}${body}`
}
