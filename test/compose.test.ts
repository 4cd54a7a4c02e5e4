// No Docker engine runs on the build machines, so docker-compose.yml is checked by reading it: its services,
// ports, volumes and healthchecks, and that the environment it gives Berth is exactly configuration that
// src/config.ts reads (and accepts), wired to the MinIO service it runs.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { parse } from 'yaml'
import { CONFIG_ENV_VARS, S3_REQUIRED_ENV_VARS, loadConfig } from '../src/config.js'

const root = new URL('../', import.meta.url)
const read = (file: string): string => readFileSync(new URL(file, root), 'utf8')

interface Service {
  image?: string
  build?: string | { context: string }
  command?: string[] | string
  environment?: Record<string, string | number | boolean> | string[]
  ports?: string[]
  volumes?: string[]
  depends_on?: Record<string, { condition: string }> | string[]
  healthcheck?: { test: string[] | string, interval?: string, timeout?: string, retries?: number }
}

const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service>, volumes?: Record<string, unknown> }

/** A service's environment as a map (compose allows a list of NAME=value too). */
function envOf (service: Service): Record<string, string> {
  const env = service.environment ?? {}
  if (Array.isArray(env)) return Object.fromEntries(env.map(e => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]))
}

/** host:container port pairs, from "127.0.0.1:5000:5000" or "5000:5000". */
function portsOf (service: Service): Array<{ host: string, container: number }> {
  return (service.ports ?? []).map(p => {
    const parts = String(p).split(':')
    return { host: parts.slice(0, -1).join(':'), container: Number(parts.at(-1)) }
  })
}

const { minio, berth } = compose.services
const berthEnv = envOf(berth ?? {})
const minioEnv = envOf(minio ?? {})

t.test('the file runs exactly MinIO and Berth', async t => {
  t.same(Object.keys(compose.services).sort(), ['berth', 'minio'])
})

t.test('MinIO: a pinned image recent enough for conditional writes, a data volume, a healthcheck', async t => {
  const image = minio?.image ?? ''
  const release = /^(?:quay\.io\/)?minio\/minio:RELEASE\.(\d{4}-\d{2}-\d{2})T/.exec(image)
  t.ok(release, `pinned to a release tag (${image})`)
  t.ok((release?.[1] ?? '') >= '2025-09-07', 'RELEASE.2025-09-07 or later: If-Match on a missing key answers 404')
  t.ok(minio?.volumes?.some(v => /^[\w-]+:\/data$/.test(v)), 'a named volume on /data')
  t.match(JSON.stringify(minio?.command), /"server","\/data"/)
  t.ok(minio?.healthcheck?.test, 'has a healthcheck')
  t.ok(minioEnv.MINIO_ROOT_USER !== undefined && minioEnv.MINIO_ROOT_PASSWORD !== undefined)
  t.ok(portsOf(minio ?? {}).some(p => p.container === 9000), 'the S3 API port is published')
})

t.test('Berth: built from the Dockerfile, started once MinIO is healthy, ready = /readyz', async t => {
  const build = berth?.build
  t.equal(typeof build === 'string' ? build : build?.context, '.')
  t.same(berth?.depends_on, { minio: { condition: 'service_healthy' } })
  t.match(JSON.stringify(berth?.healthcheck?.test), /\/readyz/)
  const port = Number(berthEnv.PORT ?? 5000)
  t.ok(portsOf(berth ?? {}).some(p => p.container === port), `the container port ${port} (PORT) is published`)
  for (const volume of [...(berth?.volumes ?? []), ...(minio?.volumes ?? [])]) {
    const name = volume.split(':')[0] ?? ''
    if (!name.startsWith('.') && !name.startsWith('/')) t.ok(compose.volumes?.[name] !== undefined, `volume ${name} is declared`)
  }
})

