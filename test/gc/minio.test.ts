// Garbage collection on MinIO: two replicas over one bucket race pushes against a collection, and the
// multipart upload of a server killed in the middle of a chunk is aborted with its expired session, and
// multipart uploads that no session records are aborted once older than the grace period.
import { randomBytes, randomUUID } from 'node:crypto'
import http from 'node:http'
import { PassThrough, Readable } from 'node:stream'
import t from 'tap'
import { runCli } from '../../src/cli.js'
import type { Deletion } from '../../src/gc/collector.js'
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

t.test('multipart uploads no session records go once older than the grace period; young and foreign ones stay', async t => {
  const bucket = uniqueBucket('gc-orphan')
  const env = { ...minio.env(bucket), BERTH_GC_GRACE_SECONDS: '1', LOG_LEVEL: 'silent' }
  await replica(t, env) // creates the bucket
  const { client } = minio
  const start = async (name: string, bytes: number): Promise<string> => {
    const uploadId = await client.initiateNewMultipartUpload(bucket, name, {})
    if (bytes > 0) await client.uploadPart({ bucketName: bucket, objectName: name, uploadID: uploadId, partNumber: 1, headers: {} }, randomBytes(bytes))
    return uploadId
  }
  // A blob write whose process died mid-body, before any session or marker named it.
  const blob = `blobs/sha256/ab/ab${'0'.repeat(62)}!`
  const blobUpload = await start(blob, 1000)
  // A staging segment's upload with the marker that announces it (multipart.ts), its session record gone.
  const dir = `~staging/uploads/${randomUUID()}/data/`
  const segment = `${dir}seg-${randomUUID()}!`
  const segmentUpload = await start(segment, 2000)
  const marker = `${dir}mpu-${randomUUID()}!`
  await client.putObject(bucket, marker, Buffer.from(JSON.stringify({ name: segment, uploadId: segmentUpload })))
  // Another program's upload in the same bucket: not a name Berth writes.
  const foreign = await start('backups/dump.tar', 10)
  await sleep(1500) // older than the grace period
  const young = await start(`blobs/sha256/cd/cd${'0'.repeat(62)}!`, 10)

  const dry = await cli(env, ['gc', '--dry-run', '--json'])
  t.equal(dry.code, 0, dry.stderr)
  const listed = dry.stdout.trim().split('\n').map(line => JSON.parse(line) as Deletion).filter(d => d.kind === 'abandonedWrite')
  const expected = [
    { kind: 'abandonedWrite', name: blob, id: blobUpload, bytes: 1000 },
    { kind: 'abandonedWrite', name: segment, id: segmentUpload, bytes: 2000 }
  ].sort((a, b) => a.name < b.name ? -1 : 1)
  t.same(listed.sort((a, b) => a.name < b.name ? -1 : 1), expected, 'a dry run lists the two old uploads, with their bytes')
  t.equal((await listMultipartUploads(client, bucket)).length, 4, 'and aborts none')

  const real = await cli(env, ['gc', '--json'])
  t.equal(real.code, 0, real.stderr)
  const deleted = real.stdout.trim().split('\n').map(line => JSON.parse(line) as Deletion).filter(d => d.kind === 'abandonedWrite')
  t.same(deleted.sort((a, b) => a.name < b.name ? -1 : 1), expected, 'a real run deletes exactly what the dry run listed')
  const report = JSON.parse(real.stdout.trim().split('\n').at(-1) as string) as { deleted: Record<string, number>, reclaimedBytes: number }
  t.equal(report.deleted.abandonedWrite, 2)
  t.equal(report.reclaimedBytes, 3000)
  t.same((await listMultipartUploads(client, bucket)).sort(),
    [`backups/dump.tar ${foreign}`, `blobs/sha256/cd/cd${'0'.repeat(62)}! ${young}`].sort(),
    'the old uploads are aborted; the young one and the foreign one stay')
  t.notOk((await listObjectNames(client, bucket)).includes(marker), 'the marker of the aborted upload is gone')

  const again = await cli(env, ['gc', '--json'])
  t.equal((JSON.parse(again.stdout.trim().split('\n').at(-1) as string) as { deleted: Record<string, number> }).deleted.abandonedWrite, 0, 'a second run finds nothing')
})

async function cli (env: Record<string, string>, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', d => { out += String(d) })
  stderr.on('data', d => { err += String(d) })
  const code = await runCli(args, { stdin: Readable.from([]), stdout, stderr, env })
  return { code, stdout: out, stderr: err }
}
