// `berth webhooks list [--failed] [--json]` and `berth webhooks redeliver <id>|--all-failed`: what waits in the
// outbox, what used up its attempts, and sending failed deliveries again (the servers' loops pick them up).
import type { Webhooks } from './index.js'
import { isDeliveryId, type Delivery } from './outbox.js'

export const WEBHOOKS_USAGE = `       berth webhooks list [--failed] [--json]          deliveries waiting (or, with --failed, given up on)
       berth webhooks redeliver <id>|--all-failed       send failed deliveries again`

export interface WebhooksCliIo {
  out: (line: string) => void
  err: (line: string) => void
  /** An error that makes the CLI print its usage (exit status 2). */
  usage: (message: string) => Error
}

function view ({ id, state, type, url, attempts, createdAt, nextAttemptAt, lastError, failedAt, lease }: Delivery) {
  return {
    id,
    state,
    type,
    url,
    attempts,
    createdAt,
    ...(state === 'pending' ? { nextAttemptAt: new Date(nextAttemptAt).toISOString(), sending: lease !== undefined && lease.expiresAt > Date.now() } : {}),
    ...(failedAt === undefined ? {} : { failedAt }),
    ...(lastError === undefined ? {} : { lastError })
  }
}

export async function webhooksCommand (webhooks: Webhooks, args: string[], io: WebhooksCliIo): Promise<number> {
  const [verb, ...rest] = args
  switch (verb) {
    case 'list': {
      const unknown = rest.find(a => a !== '--failed' && a !== '--json')
      if (unknown !== undefined) throw io.usage(`unexpected argument "${unknown}"`)
      const json = rest.includes('--json')
      const deliveries = rest.includes('--failed') ? webhooks.outbox.failed() : webhooks.outbox.pending()
      // Written as each delivery is read (--json: one array, an element a line): a long outbox is never held in memory.
      let count = 0
      if (json) io.out('[')
      for await (const delivery of deliveries) {
        const v = view(delivery)
        if (json) io.out(`${count > 0 ? ',' : ''}${JSON.stringify(v)}`)
        else io.out([v.id, v.type, v.url, `attempts=${v.attempts}`, v.failedAt ?? v.nextAttemptAt ?? '', v.lastError ?? ''].join('\t'))
        count++
      }
      if (json) io.out(']')
      else if (count === 0) io.err(rest.includes('--failed') ? 'no failed deliveries' : 'no deliveries waiting')
      return 0
    }
    case 'redeliver': {
      const [target, ...more] = rest
      if (target === undefined) throw io.usage('missing delivery id (see `berth webhooks list --failed`) or --all-failed')
      if (more.length > 0) throw io.usage(`unexpected argument "${more[0] ?? ''}"`)
      if (target === '--all-failed') {
        let count = 0
        // Ids are collected first: redelivering moves records out of the listing being read.
        const ids: string[] = []
        for await (const delivery of webhooks.outbox.failed()) ids.push(delivery.id)
        for (const id of ids) if (await webhooks.outbox.redeliver(id)) count++
        io.out(`queued ${count} failed deliveries again`)
        return 0
      }
      if (target.startsWith('--')) throw io.usage(`unknown option ${target}`)
      if (!isDeliveryId(target) || !await webhooks.outbox.redeliver(target)) {
        io.err(`berth: no failed delivery "${target}" (see \`berth webhooks list --failed\`)`)
        return 1
      }
      io.out(`queued ${target} again`)
      return 0
    }
    default:
      throw io.usage(verb === undefined ? 'missing webhooks command' : `unknown webhooks command "${verb}"`)
  }
}
