// Signing webhook bodies: HMAC-SHA256, keyed with BERTH_WEBHOOK_SECRET, over `<timestamp>.<body>`, where the
// timestamp (Unix seconds, in Berth-Timestamp) is the time of the attempt. A receiver recomputes the HMAC over
// the exact bytes it received and refuses a timestamp older than a few minutes, so a captured request cannot
// be replayed later. The README shows a receiver's check.
import { createHmac, timingSafeEqual } from 'node:crypto'

export const SIGNATURE_HEADER = 'berth-signature'
export const TIMESTAMP_HEADER = 'berth-timestamp'

/** The Berth-Signature value: `sha256=<hex>`. */
export function sign (secret: string, timestamp: string, body: string | Buffer): string {
  const hmac = createHmac('sha256', secret)
  hmac.update(`${timestamp}.`)
  hmac.update(body)
  return `sha256=${hmac.digest('hex')}`
}

/** Whether `signature` signs `body` at `timestamp`, and the timestamp is within `toleranceSeconds` of now. */
export function verify (secret: string, timestamp: string, body: string | Buffer, signature: string, toleranceSeconds = 300, nowMs = Date.now()): boolean {
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) return false
  const expected = Buffer.from(sign(secret, timestamp, body))
  const given = Buffer.from(signature)
  return given.length === expected.length && timingSafeEqual(given, expected)
}
