// Large layers: a 200 MiB layer pushed and pulled with crane and with oras; the bytes pulled must be the bytes
// pushed. crane gets a gzipped tar (it pushes an already compressed layer unchanged), oras the raw random file.
import { rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { need, type Suite } from '../../conformance/suite/harness.js'
import { check, checkEqual, workDir, type Ctx } from '../lib/context.js'
import type { ClientRun } from '../lib/clients.js'
import { readLayout, sameFileBytes, sha256, sha256File, writeRandomFile, writeTarGz } from '../lib/fixtures.js'

const LONG = 10 * 60_000

export function largeWorkflow (suite: Suite, ctx: Ctx): void {
  const { registry: R } = ctx
  const { crane, oras } = ctx.clients
  const mib = Math.round(ctx.largeBytes / (1024 * 1024))
  const craneRepo = `${ctx.ns}/large/crane`
  const orasRepo = `${ctx.ns}/large/oras`
  const dir = (): string => workDir(ctx, 'large')
  let files: { raw: string, rawDigest: string, tgz: string, tgzDigest: string } | undefined

  suite.group('large layers', (g) => {
    g.test(`generate ${mib} MiB of random data, and a gzipped tar of it`, async () => {
      const raw = path.join(dir(), 'big.bin')
      const tgz = path.join(dir(), 'big.tar.gz')
      await writeRandomFile(raw, ctx.largeBytes)
      await writeTarGz(tgz, 'big.bin', raw, ctx.largeBytes)
      files = { raw, rawDigest: await sha256File(raw), tgz, tgzDigest: await sha256File(tgz) }
    }, { timeoutMs: LONG })

    g.test(`crane: push a ${mib} MiB layer`, async () => {
      const f = need(files, 'the generated layer')
      await crane.run(['append', '--oci-empty-base', '-f', f.tgz, '-t', `${R}/${craneRepo}:v1`], { timeoutMs: LONG })
      const m = await crane.run(['manifest', `${R}/${craneRepo}:v1`])
      const layers = m.json<{ layers: Array<{ digest: string, size: number }> }>().layers
      checkEqual(layers.map(l => [l.digest, l.size]), [[f.tgzDigest, statSync(f.tgz).size]], 'layer (digest, size) in the manifest', m)
    }, { timeoutMs: LONG })

    g.test(`crane: pull the ${mib} MiB layer back, bytes identical`, async () => {
      const f = need(files, 'the generated layer')
      const out = path.join(dir(), 'crane-pulled')
      const pull = await crane.run(['pull', '--format', 'oci', `${R}/${craneRepo}:v1`, out], { timeoutMs: LONG })
      let layout
      try {
        layout = readLayout(out)
      } catch (err) {
        check(false, `crane pull should write an OCI layout to ${out}: ${err instanceof Error ? err.message : String(err)}`, pull)
      }
      await checkSameFile(layout.blobPath(f.tgzDigest), f.tgz, 'the layer crane pulled into an OCI layout', pull)
      const blobOut = path.join(dir(), 'crane-blob.tar.gz')
      const blob = await crane.run(['blob', `${R}/${craneRepo}@${f.tgzDigest}`], { stdoutFile: blobOut, timeoutMs: LONG })
      await checkSameFile(blobOut, f.tgz, 'the blob crane fetched', blob)
      rmSync(out, { recursive: true, force: true })
      rmSync(blobOut, { force: true })
    }, { timeoutMs: LONG })

    g.test(`oras: push a ${mib} MiB layer`, async () => {
      const f = need(files, 'the generated layer')
      const push = await oras.run(['push', '--plain-http', '--format', 'json', `${R}/${orasRepo}:v1`, 'big.bin:application/octet-stream'],
        { cwd: path.dirname(f.raw), timeoutMs: LONG })
      const fetched = await oras.run(['manifest', 'fetch', '--plain-http', `${R}/${orasRepo}:v1`])
      checkEqual(sha256(fetched.stdout), push.json<{ digest: string }>().digest, 'digest of the manifest served for the tag', fetched)
      const layers = fetched.json<{ layers: Array<{ digest: string, size: number }> }>().layers
      checkEqual(layers.map(l => [l.digest, l.size]), [[f.rawDigest, ctx.largeBytes]], 'layer (digest, size) in the manifest', fetched)
    }, { timeoutMs: LONG })

    g.test(`oras: pull the ${mib} MiB layer back, bytes identical`, async () => {
      const f = need(files, 'the generated layer')
      const out = path.join(dir(), 'oras-pulled')
      const pull = await oras.run(['pull', '--plain-http', '-o', out, `${R}/${orasRepo}:v1`], { timeoutMs: LONG })
      await checkSameFile(path.join(out, 'big.bin'), f.raw, 'the file oras pulled', pull)
      rmSync(dir(), { recursive: true, force: true })
    }, { timeoutMs: LONG })
  })
}

/** Fails, with the client run as detail, unless `got` exists and holds the same bytes as `want`. */
async function checkSameFile (got: string, want: string, what: string, run: ClientRun): Promise<void> {
  let same = false
  try {
    same = await sameFileBytes(got, want)
  } catch (err) {
    check(false, `${what}: cannot read ${got} (${err instanceof Error ? err.message : String(err)})`, run)
  }
  check(same, `${what}: the bytes differ from what was pushed`, run)
}
