// The log's destination: pino hands it one JSON line per call, and the notes plugin
// one access entry per request; a worker thread (log-worker.ts) formats the entries
// and writes everything to the descriptor. The main thread only copies a few numbers
// and short strings into a shared ring (log-ring.ts): on a small request the access
// line cost more than a tenth of the request's CPU when it was built and written here
// (docs/performance.md, decisions 23). Not a Fastify plugin; server.ts gives it to the
// logger and waits for `end` before exiting.
import { Worker } from 'node:worker_threads'
import { accessJson, accessMessage, ACCESS_SINK, type AccessEntry, type AccessSink } from './access-line.js'
import {
  ACCESS, ACCESS_DATA, ACCESS_REFS, ACCESS_TIME, CLOSED, CTRL_SLOTS, DEFINE, ENDING, FLUSH_REQ,
  HEAD, RAW, RAW_DATA, SIGNAL, TAIL, WRAP, align8, inlineRef, readRecords, ringView, writeAll, type RingView
} from './log-ring.js'

export interface LogThreadOptions {
  /** Bytes of the shared ring (default 1 MiB: about a second of access lines at 10,000 requests a second). */
  ringBytes?: number
  /** How often the log thread looks at the ring when not told to (default 50 ms). */
  pollMs?: number
  /** The worker's module (tests point it elsewhere). */
  workerUrl?: URL
}

/** Distinct strings (methods, routes, clients) the log thread keeps by id; more go inline. */
const MAX_STRINGS = 10_000
/** The log thread's young generation (MiB): ~2 MiB less RSS than the default in the fan-out. */
const YOUNG_MB = 2
/** How often lines that did not fit the ring are moved into it. */
const PUMP_MS = 5

const wellFormed = (s: string): boolean => (s as unknown as { isWellFormed: () => boolean }).isWellFormed()

export class LogThread implements AccessSink {
  private readonly ring: RingView
  private readonly ctrl: Int32Array
  private readonly capacity: number
  private readonly worker: Worker
  private head = 0
  /** The log thread's position as `reserve` last read it. */
  private tailSeen = 0
  /** Ids of the strings already defined in the ring, and the strings by id. */
  private readonly ids = new Map<string, number>()
  private readonly names: string[] = []
  /** Bytes that did not fit the ring yet, in order; everything waits behind them. */
  private overflow: Buffer[] = []
  private pumping: NodeJS.Timeout | null = null
  private flushSeq = 0
  /** Flush callbacks by the flush number that answers them. */
  private waiters: Array<{ seq: number, cb: () => void }> = []
  /** Callbacks waiting for the overflow to drain before their flush is asked. */
  private draining: Array<() => void> = []
  /** The worker failed or ended: lines are written here, synchronously. */
  private direct = false
  private ended = false

