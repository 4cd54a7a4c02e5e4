// Builds the web UI (web/) into dist/web/, which Berth serves at /ui/: one bundled script (Preact and the
// pages), the stylesheet and the document. No inline script ships (the CSP forbids it). Each file is replaced
// by a rename, so a server (or a parallel test) reading dist/web/ never sees half a file.
import { build } from 'esbuild'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = `${root}dist/web`
await mkdir(out, { recursive: true })
const bundled = await build({
  entryPoints: [`${root}web/src/main.tsx`],
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outfile: `${out}/app.js`,
  legalComments: 'none',
  logLevel: 'warning',
  write: false
})
const files = new Map([
  ['app.js', bundled.outputFiles[0].contents],
  ['index.html', await readFile(`${root}web/index.html`)],
  ['app.css', await readFile(`${root}web/app.css`)]
])
for (const [name, contents] of files) {
  const temporary = `${out}/.${name}.${process.pid}.tmp`
  await writeFile(temporary, contents)
  await rename(temporary, `${out}/${name}`)
}
