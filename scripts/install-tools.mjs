#!/usr/bin/env node
// Builds the pinned third-party tools in scripts/tools.json into ~/.cache/berth/tools/<name>-<version>/
// (or $BERTH_TOOLS_CACHE), reusing a cached build when the pinned version matches. Nothing is committed.
// usage: node scripts/install-tools.mjs [name ...]
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { toolPath, toolsCache } from './tool-paths.mjs'

const { tools } = JSON.parse(readFileSync(new URL('./tools.json', import.meta.url), 'utf8'))
// Without arguments: every tool the tests need. Benchmark-only tools are built when named.
const wanted = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(tools).filter(name => tools[name].bench !== true)

for (const name of wanted) {
  const tool = tools[name]
  if (tool === undefined) throw new Error(`unknown tool ${name}`)
  const binary = toolPath(name)
  if (existsSync(binary)) continue
  process.stderr.write(`building ${name} ${tool.version} (${tool.package})\n`)
  const work = mkdtempSync(path.join(tmpdir(), `berth-${name}-`))
  const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' }
  const go = (...args) => execFileSync('go', args, { cwd: work, env, stdio: ['ignore', 'inherit', 'inherit'] })
  try {
    go('mod', 'init', 'berth.invalid/tools')
    go('get', `${tool.module}@${tool.version}`)
    mkdirSync(path.dirname(binary), { recursive: true })
    go('build', ...(tool.tags ? ['-tags', tool.tags] : []), '-ldflags=-s -w', '-o', `${binary}.tmp`, tool.package)
    renameSync(`${binary}.tmp`, binary)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
process.stderr.write(`tools ready in ${toolsCache()}: ${wanted.join(', ')}\n`)
