// Health endpoints, outside the registry APIs: GET /healthz is liveness (the process serves requests),
// GET /readyz is readiness (the store answers). Load balancers and compose healthchecks use /readyz to
// take a replica out of rotation while its store (MinIO) is unreachable, and put it back once it answers.
import type { FastifyInstance } from 'fastify'
import type { StorageDriver } from './storage/driver.js'

export interface HealthOptions {
  driver: StorageDriver
  /** Readiness fails when the store has not answered within this long. */
  timeoutMs?: number
}

export async function health (app: FastifyInstance, { driver, timeoutMs = 5000 }: HealthOptions): Promise<void> {
  app.get('/healthz', async (_request, reply) => {
    return await reply.header('Cache-Control', 'no-store').send({ status: 'ok' })
  })

  app.get('/readyz', async (request, reply) => {
    reply.header('Cache-Control', 'no-store')
    try {
      await withTimeout(probe(driver), timeoutMs)
      return await reply.send({ status: 'ready', storage: driver.name })
    } catch (err) {
      request.log.warn({ err }, 'readiness probe failed')
      return await reply.code(503).send({ status: 'unavailable', storage: driver.name, error: (err as Error).message })
    }
  })
}

/** One cheap round trip to the store. */
async function probe (driver: StorageDriver): Promise<void> {
  if (driver.ping !== undefined) {
    await driver.ping()
  } else {
    await driver.stat('health/readyz-probe')
  }
}

async function withTimeout (work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`the store did not answer within ${ms} ms`)) }, ms)
  })
  try {
    await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}
