// A registry with no users lets anyone who reaches it pull, push and delete. That is fine on the loopback
// interface (a laptop, a test), not on an address the network can reach: there Berth refuses to start
// unless BERTH_ALLOW_OPEN=true says it is meant.
import { isIP } from 'node:net'

/** Whether `host` (the HOST Berth binds) is reachable only from this machine. */
export function isLoopbackHost (host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) return h === '::1' || /^(?:0*:)*:?0*1$/.test(h) || /^::ffff:127\./.test(h)
  return false
}

/**
 * The one-line reason to refuse to start, or undefined to go ahead: refused when Berth would run open
 * (no users) on a non-loopback address without BERTH_ALLOW_OPEN=true.
 */
export function openBindRefusal (options: { host: string, allowOpen: boolean, hasUsers: boolean }): string | undefined {
  if (options.hasUsers || options.allowOpen || isLoopbackHost(options.host)) return undefined
  return `berth: REFUSING TO START: no users are configured, so anyone who reaches HOST=${options.host} could pull, push and delete; ` +
    'add a user (`berth user add <name>`, or BERTH_ADMIN_USER and BERTH_ADMIN_PASSWORD), bind HOST=127.0.0.1, ' +
    'or set BERTH_ALLOW_OPEN=true to run open on purpose'
}
