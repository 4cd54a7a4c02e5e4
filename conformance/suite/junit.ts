// JUnit XML report: one <testsuite> per workflow group.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { CheckResult } from './harness.js'

function xml (s: string): string {
  return s
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;')
    // characters XML 1.0 cannot carry at all
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '?')
}

const secs = (ms: number) => (ms / 1000).toFixed(3)

export function writeJunit (path: string, suiteName: string, results: CheckResult[]): void {
  const groups = new Map<string, CheckResult[]>()
  for (const r of results) groups.set(r.group, [...(groups.get(r.group) ?? []), r])
  const count = (rs: CheckResult[], s: CheckResult['status']) => rs.filter((r) => r.status === s).length
  const total = (rs: CheckResult[]) => rs.reduce((t, r) => t + r.durationMs, 0)

  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>']
  out.push(`<testsuites name="${xml(suiteName)}" tests="${results.length}" failures="${count(results, 'failed')}" ` +
    `skipped="${count(results, 'skipped')}" time="${secs(total(results))}">`)
  for (const [group, rs] of groups) {
    out.push(`  <testsuite name="${xml(group)}" tests="${rs.length}" failures="${count(rs, 'failed')}" ` +
      `skipped="${count(rs, 'skipped')}" errors="0" time="${secs(total(rs))}">`)
    for (const r of rs) {
      const open = `    <testcase classname="${xml(`${suiteName}.${group}`)}" name="${xml(r.name)}" time="${secs(r.durationMs)}"`
      if (r.status === 'passed') {
        out.push(`${open}/>`)
      } else if (r.status === 'skipped') {
        out.push(`${open}>`, `      <skipped message="${xml(r.message ?? '')}"/>`, '    </testcase>')
      } else {
        out.push(`${open}>`,
          `      <failure message="${xml(r.message ?? 'failed')}">${xml([r.message, r.detail].filter(Boolean).join('\n'))}</failure>`,
          '    </testcase>')
      }
    }
    out.push('  </testsuite>')
  }
  out.push('</testsuites>', '')
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, out.join('\n'))
}
