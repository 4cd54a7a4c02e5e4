// `berth mirror status`, `berth mirror sync NAME` and `berth mirror retry RULE`: the scheduled syncs and push
// replication rules, from the records in the store that every replica shares.
import type { Berth } from '../compose.js'
import type { SyncReport } from './sync.js'

export const MIRROR_USAGE = `       berth mirror status [--json]                     last sync of each mirror, pending pushes of each replication rule
       berth mirror sync <name>                         sync mirror <name> now and print what was copied
       berth mirror retry <rule>                        queue the copies of replication rule <rule> that failed for good again`

export interface MirrorCliIo {
  out: (line: string) => void
  err: (line: string) => void
  usage: (message: string) => Error
}

function summary (report: SyncReport): string {
  const w = report.written
  return `${report.result}: ${report.copied.length} tags copied, ${report.unchanged} unchanged, ${report.skippedUnsigned} unsigned skipped; ` +
    `wrote ${w.manifests} manifests, ${w.blobs} blobs (${w.bytes} bytes), ${w.referrers} referrers`
}

export async function mirrorCommand (berth: Berth, args: string[], io: MirrorCliIo): Promise<number> {
  const [verb, ...rest] = args
  switch (verb) {
    case 'status': {
      const unknown = rest.find(a => a !== '--json')
      if (unknown !== undefined) throw io.usage(`unexpected argument "${unknown}"`)
      const mirrors = (await berth.mirrorSync.status()).map(({ mirror, last }) => ({
        mirror: mirror.name,
        upstream: mirror.upstream.url,
        repositories: mirror.sync.repositories,
        intervalSeconds: mirror.sync.intervalSeconds,
        ...(last === undefined
          ? {}
          : {
              lastRun: last.finishedAt,
              result: last.result,
              tagsCopied: last.copied.length,
              unchanged: last.unchanged,
              skippedUnsigned: last.skippedUnsigned,
              ...(last.errors.length > 0 ? { lastError: last.errors.at(-1) } : {})
            })
      }))
      const rules = (await berth.replication.status()).map(({ rule, last, pending, failed }) => ({
        rule: rule.name,
        repositories: rule.repositories,
        target: rule.target.url,
        pending,
        failed,
        ...(last === undefined ? {} : { lastRun: last.at, result: last.result, pushed: last.pushed, last: last.last, ...(last.lastError === undefined ? {} : { lastError: last.lastError }) })
      }))
      if (rest.includes('--json')) {
        io.out(JSON.stringify({ mirrors, replication: rules }))
        return 0
      }
      if (mirrors.length === 0 && rules.length === 0) io.err('no mirror syncs and no replication rules are configured (BERTH_MIRRORS "sync", BERTH_REPLICATION)')
      for (const m of mirrors) {
        io.out(`mirror ${m.mirror}\t${m.upstream}\t${m.lastRun === undefined ? 'never ran' : `last run ${m.lastRun} ${m.result ?? ''}, ${m.tagsCopied ?? 0} tags copied, ${m.unchanged ?? 0} unchanged`}` +
          `${m.lastError === undefined ? '' : `\tlast error: ${m.lastError}`}`)
      }
      for (const r of rules) {
        io.out(`replication ${r.rule}\t${r.target}\t${r.pending} pending, ${r.failed} failed` +
          `${r.lastRun === undefined ? '' : `\tlast run ${r.lastRun} ${r.result ?? ''}, ${r.pushed ?? 0} pushed`}${r.lastError === undefined ? '' : `\tlast error: ${r.lastError}`}`)
      }
      return 0
    }
    case 'sync': {
      const name = rest[0]
      if (name === undefined || name.startsWith('--')) throw io.usage('missing mirror name')
      if (rest.length > 1) throw io.usage(`unexpected argument "${rest[1] ?? ''}"`)
      if (!berth.mirrorSync.mirrors.some(m => m.name === name)) {
        throw io.usage(`no mirror "${name}" syncs (mirrors with a "sync" section: ${berth.mirrorSync.mirrors.map(m => m.name).join(', ') || 'none'})`)
      }
      const report = await berth.mirrorSync.run(name)
      if (report.result === 'busy') {
        io.err(`mirror ${name} is being synced by another replica; try again when it is done`)
        return 1
      }
      for (const c of report.copied) io.out(`copied ${c.repository}:${c.tag} ${c.digest}`)
      for (const e of report.errors) io.err(`error: ${e}`)
      io.out(summary(report))
      return report.result === 'ok' ? 0 : 1
    }
    case 'retry': {
      const name = rest[0]
      if (name === undefined || name.startsWith('--')) throw io.usage('missing replication rule name')
      if (rest.length > 1) throw io.usage(`unexpected argument "${rest[1] ?? ''}"`)
      if (!berth.replication.rules.some(r => r.name === name)) {
        throw io.usage(`no replication rule "${name}" (BERTH_REPLICATION names: ${berth.replication.rules.map(r => r.name).join(', ') || 'none'})`)
      }
      io.out(`queued ${await berth.replication.retryFailed(name)} failed copies of rule ${name} again`)
      return 0
    }
    default:
      throw io.usage(verb === undefined ? 'missing mirror command' : `unknown mirror command "${verb}"`)
  }
}
