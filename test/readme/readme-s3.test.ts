// The README's examples, run as written against a live Berth on MinIO (runner.ts): the same blocks and the
// same expected output as on the filesystem store.
import t from 'tap'
import { startMinio, uniqueBucket } from '../helpers/minio.js'
import { startServer } from '../helpers/server-process.js'
import { runReadme } from './runner.js'

t.test('the README runs as written on MinIO', async t => {
  const minio = await startMinio(t)
  const storeEnv = minio.env(uniqueBucket('readme'))
  // Users the README adds take effect at once (by default a process may serve them from memory for 5 s).
  const server = await startServer(t, { ...storeEnv, BERTH_AUTH_CACHE_SECONDS: '0' })
  await runReadme(t, { host: server.host, storeEnv })
})
