// The `berth` bin runs the compiled CLI (dist/cli.js) without compiling TypeScript, and says what to do when
// dist/ has not been built. Checked on a copy of bin/berth.mjs next to a stand-in dist/cli.js.
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'

const exec = promisify(execFile)
const root = new URL('../', import.meta.url)
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { bin: Record<string, string>, devDependencies: Record<string, string> }
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as { packages: Record<string, { bin?: Record<string, string> }> }

t.test('package.json and the lock agree on the bin, and the checkout links itself for npx', async t => {
  t.same(pkg.bin, { berth: 'bin/berth.mjs' })
  t.same(lock.packages['']?.bin, pkg.bin, 'npm install does not rewrite the lock')
  t.equal(pkg.devDependencies.berth, 'file:.', 'npx berth finds node_modules/.bin/berth, never a registry package')
})

t.test('the bin calls runCli of dist/cli.js with its arguments and exits with its status', async t => {
  const dir = t.testdir({ bin: {}, dist: {} })
  copyFileSync(new URL('bin/berth.mjs', root), path.join(dir, 'bin', 'berth.mjs'))
  writeFileSync(path.join(dir, 'dist', 'cli.js'),
    'export async function runCli (argv) { console.log(JSON.stringify(argv)); return 3 }\n')
  writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n')
  const run = await exec(process.execPath, [path.join(dir, 'bin', 'berth.mjs'), 'user', 'list']).catch(err => err as { code: number, stdout: string })
  t.equal(run.stdout, '["user","list"]\n')
  t.equal((run as { code?: number }).code, 3)
})

t.test('without dist/ it says to build, and exits 2', async t => {
  const dir = t.testdir({ bin: {} })
  mkdirSync(path.join(dir, 'bin'), { recursive: true })
  copyFileSync(new URL('bin/berth.mjs', root), path.join(dir, 'bin', 'berth.mjs'))
  const run = await exec(process.execPath, [path.join(dir, 'bin', 'berth.mjs'), 'help']).catch(err => err as { code: number, stderr: string })
  t.equal((run as { code?: number }).code, 2)
  t.equal(run.stderr, 'berth: dist/cli.js is missing: run `npm run build` (or `npm start`) first\n')
})
