// JSON nesting bounds. JSON.parse copes with any depth, but JSON.stringify and every recursive walk do
// not: a value nested a few thousand levels deep overflows the stack when a response is serialised. So
// what a client sends and what the CNR views read from the store are checked, without recursion, first.

/** Deeper than any package metadata needs; far below what JSON.stringify can handle. */
export const MAX_JSON_DEPTH = 64

/** True when `value` has arrays or objects nested more than `limit` levels deep. */
export function jsonDeeperThan (value: unknown, limit: number = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]]
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [node, depth] = item
    if (node === null || typeof node !== 'object') continue
    if (depth + 1 > limit) return true
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1])
    }
  }
  return false
}

/** Parses JSON text read from the store; undefined when it is not JSON or is nested too deep to serve. */
export function parseBoundedJson (text: string, limit: number = MAX_JSON_DEPTH): unknown {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  return jsonDeeperThan(value, limit) ? undefined : value
}
