// Helpers for the webhook tests: a real HTTP receiver on a loopback port that checks every signature, can be
// taken down (connections refused), made to fail (500) or to hang, and brought back on the same port; and
// Berth servers built in-process with webhooks pointed at it.
import http, { type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createBerth } from '../../src/compose.js'
import { loadConfig } from '../../src/config.js'
import type { DeliveryReport } from '../../src/webhooks/index.js'
import { verify } from '../../src/webhooks/signature.js'

export const SECRET = 'a-webhook-secret-for-tests'

export interface Received {
  headers: IncomingHttpHeaders
  body: string
  event: { id: string, type: string, source: string, subject: string, time: string, specversion: string, datacontenttype: string, data: Record<string, any> }
  /** The signature checked out (HMAC of the timestamp and the exact body bytes, timestamp within 5 minutes). */
  verified: boolean
  /** What the receiver answered. */
  answered: 'ok' | 'error' | 'hung'
}

export type Mode = 'ok' | 'error' | 'hang'

export interface Receiver {
  url: string
  received: Received[]
  /** The events answered 200, by CloudEvent id. */
  delivered: () => Map<string, Received[]>
  mode: Mode
  down: () => Promise<void>
  up: () => Promise<void>
}

export async function startReceiver (t: Test, secret = SECRET): Promise<Receiver> {
  const hung: http.ServerResponse[] = []
  const receiver: Receiver = {
    url: '',
    received: [],
    mode: 'ok',
    delivered () {
      const byId = new Map<string, Received[]>()
      for (const r of receiver.received.filter(r => r.answered === 'ok')) byId.set(r.event.id, [...byId.get(r.event.id) ?? [], r])
      return byId
    },
    down: async () => {
      await new Promise(resolve => server.close(resolve))
    },
    up: async () => {
      await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
    }
  }
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const timestamp = String(req.headers['berth-timestamp'] ?? '')
      const signature = String(req.headers['berth-signature'] ?? '')
      const answered: Received['answered'] = receiver.mode === 'ok' ? 'ok' : receiver.mode === 'error' ? 'error' : 'hung'
      receiver.received.push({ headers: req.headers, body: raw.toString('utf8'), event: JSON.parse(raw.toString('utf8')), verified: verify(secret, timestamp, raw, signature), answered })
      if (answered === 'hung') { hung.push(res); return }
      res.writeHead(answered === 'ok' ? 200 : 500, { 'content-type': 'text/plain' }).end(answered)
    })
  })
  // Refused connections while down: close() also ends the kept-alive sockets of the senders.
  const close = server.close.bind(server)
  server.close = ((cb?: (err?: Error) => void) => {
    close(cb)
    for (const res of hung.splice(0)) res.destroy()
    server.closeAllConnections()
    return server
  }) as typeof server.close
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  receiver.url = `http://127.0.0.1:${port}/hook`
  t.teardown(async () => { if (server.listening) await receiver.down() })
  return receiver
}

/** Waits until `condition` holds, checking every 50 ms; fails after `timeoutMs` (generous: the machine is busy). */
export async function waitFor (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

/** Fast retries for tests. */
export const FAST = {
  BERTH_WEBHOOK_SECRET: SECRET,
  BERTH_WEBHOOK_RETRY_MS: '50',
  BERTH_WEBHOOK_RETRY_MAX_MS: '400',
  BERTH_WEBHOOK_POLL_MS: '100'
}

export interface Replica {
  app: FastifyInstance
  url: string
  host: string
  reports: DeliveryReport[]
}

/** A Berth server built in this process over `dataDir`, with webhooks to `urls`, listening on a loopback port. */
export async function startReplica (t: Test, dataDir: string, env: Record<string, string>): Promise<Replica> {
  const config = loadConfig({ BERTH_DATA_DIR: dataDir, LOG_LEVEL: process.env.WEBHOOK_TEST_LOG === '1' ? 'debug' : 'silent', ...FAST, ...env })
  const reports: DeliveryReport[] = []
  const app = await buildApp(await createBerth(config, { onWebhookDelivery: report => { reports.push(report) } }))
  t.teardown(async () => { await app.close() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  return { app, url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, reports }
}

/** Pending deliveries in the outbox of `app`'s store. */
export async function pending (app: FastifyInstance): Promise<Array<{ id: string, attempts: number }>> {
  const found = []
  for await (const d of app.berth.webhooks.outbox.pending()) found.push(d)
  return found
}
