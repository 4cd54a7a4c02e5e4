// Builds the web UI (web/) into dist/web/, which Berth serves at /ui/: one bundled script (Preact and the
// pages), the stylesheet and the document. No source maps or inline scripts ship (the CSP forbids inline ones).
import { build } from 'esbuild'
import { copyFile, mkdir, rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = `${root}dist/web`
await rm(out, { recursive: true, force: true })
await mkdir(out, { recursive: true })
await build({
  entryPoints: [`${root}web/src/main.tsx`],
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outfile: `${out}/app.js`,
  legalComments: 'none',
  logLevel: 'warning'
})
await copyFile(`${root}web/index.html`, `${out}/index.html`)
await copyFile(`${root}web/app.css`, `${out}/app.css`)