  constructor (private readonly fd: number, opts: LogThreadOptions = {}) {
    this.capacity = align8(opts.ringBytes ?? 1024 * 1024)
    const sab = new SharedArrayBuffer(this.capacity)
    const ctrlSab = new SharedArrayBuffer(CTRL_SLOTS * 4)
    this.ring = ringView(sab)
    this.ctrl = new Int32Array(ctrlSab)
    // The worker's file sits next to this one: .ts under tsx and tap, .js in dist/.
    const own = new URL(import.meta.url)
    const url = opts.workerUrl ?? new URL(`./log-worker${own.pathname.slice(own.pathname.lastIndexOf('.'))}`, own)
    this.worker = new Worker(url, {
      workerData: { ring: sab, ctrl: ctrlSab, fd, pollMs: opts.pollMs ?? 50 },
      // It holds one batch of lines at a time: a small young generation keeps the
      // process's memory close to what it was without the thread (fan-out RSS, issue 3).
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_MB }
    })
    this.worker.unref()
    this.worker.on('message', (seq: number) => { this.answer(seq) })
    this.worker.on('error', (err) => {
      process.stderr.write(`parley: the log thread failed, logging from the main thread: ${err.stack ?? err.message}\n`)
      this.takeOver()
    })
    this.worker.on('exit', () => { this.takeOver() })
  }

  /** False once the log thread is gone and the main thread writes the log itself. */
  get threaded (): boolean { return !this.direct }

  /** pino's destination interface: one serialized line, newline included. */
  write (line: string): boolean {
    if (this.readerGone()) return true
    if (this.direct || this.overflow.length > 0 || !this.putRaw(line)) this.enqueue(Buffer.from(line))
    return true
  }

  /** The access line of one request, formatted by the log thread. */
  [ACCESS_SINK] (chindings: string, time: number, e: AccessEntry): void {
    if (this.readerGone()) return
    if (this.direct || this.overflow.length > 0 || !this.putAccess(chindings, time, e)) {
      this.enqueue(Buffer.from(accessJson(chindings, `,"time":${time}`, e, accessMessage(e))))
    }
  }

  /** Has the log thread write everything sent so far; `cb` runs once it has. */
  flush (cb?: () => void): void {
    if (this.overflow.length > 0) {
      if (cb !== undefined) {
        if (this.draining.length === 0) this.worker.ref()
        this.draining.push(cb)
      }
      this.pump()
      return
    }
    if (this.direct) { cb?.(); return }
    const seq = ++this.flushSeq
    if (cb !== undefined) {
      // An unref'd worker's answer would not keep the process alive for the callback.
      if (this.waiters.length === 0) this.worker.ref()
      this.waiters.push({ seq, cb })
    }
    Atomics.store(this.ctrl, FLUSH_REQ, seq)
    this.signal()
  }

  /** Writes everything pending, stops the log thread, then calls `cb`. Later lines are written synchronously. */
  end (cb?: () => void): void {
    this.ended = true
    let asked = Atomics.load(this.ctrl, HEAD)
    const stop = (): void => {
      if (!this.direct) {
        // Lines sent while the flush was under way (in the ring past the head it was
        // asked at, or waiting in the overflow) are the thread's to write too: ask again.
        const head = Atomics.load(this.ctrl, HEAD)
        if (head !== asked || this.overflow.length > 0) {
          asked = head
          this.flush(stop)
          return
        }
        Atomics.store(this.ctrl, ENDING, 1)
        this.signal()
        // Everything sent so far is written: from now on the main thread writes, at once,
        // while the thread stops (it no longer reads the ring).
        this.direct = true
        if (this.pumping !== null) clearTimeout(this.pumping)
      }
      cb?.()
    }
    this.flush(stop)
  }

  private readerGone (): boolean {
    if (Atomics.load(this.ctrl, CLOSED) !== 1) return false
    this.overflow = []
    return true
  }

  private signal (): void {
    Atomics.add(this.ctrl, SIGNAL, 1)
    Atomics.notify(this.ctrl, SIGNAL, 1)
  }

  /** The offset where `n` more bytes fit, or −1; writes the WRAP record when they fit only at the start. */
  private reserve (n: number): number {
    const tail = Atomics.load(this.ctrl, TAIL)
    this.tailSeen = tail
    const head = this.head
    if (head >= tail) {
      // Strictly below the end, so there is always room for a WRAP record.
      if (head + n < this.capacity) return head
      if (n >= tail) return -1
      this.ring.i32[head >> 2] = WRAP
      this.ring.i32[(head >> 2) + 1] = 0
      this.head = 0
      return 0
    }
    return head + n < tail ? head : -1
  }

  private commit (at: number, length: number): void {
    const tail = this.tailSeen
    const before = this.head >= tail ? this.head - tail : this.capacity - tail + this.head
    this.head = at + length
    Atomics.store(this.ctrl, HEAD, this.head)
    // Past a quarter full, do not wait for the log thread's next look.
    const quarter = this.capacity >> 2
    const after = this.head >= tail ? this.head - tail : this.capacity - tail + this.head
    if (before <= quarter && after > quarter) this.signal()
  }

  private putRaw (line: string): boolean {
    const max = align8(RAW_DATA + line.length * 3)
    if (max > this.capacity >> 2) return false
    const at = this.reserve(max)
    if (at < 0) return false
    this.commitRaw(at, this.ring.bytes.write(line, at + RAW_DATA))
    return true
  }

  /** Ends the RAW record at `at` whose `n` bytes are in place. */
  private commitRaw (at: number, n: number): void {
    const slot = at >> 2
    this.ring.i32[slot] = RAW
    this.ring.i32[slot + 1] = align8(RAW_DATA + n)
    this.ring.i32[slot + 2] = n
    this.commit(at, align8(RAW_DATA + n))
  }

  /** The id of a string the log thread knows, defining it first; −1 when it must go inline. */
  private idOf (s: string): number {
    const id = this.ids.get(s)
    if (id !== undefined) return id
    if (this.ids.size >= MAX_STRINGS) return -1
    const json = JSON.stringify(s)
    const max = align8(RAW_DATA + json.length * 3)
    if (max > this.capacity >> 3) return -1
    const at = this.reserve(max)
    if (at < 0) return -1
    const next = this.ids.size
    const n = this.ring.bytes.write(json, at + RAW_DATA)
    const slot = at >> 2
    this.ring.i32[slot] = DEFINE
    this.ring.i32[slot + 1] = align8(RAW_DATA + n)
    this.ring.i32[slot + 2] = next
    this.ring.i32[slot + 3] = n
    this.commit(at, align8(RAW_DATA + n))
    this.ids.set(s, next)
    this.names.push(s)
    return next
  }

  private putAccess (chindings: string, time: number, e: AccessEntry): boolean {
    const requester = e.requester === 'unauth' ? -1 : e.requester
    if (requester < -1 || requester !== (requester | 0)) return false
    const bindings = this.idOf(chindings)
    const method = this.idOf(e.method)
    const url = this.idOf(e.url)
    const client = this.idOf(e.client)
    const version = this.idOf(e.clientVersion)
    // Past MAX_STRINGS distinct strings (or with no room for a definition) the line is formatted here.
    if (bindings < 0 || method < 0 || url < 0 || client < 0 || version < 0) return false
    // The request id is new each time; the path is the route's own when no parameter is in it.
    const samePath = e.path === e.url
    const at = this.reserve(align8(ACCESS_DATA + (e.reqId.length + (samePath ? 0 : e.path.length)) * 6 + 4))
    if (at < 0) return false
    const i32 = this.ring.i32
    const slot = at >> 2
    const refs = slot + ACCESS_REFS
    let pos = at + ACCESS_DATA
    i32[refs] = bindings
    i32[refs + 1] = method
    i32[refs + 2] = url
    if (samePath) {
      i32[refs + 3] = url
    } else {
      i32[refs + 3] = this.putText(e.path, pos)
      pos += this.written
    }
    i32[refs + 4] = client
    i32[refs + 5] = version
    i32[refs + 6] = this.putText(e.reqId, pos)
    pos += this.written
    i32[slot] = ACCESS
    i32[slot + 1] = align8(pos - at)
    i32[slot + 2] = e.statusCode
    i32[slot + 3] = e.responseTime
    i32[slot + 4] = requester
    this.ring.f64[(at + ACCESS_TIME) >> 3] = time
    this.commit(at, align8(pos - at))
    return true
  }

  /** Bytes the last putText wrote. */
  private written = 0

  /**
   * Writes `s` inline at `pos` (room for 6 bytes a character and 2 more reserved) and returns its
   * ref. Short ASCII text (request ids, paths) is copied here byte by byte, cheaper
   * than a call into the encoder; a string UTF-8 cannot carry goes as its JSON text.
   */
  private putText (s: string, pos: number): number {
    const bytes = this.ring.bytes
    const n = s.length
    if (n <= 128) {
      let i = 0
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c > 0x7f) break
        bytes[pos + i] = c
      }
      if (i === n) { this.written = n; return inlineRef(n, false) }
    }
    const json = !wellFormed(s)
    this.written = bytes.write(json ? JSON.stringify(s) : s, pos)
    return inlineRef(this.written, json)
  }

  /** Bytes that wait for room in the ring (or, without a log thread, are written now). */
  private enqueue (buf: Buffer): void {
    if (this.direct) { this.writeDirect(buf); return }
    // Pieces small enough to fit the ring one at a time.
    const piece = this.capacity >> 2
    for (let i = 0; i < buf.length; i += piece) this.overflow.push(buf.subarray(i, i + piece))
    this.pump()
  }

  /** Moves waiting bytes into the ring as room frees; runs again shortly until none wait. */
  private readonly pump = (): void => {
    this.pumping = null
    if (this.direct) return
    while (this.overflow.length > 0) {
      const buf = this.overflow[0] as Buffer
      const at = this.reserve(align8(RAW_DATA + buf.length))
      if (at < 0) break
      this.commitRaw(at, buf.copy(this.ring.bytes, at + RAW_DATA))
      this.overflow.shift()
    }
    if (this.overflow.length > 0) {
      this.signal()
      this.pumping ??= setTimeout(this.pump, PUMP_MS).unref()
      return
    }
    const draining = this.draining
    this.draining = []
    for (const cb of draining) this.flush(cb)
    if (this.waiters.length === 0) this.worker.unref()
  }

  private answer (seq: number): void {
    const done = this.waiters.filter((w) => w.seq <= seq)
    this.waiters = this.waiters.filter((w) => w.seq > seq)
    if (this.waiters.length === 0) this.worker.unref()
    for (const w of done) w.cb()
  }

  /**
   * The log thread is gone (it failed, or it ended): whatever it left in the ring and
   * everything after is written from here, so no line is lost.
   */
  private takeOver (): void {
    if (this.direct) return
    this.direct = true
    if (!this.ended) process.stderr.write('parley: the log thread stopped; writing the log from the main thread\n')
    if (this.pumping !== null) clearTimeout(this.pumping)
    if (Atomics.load(this.ctrl, CLOSED) !== 1) {
      const left = readRecords(this.ring, this.names, Atomics.load(this.ctrl, TAIL), this.head)
      for (const buf of left.out) this.writeDirect(buf)
      for (const buf of this.overflow) this.writeDirect(buf)
    }
    this.overflow = []
    this.answer(Number.MAX_SAFE_INTEGER)
    const draining = this.draining
    this.draining = []
    for (const cb of draining) cb()
  }

  private writeDirect (buf: Buffer): void {
    if (Atomics.load(this.ctrl, CLOSED) === 1) return
    if (!writeAll(this.fd, buf)) Atomics.store(this.ctrl, CLOSED, 1)
  }
}
