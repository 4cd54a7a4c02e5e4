// A byte range of an open file as a stream, which a consumer that can say when it is done with each piece (an
// HTTP reply, src/http/send-body.ts) may instead copy through a few reused buffers.
//
// Why: a stream must hand out a new buffer per piece, since it cannot know when its reader is done with one.
// A large pull then allocates its whole size in fresh 1 MiB buffers, and V8 answers that much outside-the-heap
// allocation with a full garbage collection every few dozen megabytes: measured on a 256 MiB pull, a third of
// the serving process's time went to collections. Reused buffers allocate nothing per piece.
import type { FileHandle } from 'node:fs/promises'
import { Readable } from 'node:stream'

/** Bytes read per piece: large enough to keep read and socket-write calls few. */
export const FILE_PIECE_BYTES = 1024 * 1024
/** Idle pieces kept for the next copy (a copy uses two at a time: one being read, one being written). */
const POOLED_PIECES = 8

const pool: Buffer[] = []
const takePiece = (): Buffer => pool.pop() ?? Buffer.allocUnsafeSlow(FILE_PIECE_BYTES)
const givePiece = (piece: Buffer): void => { if (pool.length < POOLED_PIECES) pool.push(piece) }

export class FileRangeStream extends Readable {
  private position: number
  private claimed = false

  /** Streams bytes `start` to `end` (inclusive) of `handle`, and closes the handle when done or destroyed. */
  constructor (private readonly handle: FileHandle, start: number, private readonly end: number) {
    super({ highWaterMark: FILE_PIECE_BYTES })
    this.position = start
  }

  override _read (): void {
    const wanted = Math.min(FILE_PIECE_BYTES, this.end + 1 - this.position)
    if (wanted <= 0) { this.push(null); return }
    this.handle.read(Buffer.allocUnsafe(wanted), 0, wanted, this.position).then(({ bytesRead, buffer }) => {
      if (bytesRead === 0) { this.destroy(new Error(`file ended ${this.end + 1 - this.position} bytes early`)); return }
      this.position += bytesRead
      this.push(bytesRead === wanted ? buffer : buffer.subarray(0, bytesRead))
    }, err => { this.destroy(err as Error) })
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    this.handle.close().then(() => { callback(err) }, closeErr => { callback(err ?? closeErr as Error) })
  }

  /**
   * Copies the range to `write` through two reused buffers, reading the next piece while the last is written.
   * `write` must resolve only once it is done with the piece it was given (for a socket: once written), because
   * the buffer is filled again afterwards. Use this or the stream, never both; the handle is closed at the end.
   */
  async copyTo (write: (piece: Buffer) => Promise<void>): Promise<void> {
    if (this.claimed || this.readableDidRead) throw new Error('the stream was already read')
    this.claimed = true
    const pieces = [takePiece(), takePiece()] as const
    const readInto = async (piece: Buffer): Promise<number> => {
      const wanted = Math.min(piece.length, this.end + 1 - this.position)
      if (wanted <= 0) return 0
      const { bytesRead } = await this.handle.read(piece, 0, wanted, this.position)
      if (bytesRead === 0) throw new Error(`file ended ${this.end + 1 - this.position} bytes early`)
      this.position += bytesRead
      return bytesRead
    }
    let reading: Promise<number> | undefined
    try {
      let turn = 0
      reading = readInto(pieces[0])
      for (;;) {
        const filled = await reading
        reading = undefined
        if (filled === 0) break
        const piece = pieces[turn] as Buffer
        turn ^= 1
        reading = readInto(pieces[turn] as Buffer) // the other piece: its last write has completed
        await write(filled === piece.length ? piece : piece.subarray(0, filled))
      }
    } finally {
      // A read still running when a write failed must finish before its buffer is pooled or the handle closed.
      await reading?.catch(() => 0)
      for (const piece of pieces) givePiece(piece)
      this.destroy()
    }
  }
}
