// Start-up against a real MinIO: the start-up line names the endpoint and bucket, and an endpoint that
// accepts connections but never answers, or refuses the credentials, is one line naming the variable, exit 2.
import t from 'tap'
import { startMinio, uniqueBucket } from '../helpers/minio.js'
import { expectConfigError, spawnBerth } from './helpers.js'

t.test('S3', async t => {
  const minio = await startMinio(t)

  t.test('the start-up line names the endpoint and bucket', async t => {
    const bucket = uniqueBucket('startup')
    const berth = spawnBerth(t, minio.env(bucket))
    const url = await berth.url()
    t.match(await berth.waitForLog(e => e.version !== undefined),
      { storage: 's3', location: `${minio.endpoint}/${bucket}`, auth: 'open', address: url })
  })

  t.test('credentials MinIO refuses', async t => {
    await expectConfigError(t, minio.env(uniqueBucket('creds'), { BERTH_S3_SECRET_KEY: 'not-the-secret' }), /BERTH_S3_ACCESS_KEY, BERTH_S3_SECRET_KEY: /, { withinMs: 60_000 })
  })

  t.test('an endpoint that accepts connections but never answers, within the timeout', async t => {
    await minio.pause()
    t.teardown(() => { minio.resume() })
    // 2 s of S3 timeout; start-up waits at most 10 s for an endpoint that is still starting.
    await expectConfigError(t, minio.env(uniqueBucket('paused'), { BERTH_S3_TIMEOUT_SECONDS: '2' }), /BERTH_S3_ENDPOINT: /, { withinMs: 60_000 })
  })
})
