#!/usr/bin/env node
// Builds the pinned third-party tools in scripts/tools.json into ~/.cache/berth/tools/<name>-<version>/
// (or $BERTH_TOOLS_CACHE), reusing a cached build when the pinned version matches. Nothing is committed.
// A cold build takes minutes per tool on a busy machine, so it reports progress: each step as it starts,
// the packages `go build -v` has compiled so far every 20 s, and each tool's time when it is done.
// usage: node scripts/install-tools.mjs [name ...]
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { toolPath, toolsCache } from './tool-paths.mjs'

const { tools } = JSON.parse(readFileSync(new URL('./tools.json', import.meta.url), 'utf8'))
// Without arguments: every tool the tests need. Benchmark-only tools are built when named.
const wanted = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(tools).filter(name => tools[name].bench !== true)

const HEARTBEAT_MS = 20_000
const seconds = (since) => `${Math.round((Date.now() - since) / 1000)} s`
const say = (line) => { process.stderr.write(`install-tools: ${line}\n`) }

/** Runs go; `go build -v` names each package it compiles on stderr, which is counted for the heartbeat. */
async function go (label, args, options) {
  const started = Date.now()
  let compiled = 0
  let captured = ''
  const child = spawn('go', args, { ...options, stdio: ['ignore', 'inherit', 'pipe'] })
  const counting = args[0] === 'build'
  child.stderr.on('data', (chunk) => {
    if (counting) {
      captured += chunk
      compiled += String(chunk).split('\n').filter(line => line !== '').length
    } else {
      process.stderr.write(chunk)
    }
  })
  const heartbeat = setInterval(() => {
    say(`  ${label}: still running after ${seconds(started)}${counting ? `, ${compiled} packages compiled` : ''}`)
  }, HEARTBEAT_MS)
  try {
    const code = await new Promise((resolve, reject) => { child.once('error', reject); child.once('exit', resolve) })
    if (code !== 0) {
      if (counting) process.stderr.write(captured)
      throw new Error(`${label}: go ${args.join(' ')} exited with ${code}`)
    }
  } finally {
    clearInterval(heartbeat)
  }
}

const missing = wanted.filter(name => {
  if (tools[name] === undefined) throw new Error(`unknown tool ${name}`)
  return !existsSync(toolPath(name))
})
if (missing.length > 0) say(`building ${missing.length} of ${wanted.length} tools (the others are cached): ${missing.join(', ')}`)
for (const [index, name] of missing.entries()) {
  const tool = tools[name]
  const binary = toolPath(name)
  const started = Date.now()
  say(`[${index + 1}/${missing.length}] ${name} ${tool.version} (${tool.package}): fetching modules`)
  const work = mkdtempSync(path.join(tmpdir(), `berth-${name}-`))
  const options = { cwd: work, env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' } }
  try {
    await go(`${name} go mod init`, ['mod', 'init', 'berth.invalid/tools'], options)
    await go(`${name} go get`, ['get', `${tool.module}@${tool.version}`], options)
    mkdirSync(path.dirname(binary), { recursive: true })
    say(`[${index + 1}/${missing.length}] ${name}: compiling`)
    await go(`${name} go build`, ['build', '-v', ...(tool.tags ? ['-tags', tool.tags] : []), '-ldflags=-s -w', '-o', `${binary}.tmp`, tool.package], options)
    renameSync(`${binary}.tmp`, binary)
    say(`[${index + 1}/${missing.length}] ${name}: built in ${seconds(started)}`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
say(`tools ready in ${toolsCache()}: ${wanted.join(', ')}`)
