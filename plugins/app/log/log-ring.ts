// The shared-memory ring between the main thread (LogThread, log-thread.ts) and the
// log thread (log-worker.ts): its layout, and the reading of records into bytes.
//
// The main thread appends records at HEAD; the log thread reads them from TAIL and
// moves TAIL past them once it has copied them out. Records are 8-byte aligned and
// never wrap: one that does not fit before the end follows a WRAP record at offset 0.
// Every record starts with two int32s: its kind and its whole length in bytes.
import { writeSync } from 'node:fs'
import { accessJson, accessMessage, type AccessEntry } from './access-line.js'

/** Slots of the control Int32Array. */
export const HEAD = 0
export const TAIL = 1
/** Bumped and notified by the main thread when the log thread should look now. */
export const SIGNAL = 2
/** The last flush asked for; the log thread answers each with a message carrying it. */
export const FLUSH_REQ = 3
/** Set by the main thread: write what is left, answer, and stop. */
export const ENDING = 4
/** Set by the log thread when nobody reads the log any more (EPIPE): the main thread stops sending. */
export const CLOSED = 5
export const CTRL_SLOTS = 6

export const WRAP = 1
/** Bytes to write as they are (a line from pino). int32 [2]: their length; bytes from byte 16. */
export const RAW = 2
/**
 * An access line's parts. int32 [2] status, [3] response time, [4] requester (−1: unauth),
 * [5..11] string refs (chindings, method, url, path, client, client version, request id);
 * float64 at byte 48: the time; inline strings from byte 56, in ref order.
 */
export const ACCESS = 3
/** A string for later refs. int32 [2] id, [3] byte length; its JSON text from byte 16. */
export const DEFINE = 4

export const RAW_DATA = 16
export const ACCESS_REFS = 5
export const ACCESS_REF_COUNT = 7
export const ACCESS_TIME = 48
export const ACCESS_DATA = 56

export const align8 = (n: number): number => (n + 7) & ~7

/**
 * A string ref: ≥ 0 is an id defined earlier; < 0 is a string inline in the record,
 * `bytes` long, as UTF-8 text or (`json`, for strings UTF-8 cannot carry, such as a
 * lone surrogate) as its JSON text.
 */
export const inlineRef = (bytes: number, json: boolean): number => -1 - (bytes * 2 + (json ? 1 : 0))

export interface RingView {
  bytes: Buffer
  i32: Int32Array
  f64: Float64Array
}

export function ringView (sab: SharedArrayBuffer): RingView {
  return { bytes: Buffer.from(sab), i32: new Int32Array(sab), f64: new Float64Array(sab) }
}

/**
 * Reads the records from `tail` up to `head` and returns their bytes, in order, and
 * the new tail. `strings` holds the defined strings (DEFINE records add to it).
 */
export function readRecords (ring: RingView, strings: string[], tail: number, head: number): { out: Buffer[], tail: number } {
  const { bytes, i32, f64 } = ring
  const out: Buffer[] = []
  let text = ''
  while (tail !== head) {
    const slot = tail >> 2
    const kind = i32[slot] as number
    const length = i32[slot + 1] as number
    if (kind === WRAP) { tail = 0; continue }
    if (kind === RAW) {
      if (text !== '') { out.push(Buffer.from(text)); text = '' }
      out.push(Buffer.from(bytes.subarray(tail + RAW_DATA, tail + RAW_DATA + (i32[slot + 2] as number))))
    } else if (kind === DEFINE) {
      const start = tail + RAW_DATA
      strings[i32[slot + 2] as number] = JSON.parse(bytes.toString('utf8', start, start + (i32[slot + 3] as number))) as string
    } else if (kind === ACCESS) {
      let at = tail + ACCESS_DATA
      const str = (ref: number): string => {
        if (ref >= 0) return strings[ref] ?? ''
        const code = -1 - ref
        const n = code >> 1
        const s = bytes.toString('utf8', at, at + n)
        at += n
        return (code & 1) === 1 ? JSON.parse(s) as string : s
      }
      const refs = slot + ACCESS_REFS
      const chindings = str(i32[refs] as number)
      const requester = i32[slot + 4] as number
      const e: AccessEntry = {
        method: str(i32[refs + 1] as number),
        url: str(i32[refs + 2] as number),
        path: str(i32[refs + 3] as number),
        client: str(i32[refs + 4] as number),
        clientVersion: str(i32[refs + 5] as number),
        reqId: str(i32[refs + 6] as number),
        statusCode: i32[slot + 2] as number,
        responseTime: i32[slot + 3] as number,
        requester: requester === -1 ? 'unauth' : requester
      }
      text += accessJson(chindings, `,"time":${f64[(tail + ACCESS_TIME) >> 3] as number}`, e, accessMessage(e))
    } else {
      throw new Error(`log ring: unknown record kind ${kind} at ${tail}`)
    }
    tail += length
  }
  if (text !== '') out.push(Buffer.from(text))
  return { out, tail }
}

/** For sleeping while a non-blocking pipe is full. */
const nap = new Int32Array(new SharedArrayBuffer(4))
/** How long to wait for a full pipe's reader before writing again. */
const BUSY_MS = 10

/**
 * Writes all of `buf` to `fd` with blocking writes, waiting out a full non-blocking
 * pipe (EAGAIN); false when nobody reads the log any more (EPIPE, a closed descriptor).
 * The log thread's write, and the main thread's when there is no log thread.
 */
export function writeAll (fd: number, buf: Buffer): boolean {
  let off = 0
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EAGAIN' || code === 'EBUSY') { Atomics.wait(nap, 0, 0, BUSY_MS); continue }
      return false
    }
  }
  return true
}
