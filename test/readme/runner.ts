// Runs the README's shell blocks as a reader would: in order, in one shell, in an empty directory, against a
// live Berth, and checks what each prints against the `text` block that follows it in the README.
//
// README conventions (see its Examples section):
// - every ```sh or ```bash block runs, unless the line before it is
//   `<!-- readme-test: not run: <reason> -->`;
// - a block that runs is followed by a ```text block: its expected standard output. A line that is exactly
//   `...` matches any number of lines; `...` inside a line matches any text. The registry's real host:port
//   is shown as 127.0.0.1:5000.
// - the blocks read the registry from $R (R=${R:-127.0.0.1:5000}), which the runner sets.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const repo = fileURLToPath(new URL('../../', import.meta.url))
export const README_HOST = '127.0.0.1:5000'

export interface ShellBlock {
  /** 1-based line of the opening fence in README.md. */
  line: number
  code: string
  /** Why it is not run, when it is not. */
  notRun?: string
  expected?: string
}

/** Every sh/bash block of the README, in order, with its directive and expected output. */
export function readmeShellBlocks (text = readFileSync(path.join(repo, 'README.md'), 'utf8')): ShellBlock[] {
  const lines = text.split('\n')
  const blocks: ShellBlock[] = []
  const fenceEnd = (from: number): number => {
    for (let j = from; j < lines.length; j++) if (/^```\s*$/.test(lines[j] ?? '')) return j
    throw new Error(`README.md:${from}: unterminated code block`)
  }
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)/.exec(lines[i] ?? '')
    if (open === null) continue
    const end = fenceEnd(i + 1)
    if (open[1] === 'sh' || open[1] === 'bash') {
      const block: ShellBlock = { line: i + 1, code: lines.slice(i + 1, end).join('\n') }
      let before = i - 1
      while (before >= 0 && (lines[before] ?? '').trim() === '') before--
      const directive = /^<!-- readme-test: not run: (.+) -->$/.exec(lines[before] ?? '')
      if (directive !== null) block.notRun = directive[1]
      let after = end + 1
      while (after < lines.length && (lines[after] ?? '').trim() === '') after++
      if (/^```text\s*$/.test(lines[after] ?? '')) {
        const outEnd = fenceEnd(after + 1)
        block.expected = lines.slice(after + 1, outEnd).join('\n')
        i = outEnd
        blocks.push(block)
        continue
      }
      blocks.push(block)
    }
    i = end
  }
  return blocks
}

/** Whether `actual` matches `expected` with the `...` wildcards described above. */
export function outputMatches (expected: string, actual: string): boolean {
  const want = expected.split('\n')
  const got = actual.split('\n')
  const lineMatches = (pattern: string, line: string): boolean => {
    const source = pattern.split('...').map(part => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')
    return new RegExp(`^${source}$`).test(line)
  }
  const match = (w: number, g: number): boolean => {
    if (w === want.length) return g === got.length
    if (want[w] === '...') {
      for (let k = g; k <= got.length; k++) if (match(w + 1, k)) return true
      return false
    }
    return g < got.length && lineMatches(want[w] as string, got[g] as string) && match(w + 1, g + 1)
  }
  return match(0, 0)
}

const MARK = '@@readme-block'

export interface RunOptions {
  /** host:port of the live server. */
  host: string
  /** The store's environment (BERTH_DATA_DIR or BERTH_STORAGE=s3 and BERTH_S3_*), for `npx berth`. */
  storeEnv: Record<string, string>
}

/**
 * Runs the blocks in one bash process (set -e: the first failing command fails the run), then checks each
 * block's output. A `npx berth` in a block runs the CLI from src/ (through tsx), since dist/ is not built here.
 */
export async function runReadme (t: Test, options: RunOptions): Promise<void> {
  const blocks = readmeShellBlocks()
  const work = mkdtempSync(path.join(tmpdir(), 'berth-readme-'))
  t.teardown(() => { rmSync(work, { recursive: true, force: true }) })
  const cwd = path.join(work, 'cwd')
  const home = path.join(work, 'home') // logins write ~/.docker and ~/.config/helm: keep them out of the real home
  const bin = path.join(cwd, 'node_modules', '.bin')
  mkdirSync(bin, { recursive: true })
  mkdirSync(home)
  const tsx = import.meta.resolve('tsx')
  writeFileSync(path.join(bin, 'berth'), `#!/bin/sh\nexec "${process.execPath}" --import ${tsx} "${path.join(repo, 'src', 'cli.ts')}" "$@"\n`)
  chmodSync(path.join(bin, 'berth'), 0o755)

  const toolDirs = ['crane', 'oras', 'helm'].map(name => {
    const tools = JSON.parse(readFileSync(path.join(repo, 'scripts', 'tools.json'), 'utf8')) as { tools: Record<string, { version: string }> }
    const cache = process.env.BERTH_TOOLS_CACHE ?? path.join(homedir(), '.cache', 'berth', 'tools')
    return path.join(cache, `${name}-${tools.tools[name]?.version ?? ''}`)
  })

  const script = ['set -e']
  blocks.forEach((block, index) => {
    if (block.notRun !== undefined) return
    script.push(`printf '\\n${MARK} ${index}\\n'`, block.code)
  })
  script.push(`printf '\\n${MARK} end\\n'`)
  writeFileSync(path.join(work, 'readme.sh'), script.join('\n') + '\n')

  const child = spawn('bash', [path.join(work, 'readme.sh')], {
    cwd,
    env: {
      ...process.env,
      ...options.storeEnv,
      R: options.host,
      HOME: home,
      npm_config_cache: process.env.npm_config_cache ?? path.join(homedir(), '.npm'),
      PATH: [...toolDirs, process.env.PATH ?? ''].join(':'),
      NO_COLOR: '1'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))

  // Split the output at the markers; the text before a block's next marker is that block's output.
  const outputs = new Map<string, string>()
  const parts = stdout.split(new RegExp(`\\n?${MARK} `))
  for (const part of parts.slice(1)) {
    const newline = part.indexOf('\n')
    const id = newline === -1 ? part : part.slice(0, newline)
    outputs.set(id, newline === -1 ? '' : part.slice(newline + 1))
  }
  const shown = (text: string): string => text.split(options.host).join(README_HOST).replace(/\n+$/, '')
  blocks.forEach((block, index) => {
    const label = `README.md:${block.line}`
    if (block.notRun !== undefined) {
      t.ok(block.notRun.length > 10, `${label} is not run: ${block.notRun}`)
      return
    }
    const output = outputs.get(String(index))
    if (output === undefined) {
      t.fail(`${label} did not run: an earlier block failed`)
      return
    }
    if (block.expected === undefined) {
      t.fail(`${label} has no \`text\` block with its expected output`)
      return
    }
    const actual = shown(output)
    const ok = outputMatches(block.expected, actual)
    t.ok(ok, `${label} prints what the README shows`, ok ? {} : { expected: block.expected, actual })
  })
  t.equal(code, 0, 'every block ran without error', code === 0 ? {} : { stderr: stderr.slice(-4000) })
  t.ok(outputs.has('end'), 'the run reached the end of the README')
}
