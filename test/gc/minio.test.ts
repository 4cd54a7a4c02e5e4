// Garbage collection on MinIO: two replicas over one bucket race pushes against a collection, and the
// multipart upload of a server killed in the middle of a chunk is aborted with its expired session.
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import t from 'tap'
import { listMultipartUploads, listObjectNames, startMinio, startUpload, uniqueBucket } from '../helpers/minio.js'
import { startServer } from '../helpers/server-process.js'
import { replica, sleep } from './helpers.js'
import { raceCollection } from './race.js'

const minio = await startMinio(t)

t.test('pushes racing a collection on two replicas lose nothing; old garbage goes', async t => {
  const env = { ...minio.env(uniqueBucket('gc-race')), BERTH_GC_GRACE_SECONDS: '1' }
  const a = await replica(t, env)
  const b = await replica(t, env)
  await raceCollection(t, a, b, { graceMs: 1000, pushes: 12 })
})

t.test('an expired session of a killed server goes, with the multipart upload it left', async t => {
  const bucket = uniqueBucket('gc-mpu')
  const env = minio.env(bucket)
  const server = await startServer(t, env)
  const location = await startUpload(server.url, 'team/crash')
  // A chunk of 40 MiB, streamed: its multipart upload starts after the first 16 MiB; the server dies mid-way.
  const url = new URL(location, server.url)
  const req = http.request(url, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream' } })
  req.on('error', () => {})
  for (let sent = 0; sent < 30 * 1024 * 1024; sent += 1024 * 1024) {
    if (!req.write(randomBytes(1024 * 1024))) await new Promise(resolve => req.once('drain', resolve))
  }
  for (let i = 0; i < 100 && (await listMultipartUploads(minio.client, bucket)).length === 0; i++) await sleep(100)
  t.ok((await listMultipartUploads(minio.client, bucket)).length > 0, 'the chunk streams into a multipart upload')
  server.child.kill('SIGKILL')
  req.destroy()
  await new Promise(resolve => server.child.once('exit', resolve))
  t.ok((await listMultipartUploads(minio.client, bucket)).length > 0, 'the killed server left its multipart upload')

  const gc = await replica(t, { ...env, BERTH_GC_GRACE_SECONDS: '1' }, { uploadTtlMs: 1000 })
  await sleep(1500) // the session is now older than the upload TTL
  const report = await gc.gc.run()
  t.equal(report?.deleted.upload, 1, 'the session is purged')
  t.same(await listMultipartUploads(minio.client, bucket), [], 'its multipart upload is aborted')
  t.same((await listObjectNames(minio.client, bucket)).filter(n => n.startsWith('uploads/') || n.startsWith('~staging/uploads/')), [], 'nothing of it is left')
})
