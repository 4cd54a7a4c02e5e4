#!/usr/bin/env node
// The `berth` command (package.json "bin", linked into node_modules/.bin by the "berth": "file:." dev
// dependency, so that `npx berth` in a checkout runs this and never looks for a package of that name in the
// registry). It runs the compiled CLI: no TypeScript is compiled on a call. `npm run build` (or `npm start`)
// builds dist/.
import { existsSync } from 'node:fs'

const cli = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write('berth: dist/cli.js is missing: run `npm run build` (or `npm start`) first\n')
  process.exit(2)
}
const { runCli } = await import(cli.href)
runCli(process.argv.slice(2)).then(code => { if (code >= 0) process.exitCode = code }, () => { process.exitCode = 1 })
