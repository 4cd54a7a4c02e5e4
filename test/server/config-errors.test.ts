// Every configuration or environment error stops Berth with one line on stderr that names the variable,
// exit status 2, no stack trace and no hang.
import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import path from 'node:path'
import t from 'tap'
import { expectConfigError, tempDir } from './helpers.js'

async function listening (): Promise<Server> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return server
}
const portOf = (server: Server): number => (server.address() as { port: number }).port

t.test('a data directory that never answers (/proc)', async t => {
  await expectConfigError(t, { BERTH_DATA_DIR: '/proc/nope' }, 'BERTH_DATA_DIR')
})

t.test('a data directory that is a file', async t => {
  const file = path.join(tempDir(t), 'file')
  writeFileSync(file, 'not a directory')
  await expectConfigError(t, { BERTH_DATA_DIR: file }, 'BERTH_DATA_DIR')
})

t.test('an unknown log level', async t => {
  await expectConfigError(t, { BERTH_DATA_DIR: tempDir(t), LOG_LEVEL: 'verbose' }, 'LOG_LEVEL')
})

t.test('an admin password that is too short', async t => {
  await expectConfigError(t, { BERTH_DATA_DIR: tempDir(t), BERTH_ADMIN_USER: 'admin', BERTH_ADMIN_PASSWORD: 'short' }, 'BERTH_ADMIN_PASSWORD')
})

t.test('an admin user name that is not valid', async t => {
  await expectConfigError(t, { BERTH_DATA_DIR: tempDir(t), BERTH_ADMIN_USER: 'Not Valid!', BERTH_ADMIN_PASSWORD: 'long enough password' }, 'BERTH_ADMIN_USER')
})

t.test('a shutdown timeout that is not a number', async t => {
  await expectConfigError(t, { BERTH_DATA_DIR: tempDir(t), BERTH_SHUTDOWN_TIMEOUT_SECONDS: 'soon' }, 'BERTH_SHUTDOWN_TIMEOUT_SECONDS')
})

t.test('an S3 endpoint nobody listens on, within the configured timeout', async t => {
  const closed = await listening()
  const port = portOf(closed)
  await new Promise(resolve => closed.close(resolve))
  await expectConfigError(t, {
    BERTH_STORAGE: 's3',
    BERTH_S3_ENDPOINT: `http://127.0.0.1:${port}`,
    BERTH_S3_ACCESS_KEY: 'minioadmin',
    BERTH_S3_SECRET_KEY: 'minioadmin',
    BERTH_S3_BUCKET: 'berth-test',
    BERTH_S3_TIMEOUT_SECONDS: '2'
  }, 'BERTH_S3_ENDPOINT', { withinMs: 20_000 })
})

t.test('a port already in use', async t => {
  const busy = await listening()
  t.teardown(() => { busy.close() })
  await expectConfigError(t, { BERTH_DATA_DIR: tempDir(t), PORT: String(portOf(busy)) }, 'PORT')
})

t.test('a host that does not exist', async t => {
  await expectConfigError(t, { BERTH_DATA_DIR: tempDir(t), HOST: 'no-such-host.invalid', BERTH_ALLOW_OPEN: 'true' }, 'HOST')
})

t.test('the CLI fails the same way on a data directory that never answers', async t => {
  await expectConfigError(t, { BERTH_DATA_DIR: '/proc/nope' }, 'BERTH_DATA_DIR', { cli: ['user', 'list'] })
})
