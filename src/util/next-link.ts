/** `Link: <url>; rel="next"` for a truncated page (the OCI and CNR listings both page this way). */
export function nextLink (path: string, params: Record<string, string | number | undefined>): string {
  const query = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined) query.set(key, String(value))
  return `<${path}?${query.toString()}>; rel="next"`
}
