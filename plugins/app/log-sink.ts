// The log's destination: pino hands it one JSON line per call; it writes them in
// batches, one write(2) in flight at a time, from libuv's thread pool so the event
// loop never waits on the disk or a slow reader. Not a Fastify plugin; server.ts
// gives it to the logger and waits for `end` before exiting.
//
// Why not pino.destination (sonic-boom), which writes the same way: on every line
// sonic-boom measures its pending text with Buffer.byteLength, and that text is a
// string it grows by concatenation, so each line flattens it again: ~2.5 µs a
// line, a few per cent of a small request (docs/performance.md, decisions 23).
// Here a line costs an array push; a batch costs one join.
import { write as fsWrite } from 'node:fs'

type WriteCallback = (err: NodeJS.ErrnoException | null, written: number) => void

export interface LogSinkOptions {
  /** Start a write once this many characters are pending (default 16 KiB). */
  batchChars?: number
  /** Write whatever is pending at least this often (default 250 ms). */
  flushMs?: number
  /** The write, replaceable in tests. */
  write?: (fd: number, buffer: Buffer, offset: number, callback: WriteCallback) => void
}

/** How long to wait when a non-blocking pipe is full (EAGAIN) before writing again. */
const BUSY_MS = 10

export class LogSink {
  private lines: string[] = []
  private chars = 0
  /** The batch being written, and how much of it is done. */
  private writing: Buffer | null = null
  private offset = 0
  /** Callbacks waiting for everything pending to be written. */
  private waiters: Array<() => void> = []
  /** Set when nobody reads the output any more (EPIPE): logging stops instead of failing. */
  private closed = false
  private readonly batchChars: number
  private readonly writeAsync: NonNullable<LogSinkOptions['write']>
  private readonly timer: NodeJS.Timeout

  constructor (private readonly fd: number, opts: LogSinkOptions = {}) {
    this.batchChars = opts.batchChars ?? 16 * 1024
    this.writeAsync = opts.write ?? ((fd, buffer, offset, cb) => { fsWrite(fd, buffer, offset, buffer.length - offset, null, cb) })
    this.timer = setInterval(() => { this.flush() }, opts.flushMs ?? 250)
    this.timer.unref()
  }

  /** pino's destination interface: one serialized line, newline included. */
  write (line: string): boolean {
    if (this.closed) return true
    this.lines.push(line)
    this.chars += line.length
    if (this.chars >= this.batchChars && this.writing === null) this.next()
    return true
  }

  /** Starts writing what is pending (if no write is in flight); `cb` runs once all of it is written. */
  flush (cb?: () => void): void {
    if (cb !== undefined) this.waiters.push(cb)
    if (this.writing === null) this.next()
  }

  /** Writes everything pending, then stops the timer and calls `cb`. */
  end (cb?: () => void): void {
    clearInterval(this.timer)
    this.flush(cb)
  }

  private take (): Buffer | null {
    if (this.lines.length === 0) return null
    const batch = Buffer.from(this.lines.length === 1 ? this.lines[0] as string : this.lines.join(''))
    this.lines = []
    this.chars = 0
    return batch
  }

  private next (): void {
    const batch = this.closed ? null : this.take()
    if (batch === null) { this.release(); return }
    this.writing = batch
    this.offset = 0
    this.writeAsync(this.fd, batch, 0, this.written)
  }

  private readonly written: WriteCallback = (err, n) => {
    const batch = this.writing
    if (batch === null) return
    if (err !== null) {
      if (err.code === 'EAGAIN' || err.code === 'EBUSY') {
        // A non-blocking pipe is full: give its reader a moment.
        setTimeout(() => { if (this.writing === batch) this.writeAsync(this.fd, batch, this.offset, this.written) }, BUSY_MS).unref()
        return
      }
      this.stop()
      return
    }
    this.offset += n
    if (this.offset < batch.length) { this.writeAsync(this.fd, batch, this.offset, this.written); return }
    this.writing = null
    if (this.chars >= this.batchChars || this.waiters.length > 0) this.next()
  }

  /** EPIPE (`npm start | head -1`) or a closed descriptor: nobody reads the log any more. */
  private stop (): void {
    this.closed = true
    this.writing = null
    this.lines = []
    this.chars = 0
    this.release()
  }

  private release (): void {
    if (this.lines.length > 0 && !this.closed) return
    const waiters = this.waiters
    this.waiters = []
    for (const cb of waiters) cb()
  }
}