t.test('every variable set for Berth is one the configuration reads, and the s3 ones are all there', async t => {
  const known = new Set<string>(CONFIG_ENV_VARS)
  for (const name of Object.keys(berthEnv)) t.ok(known.has(name), `${name} is read by src/config.ts`)
  t.equal(berthEnv.BERTH_STORAGE, 's3')
  for (const name of S3_REQUIRED_ENV_VARS) t.ok((berthEnv[name] ?? '') !== '', `${name} is set`)
  t.ok(berthEnv.BERTH_S3_REGION !== undefined, 'BERTH_S3_REGION is set')
})

t.test('compose binds every interface inside the container, publishes on loopback only, and says it runs open', async t => {
  t.equal(loadConfig({}).host, '127.0.0.1', 'Berth alone binds loopback by default')
  t.equal(berthEnv.HOST, '0.0.0.0', 'HOST is set explicitly')
  const published = portsOf(berth ?? {})
  t.ok(published.length > 0 && published.every(p => p.host.startsWith('127.0.0.1')), 'Berth is published on 127.0.0.1 only')
  t.equal(loadConfig(berthEnv).allowOpen, true, 'BERTH_ALLOW_OPEN=true: it has no users and would refuse to start on 0.0.0.0 otherwise')
})

t.test('the configuration accepts that environment and points it at the MinIO service', async t => {
  const config = loadConfig(berthEnv)
  t.equal(config.storage.driver, 's3')
  if (config.storage.driver !== 's3') return
  const endpoint = new URL(config.storage.s3.endpoint)
  t.equal(endpoint.hostname, 'minio', 'the endpoint is the minio service')
  t.equal(Number(endpoint.port), 9000, 'on the port MinIO listens on')
  t.match(JSON.stringify(minio?.command), /"--address",":9000"/)
  t.equal(config.storage.s3.accessKey, minioEnv.MINIO_ROOT_USER, 'credentials match the MinIO root user')
  t.equal(config.storage.s3.secretKey, minioEnv.MINIO_ROOT_PASSWORD)
  if (config.storage.s3.publicEndpoint !== undefined) {
    const pub = new URL(config.storage.s3.publicEndpoint)
    t.ok(portsOf(minio ?? {}).some(p => p.container === 9000 && p.host.endsWith(pub.port)) ||
      portsOf(minio ?? {}).some(p => String(p.host).split(':').at(-1) === pub.port), 'the public endpoint is MinIO\'s published port')
  }
})

t.test('CONFIG_ENV_VARS lists every variable src/config.ts reads', async t => {
  const source = read('src/config.ts')
  const read_ = new Set<string>()
  for (const m of source.matchAll(/env\.([A-Z][A-Z0-9_]+)|env, '([A-Z][A-Z0-9_]+)'|env\[?'([A-Z][A-Z0-9_]+)'/g)) read_.add(m[1] ?? m[2] ?? m[3] ?? '')
  for (const name of S3_REQUIRED_ENV_VARS) read_.add(name)
  t.same([...read_].sort(), [...CONFIG_ENV_VARS].sort())
})

t.test('the Dockerfile serves on the port compose publishes and probes readiness', async t => {
  const dockerfile = read('Dockerfile')
  t.match(dockerfile, /^EXPOSE 5000$/m)
  t.match(dockerfile, /PORT=5000/)
  t.match(dockerfile, /^\s+HOST=0\.0\.0\.0 \\$/m, 'the image binds every interface explicitly (Berth defaults to 127.0.0.1)')
  t.match(dockerfile, /HEALTHCHECK[\s\S]*\/readyz/)
  t.match(dockerfile, /^USER node$/m)
  t.match(dockerfile, /COPY --from=build \/app\/schemas \.\/schemas/, 'the schemas read at runtime are in the image')
  const ignore = read('.dockerignore').split('\n')
  for (const entry of ['node_modules', '.git', 'dist']) t.ok(ignore.includes(entry), `.dockerignore excludes ${entry}`)
})
