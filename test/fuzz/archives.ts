// Archives for the fuzz, built by hand so that every byte is deliberate: a valid chart, and the broken or
// hostile variants (truncated, corrupted mid-stream, not a tar, a tar bomb, a gzip bomb).
import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'

const BLOCK = 512

/** A ustar header for a regular file. */
function tarHeader (name: string, size: number): Buffer {
  const header = Buffer.alloc(BLOCK)
  header.write(name, 0, 100, 'utf8')
  header.write('0000644\0', 100)
  header.write('0000000\0', 108)
  header.write('0000000\0', 116)
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124)
  header.write('00000000000\0', 136)
  header.write('        ', 148) // the checksum is computed with its own field as spaces
  header.write('0', 156)
  header.write('ustar\0' + '00', 257)
  let sum = 0
  for (const byte of header) sum += byte
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return header
}

export function tar (files: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = []
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content)
    parts.push(tarHeader(name, data.length), data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK))
  }
  parts.push(Buffer.alloc(2 * BLOCK))
  return Buffer.concat(parts)
}

export const chartFiles = (name: string, version: string): Record<string, string> => ({
  [`${name}/Chart.yaml`]: `apiVersion: v2\nname: ${name}\nversion: ${version}\ndescription: fuzz seed\ntype: application\n`,
  [`${name}/values.yaml`]: 'replicaCount: 1\n'
})

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

/** A valid helm chart tarball. */
export const validChart = gzipSync(tar(chartFiles('chart', '1.0.0')))

/** The same tarball cut short at a fraction of its length: gunzip fails with "unexpected end of file". */
export const truncatedChart = (fraction: number): Buffer => validChart.subarray(0, Math.floor(validChart.length * fraction))

/** A gzip whose deflate stream is corrupted in the middle (the header and trailer are intact). */
export const corruptGzip = (() => {
  const bytes = Buffer.from(gzipSync(tar(chartFiles('chart', '1.0.0')), { level: 0 }))
  for (let i = 40; i < bytes.length - 16; i += 7) bytes[i] = bytes[i]! ^ 0xa5
  return bytes
})()

/** Valid gzip whose content is not a tar archive. */
export const gzipNotTar = gzipSync(Buffer.from('this is not a tar archive, just text\n'.repeat(40)))

/** Plain text, not gzip at all. */
export const notGzip = Buffer.from('hello, I am not a tarball\n')

/** A tar of many empty entries (entry-count bomb): small gzipped, 20,000 headers unpacked. */
export const tarBomb = (() => {
  const files: Record<string, string> = {}
  for (let i = 0; i < 20_000; i++) files[`bomb/f${i}`] = ''
  return gzipSync(tar(files), { level: 9 })
})()

/**
 * A gzip bomb: one tar header announcing a file of 1.06 GiB, then that many zeros, as concatenated gzip
 * members (valid gzip) so that it is cheap to build: about 1 MiB compressed, past Berth's 1 GiB cap on an
 * uncompressed package.
 */
export const gzipBomb = (() => {
  const zeros = gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 })
  const members = 68
  return Buffer.concat([gzipSync(tarHeader('bomb/zeros', members * 16 * 1024 * 1024)), ...Array<Buffer>(members).fill(zeros)])
})()

/** JSON nested `depth` levels deep, as text (building it as a value would itself overflow the stack). */
export const deepJson = (depth: number, open = '[', close = ']'): string => open.repeat(depth) + close.repeat(depth)
export const deepObjectJson = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
