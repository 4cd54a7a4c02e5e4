// Times as the CNR API shows them: naive UTC ISO 8601, like python's datetime.utcnow().isoformat()
// ("2016-11-16T17:13:07.806000", no zone; the fraction is left out when it is zero).

export function naiveIsoTime (date: Date): string {
  const iso = date.toISOString() // 2016-11-16T17:13:07.806Z
  const millis = iso.slice(20, 23)
  return millis === '000' ? iso.slice(0, 19) : `${iso.slice(0, 19)}.${millis}000`
}

/** An RFC 3339 time from an OCI annotation, as the CNR API shows it; undefined when it does not parse. */
export function naiveIsoFromRfc3339 (text: string | undefined): string | undefined {
  if (text === undefined) return undefined
  const time = Date.parse(text)
  return Number.isNaN(time) ? undefined : naiveIsoTime(new Date(time))
}
