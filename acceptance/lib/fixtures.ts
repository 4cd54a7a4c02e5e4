// Content the workflows push, built here so that every byte a client hands back can be compared with what went in:
// tar layers, OCI images with known digests, OCI image layouts on disk, and large random files.
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip, gzipSync } from 'node:zlib'

export const MT = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  empty: 'application/vnd.oci.empty.v1+json'
} as const

export function sha256 (data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

export async function sha256File (file: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(file), hash)
  return `sha256:${hash.digest('hex')}`
}

// --- tar ------------------------------------------------------------------------------------------------------------

function octal (n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0'
}

/** A ustar header for a regular file (mode 0644, owner 0, mtime 0). */
function tarHeader (name: string, size: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar member name too long: ${name}`)
  const h = Buffer.alloc(512)
  h.write(name, 0)
  h.write(octal(0o644, 8), 100)
  h.write(octal(0, 8), 108)
  h.write(octal(0, 8), 116)
  h.write(octal(size, 12), 124)
  h.write(octal(0, 12), 136)
  h.write('0', 156)
  h.write('ustar\0', 257)
  h.write('00', 263)
  h.write(' '.repeat(8), 148)
  let sum = 0
  for (const b of h) sum += b
  h.write(octal(sum, 7) + ' ', 148)
  return h
}

const padding = (size: number): Buffer => Buffer.alloc((512 - (size % 512)) % 512)

/** An uncompressed tar of regular files, in the order given. */
export function tar (files: Record<string, Buffer | string>): Buffer {
  const parts: Buffer[] = []
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.from(content)
    parts.push(tarHeader(name, data.length), data, padding(data.length))
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}

/** Regular files of a tar (ustar/GNU headers; other entry types are skipped). */
export function untar (buf: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>()
  let off = 0
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512)
    if (h.every(b => b === 0)) break
    const field = (start: number, len: number): string => h.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '')
    const prefix = field(345, 155)
    const name = (prefix !== '' ? `${prefix}/` : '') + field(0, 100)
    const size = parseInt(field(124, 12).trim() || '0', 8)
    const type = field(156, 1)
    const data = buf.subarray(off + 512, off + 512 + size)
    if (type === '0' || type === '') files.set(name.replace(/^\.\//, ''), Buffer.from(data))
    off += 512 + size + ((512 - (size % 512)) % 512)
  }
  return files
}

// --- OCI images and layouts -----------------------------------------------------------------------------------------

export interface Image {
  /** the uncompressed layer */
  tar: Buffer
  layer: Buffer
  config: Buffer
  manifest: Buffer
  layerDigest: string
  configDigest: string
  manifestDigest: string
  platform: { os: string, architecture: string }
}

/** A one-layer OCI image whose bytes are all known. */
export function image (files: Record<string, Buffer | string>, platform = { os: 'linux', architecture: 'amd64' }): Image {
  const layerTar = tar(files)
  const layer = gzipSync(layerTar) // Node writes mtime 0 and a fixed OS byte: the same files give the same bytes
  const config = Buffer.from(JSON.stringify({
    architecture: platform.architecture,
    os: platform.os,
    config: { Labels: { 'org.example.acceptance': 'berth' } },
    rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
    history: [{ created_by: 'berth acceptance suite' }]
  }))
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MT.manifest,
    config: { mediaType: MT.config, digest: sha256(config), size: config.length },
    layers: [{ mediaType: MT.layer, digest: sha256(layer), size: layer.length }]
  }))
  return {
    tar: layerTar,
    layer,
    config,
    manifest,
    layerDigest: sha256(layer),
    configDigest: sha256(config),
    manifestDigest: sha256(manifest),
    platform
  }
}

function blobPath (dir: string, digest: string): string {
  const [alg, hex] = digest.split(':')
  return path.join(dir, 'blobs', alg ?? 'sha256', hex ?? '')
}

/** Writes an OCI image layout holding `img` under `tag` (org.opencontainers.image.ref.name). */
export function writeLayout (dir: string, tag: string, img: Image): void {
  mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true })
  writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  for (const blob of [img.layer, img.config, img.manifest]) writeFileSync(blobPath(dir, sha256(blob)), blob)
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: MT.index,
    manifests: [{
      mediaType: MT.manifest,
      digest: img.manifestDigest,
      size: img.manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': tag }
    }]
  }))
}

export interface Layout {
  dir: string
  /** index.json entries */
  manifests: Array<{ mediaType: string, digest: string, size: number, annotations?: Record<string, string> }>
  /** the manifest descriptor that carries `tag` as its ref name (undefined when absent) */
  byTag: (tag: string) => { digest: string, size: number } | undefined
  blob: (digest: string) => Buffer
  blobPath: (digest: string) => string
}

export function readLayout (dir: string): Layout {
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests?: Layout['manifests'] }
  const manifests = index.manifests ?? []
  return {
    dir,
    manifests,
    byTag: tag => manifests.find(m => m.annotations?.['org.opencontainers.image.ref.name'] === tag),
    blob: digest => readFileSync(blobPath(dir, digest)),
    blobPath: digest => blobPath(dir, digest)
  }
}

// --- large files ----------------------------------------------------------------------------------------------------

const CHUNK = 4 * 1024 * 1024

/** `bytes` of random data, written in 4 MiB chunks. */
export async function writeRandomFile (file: string, bytes: number): Promise<void> {
  async function * chunks (): AsyncGenerator<Buffer> {
    for (let left = bytes; left > 0; left -= CHUNK) yield randomBytes(Math.min(CHUNK, left))
  }
  await pipeline(Readable.from(chunks()), createWriteStream(file))
}

/**
 * A gzipped tar holding `source` as `name`, compressed at level 0 (stored blocks): random data does not shrink, and
 * this keeps the 200 MiB case quick. Clients that receive an already gzipped layer push its bytes unchanged.
 */
export async function writeTarGz (out: string, name: string, source: string, size: number): Promise<void> {
  async function * members (): AsyncGenerator<Buffer> {
    yield tarHeader(name, size)
    for await (const chunk of createReadStream(source, { highWaterMark: CHUNK })) yield chunk as Buffer
    yield padding(size)
    yield Buffer.alloc(1024)
  }
  await pipeline(Readable.from(members()), createGzip({ level: 0 }), createWriteStream(out))
}

/** Whether two files hold the same bytes (compared chunk by chunk). */
export async function sameFileBytes (a: string, b: string): Promise<boolean> {
  const [fa, fb] = await Promise.all([open(a, 'r'), open(b, 'r')])
  try {
    const [sa, sb] = await Promise.all([fa.stat(), fb.stat()])
    if (sa.size !== sb.size) return false
    const ba = Buffer.alloc(CHUNK)
    const bb = Buffer.alloc(CHUNK)
    for (let pos = 0; pos < sa.size; pos += CHUNK) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, CHUNK, pos), fb.read(bb, 0, CHUNK, pos)])
      if (ra.bytesRead !== rb.bytesRead || !ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false
    }
    return true
  } finally {
    await Promise.all([fa.close(), fb.close()])
  }
}
