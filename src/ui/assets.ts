// The UI's static files: what `npm run build:ui` wrote to dist/web (index.html, app.js, app.css), read once and
// kept in memory (they are small). Nothing is fetched from anywhere else at run time.
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** dist/web at the repository root, from src/ui/ (tsx) and from dist/ui/ (the build) alike. */
export const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url))

export interface Asset {
  body: Buffer
  type: string
  etag: string
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8'
}

/** Loads every file directly in `dir` (no subfolders: a request can name nothing else). Undefined when not built. */
export async function loadAssets (dir: string): Promise<Map<string, Asset> | undefined> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return undefined
  }
  const assets = new Map<string, Asset>()
  for (const name of names) {
    const type = TYPES[path.extname(name)]
    if (type === undefined) continue
    const body = await readFile(path.join(dir, name))
    assets.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` })
  }
  return assets.has('index.html') ? assets : undefined
}
