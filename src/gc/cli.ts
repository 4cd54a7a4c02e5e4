// `berth gc` and `berth retention`: garbage collection on demand, and the retention policies in the store.
import type { Berth } from '../compose.js'
import type { Deletion, DeletionKind, GcReport } from './collector.js'
import { RetentionError, type RetentionPolicy } from './retention.js'

export const GC_USAGE = `       berth gc [--dry-run] [--grace-seconds N] [--json]    collect garbage now (dry: only report it)
       berth retention list [--json]                    retention policies
       berth retention set <name> --repos <glob> [--keep-last N] [--keep-tags <regex>]
                           [--untagged-after <seconds>] [--no-keep-referrers]
       berth retention delete <name>`

export interface GcCliIo {
  out: (line: string) => void
  /** An error the CLI reports as a usage error (exit 2). */
  usage: (message: string) => Error
}

const KIND_LABELS: Record<DeletionKind, string> = { tag: 'tags', manifest: 'manifests', layerLink: 'layer links', blob: 'blobs', abandonedWrite: 'abandoned writes', upload: 'uploads' }

function describe (d: Deletion): string {
  const where = d.kind === 'tag'
    ? `${d.repository ?? ''}:${d.name}`
    : d.repository !== undefined ? `${d.repository}@${d.name}` : d.id !== undefined ? `${d.name} ${d.id}` : d.name
  return `${d.kind} ${where}${d.bytes > 0 ? ` (${d.bytes} bytes)` : ''}`
}

export function summary (report: GcReport): string {
  const counts = (Object.keys(KIND_LABELS) as DeletionKind[]).map(kind =>
    `${KIND_LABELS[kind]} ${report.deleted[kind]}${kind === 'blob' || kind === 'abandonedWrite' || kind === 'upload' ? ` (${report.bytes[kind]} bytes)` : ''}`)
  return `${report.dryRun ? 'would delete' : 'deleted'}: ${counts.join(', ')}; ${report.dryRun ? 'would reclaim' : 'reclaimed'} ${report.reclaimedBytes} bytes`
}

/** Reads `--flag value` options; every other argument is positional. */
function parseFlags (args: string[], valued: string[], bare: string[], io: GcCliIo): { flags: Map<string, string>, positional: string[] } {
  const flags = new Map<string, string>()
  const positional: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    if (!a.startsWith('--')) { positional.push(a); continue }
    if (bare.includes(a)) { flags.set(a, ''); continue }
    if (!valued.includes(a)) throw io.usage(`unknown option ${a}`)
    const value = args[++i]
    if (value === undefined) throw io.usage(`${a} needs a value`)
    flags.set(a, value)
  }
  return { flags, positional }
}

function wholeNumber (value: string | undefined, flag: string, io: GcCliIo): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) throw io.usage(`${flag} takes a whole number (got "${value}")`)
  return Number(value)
}

export async function gcCommand (berth: Berth, args: string[], io: GcCliIo): Promise<number> {
  const { flags, positional } = parseFlags(args, ['--grace-seconds'], ['--dry-run', '--json'], io)
  if (positional.length > 0) throw io.usage(`unexpected argument "${positional[0] ?? ''}"`)
  const dryRun = flags.has('--dry-run')
  const json = flags.has('--json')
  const grace = wholeNumber(flags.get('--grace-seconds'), '--grace-seconds', io)
  const report = await berth.gc.run({
    dryRun,
    ...(grace === undefined ? {} : { graceMs: grace * 1000 }),
    onDelete: d => { io.out(json ? JSON.stringify(d) : `${dryRun ? 'would delete' : 'deleted'} ${describe(d)}`) }
  })
  if (report === undefined) {
    io.out('another replica is collecting garbage now; nothing done (try again when it has finished)')
    return 1
  }
  io.out(json ? JSON.stringify(report) : summary(report))
  return 0
}

function policyLine (p: RetentionPolicy): string {
  const rules = [
    p.keepLastTags === undefined ? undefined : `keep-last ${p.keepLastTags}`,
    p.keepTags === undefined ? undefined : `keep-tags ${p.keepTags}`,
    p.untaggedAfterSeconds === undefined ? undefined : `untagged-after ${p.untaggedAfterSeconds}s`,
    p.keepReferrers ? undefined : 'no-keep-referrers'
  ].filter(r => r !== undefined)
  return `${p.name}\t${p.repositories}\t${rules.join(', ') || '-'}`
}

export async function retentionCommand (berth: Berth, args: string[], io: GcCliIo): Promise<number> {
  const { retention } = berth.gc
  const [verb, ...rest] = args
  switch (verb) {
    case 'list': {
      const { flags, positional } = parseFlags(rest, [], ['--json'], io)
      if (positional.length > 0) throw io.usage(`unexpected argument "${positional[0] ?? ''}"`)
      const policies = await retention.list()
      if (flags.has('--json')) io.out(JSON.stringify(policies))
      else for (const p of policies) io.out(policyLine(p))
      return 0
    }
    case 'set': {
      const { flags, positional } = parseFlags(rest, ['--repos', '--keep-last', '--keep-tags', '--untagged-after'], ['--no-keep-referrers'], io)
      const [name, extra] = positional
      if (name === undefined) throw io.usage('missing policy name')
      if (extra !== undefined) throw io.usage(`unexpected argument "${extra}"`)
      const repositories = flags.get('--repos')
      if (repositories === undefined) throw io.usage('--repos <glob> is required')
      const keepLastTags = wholeNumber(flags.get('--keep-last'), '--keep-last', io)
      const untaggedAfterSeconds = wholeNumber(flags.get('--untagged-after'), '--untagged-after', io)
      const keepTags = flags.get('--keep-tags')
      const policy: RetentionPolicy = {
        name,
        repositories,
        ...(keepLastTags === undefined ? {} : { keepLastTags }),
        ...(keepTags === undefined ? {} : { keepTags }),
        ...(untaggedAfterSeconds === undefined ? {} : { untaggedAfterSeconds }),
        keepReferrers: !flags.has('--no-keep-referrers')
      }
      try {
        await retention.set(policy)
      } catch (err) {
        if (err instanceof RetentionError) throw io.usage(err.message)
        throw err
      }
      io.out(policyLine(policy))
      return 0
    }
    case 'delete': {
      const [name, extra] = rest
      if (name === undefined) throw io.usage('missing policy name')
      if (extra !== undefined) throw io.usage(`unexpected argument "${extra}"`)
      if (!await retention.delete(name)) {
        io.out(`no retention policy "${name}"`)
        return 1
      }
      io.out(`deleted retention policy ${name}`)
      return 0
    }
    default:
      throw io.usage(verb === undefined ? 'missing retention command' : `unknown retention command "${verb}"`)
  }
}
