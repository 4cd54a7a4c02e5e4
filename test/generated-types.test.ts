// Fails when src/types/generated is out of date with schemas/oci (fix: `npm run gen:types`).
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))

t.test('generated types match schemas/oci', async t => {
  try {
    const { stdout } = await run(process.execPath, ['scripts/gen-types.mjs', '--check'], { cwd: root })
    t.match(stdout, /up to date/)
  } catch (err) {
    const e = err as { code?: number, stdout?: string, stderr?: string }
    t.fail(`scripts/gen-types.mjs --check exited with ${String(e.code)}:\n${e.stderr ?? ''}${e.stdout ?? ''}`)
  }
})
