// `berth immutable ...` and `berth quota ...`: a namespace's immutable-tag rules and storage quota, in the store
// every replica reads (a running server applies a change within its rules cache, RULES_CACHE_MS).
import { setTimeout as sleep } from 'node:timers/promises'
import type { Berth } from '../compose.js'
import { GovernanceInputError, formatSize, parseSize } from './index.js'

export const GOVERNANCE_USAGE = `       berth immutable list [<namespace>] [--json]       immutable-tag rules
       berth immutable add|remove <namespace> <pattern>  tags matching the glob (v*, release-*, *) never move or go
       berth quota [list] [--json]                      usage and limit of each namespace with a quota
       berth quota set <namespace> <size>               e.g. 10GiB, 500MB; counts the namespace's usage first
       berth quota unset <namespace>
       berth quota recount [<namespace>]                recount usage from the store (after a crash); without a
                                                        namespace: every namespace, measuring those without a quota`

export interface GovernanceCliIo {
  out: (line: string) => void
  /** The CLI's usage error (exit status 2, usage printed). */
  usage: (message: string) => Error
}

function positional (args: string[], count: number, io: GovernanceCliIo, names: string[]): string[] {
  const values = args.filter(a => !a.startsWith('--'))
  const flag = args.find(a => a.startsWith('--') && a !== '--json')
  if (flag !== undefined) throw io.usage(`unknown option ${flag}`)
  if (values.length < count) throw io.usage(`missing ${names[values.length] ?? 'argument'}`)
  if (values.length > names.length) throw io.usage(`unexpected argument "${values[names.length] ?? ''}"`)
  return values
}

/** Runs one command, turning bad input (a pattern, a size, a namespace) into a usage error. */
async function guarded (io: GovernanceCliIo, run: () => Promise<number>): Promise<number> {
  try {
    return await run()
  } catch (err) {
    if (err instanceof GovernanceInputError) throw io.usage(err.message)
    throw err
  }
}

export async function immutableCommand (berth: Berth, args: string[], io: GovernanceCliIo): Promise<number> {
  const { governance } = berth
  const [verb, ...rest] = args
  return await guarded(io, async () => {
    switch (verb) {
      case 'list': {
        const [namespace] = positional(rest, 0, io, ['namespace'])
        const all = await governance.immutableRules()
        const shown = namespace === undefined ? all : all.filter(r => r.namespace === namespace)
        if (rest.includes('--json')) io.out(JSON.stringify(shown))
        else for (const r of shown) for (const p of r.patterns) io.out(`${r.namespace}\t${p}`)
        return 0
      }
      case 'add':
      case 'remove': {
        const [namespace, pattern] = positional(rest, 2, io, ['namespace', 'pattern']) as [string, string]
        const rules = verb === 'add' ? await governance.addImmutable(namespace, pattern) : await governance.removeImmutable(namespace, pattern)
        io.out(`${namespace}\timmutable: ${rules.immutable.join(' ') || '-'}`)
        return 0
      }
      default:
        throw io.usage(verb === undefined ? 'missing immutable command' : `unknown immutable command "${verb}"`)
    }
  })
}

export async function quotaCommand (berth: Berth, args: string[], io: GovernanceCliIo): Promise<number> {
  const { governance, registry } = berth
  const [verb, ...rest] = args
  return await guarded(io, async () => {
    switch (verb) {
      case undefined:
      case '--json':
      case 'list': {
        const flags = verb === '--json' ? ['--json', ...rest] : rest
        positional(flags, 0, io, [])
        const usage = await governance.quotaUsage()
        if (flags.includes('--json')) {
          io.out(JSON.stringify(usage))
        } else {
          for (const u of usage) {
            const percent = u.limitBytes === 0 ? 100 : Math.round(100 * u.usedBytes / u.limitBytes)
            io.out(`${u.namespace}\t${formatSize(u.usedBytes)} of ${formatSize(u.limitBytes)} (${percent}%)`)
          }
        }
        return 0
      }
      case 'set': {
        const [namespace, size] = positional(rest, 2, io, ['namespace', 'size']) as [string, string]
        const set = await governance.setQuota(namespace, parseSize(size), registry.catalog, async ms => { await sleep(ms) })
        io.out(`${namespace}\t${formatSize(set.usedBytes)} of ${formatSize(set.limitBytes)}`)
        return 0
      }
      case 'unset': {
        const [namespace] = positional(rest, 1, io, ['namespace']) as [string]
        io.out(await governance.unsetQuota(namespace) ? `${namespace}\tno quota` : `${namespace}\thad no quota`)
        return 0
      }
      case 'recount': {
        const [namespace] = positional(rest, 0, io, ['namespace'])
        const namespaces = namespace !== undefined ? [namespace] : await governance.recountableNamespaces(registry.catalog)
        for (const ns of namespaces) {
          const report = await governance.recount(ns, registry.catalog)
          io.out(`${ns}\t${formatSize(report.usedBytes)} in ${report.digests} blobs and manifests (${report.links} links in ${report.repositories} repositories)`)
        }
        return 0
      }
      default:
        throw io.usage(`unknown quota command "${verb}"`)
    }
  })
}
