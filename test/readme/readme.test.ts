// The README's examples, run as written against a live Berth on the filesystem store (runner.ts).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { startServer } from '../helpers/server-process.js'
import { outputMatches, readmeShellBlocks, runReadme } from './runner.js'

t.test('the wildcard matcher', async t => {
  t.ok(outputMatches('a\n...\nd', 'a\nb\nc\nd'))
  t.ok(outputMatches('a\n...\nd', 'a\nd'))
  t.ok(outputMatches('x sha256:... y', 'x sha256:abc y'))
  t.notOk(outputMatches('a\nb', 'a\nc'))
  t.notOk(outputMatches('a', 'a\nb'))
})

t.test('every shell block runs with an expected output, or says why it is not run', async t => {
  const blocks = readmeShellBlocks()
  t.ok(blocks.length >= 8, `${blocks.length} shell blocks`)
  for (const block of blocks) t.ok(block.notRun !== undefined || block.expected !== undefined, `README.md:${block.line}`)
  t.ok(blocks.filter(b => b.notRun !== undefined).length <= 3, 'few blocks are not run')
  for (const block of blocks) t.notMatch(block.code, /<<</, `README.md:${block.line}: no bash-only <<< (the blocks are POSIX sh)`)
})

t.test('the README runs as written on the filesystem store', async t => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-readme-data-'))
  t.teardown(() => { rmSync(dataDir, { recursive: true, force: true }) })
  // Users the README adds take effect at once (by default a process may serve them from memory for 5 s).
  const server = await startServer(t, { BERTH_DATA_DIR: dataDir, BERTH_AUTH_CACHE_SECONDS: '0' })
  await runReadme(t, { host: server.host, storeEnv: { BERTH_DATA_DIR: dataDir } })
})
