// The log thread (a worker started by LogThread, log-thread.ts): reads the records the
// main thread puts in the shared ring, formats access lines, and writes everything to
// the log's descriptor with blocking writes, which cost the main thread nothing.
import { parentPort, workerData } from 'node:worker_threads'
import { CLOSED, ENDING, FLUSH_REQ, HEAD, SIGNAL, TAIL, readRecords, ringView, writeAll } from './log-ring.js'

interface LogWorkerData { ring: SharedArrayBuffer, ctrl: SharedArrayBuffer, fd: number, pollMs: number }

const data = workerData as LogWorkerData
const ring = ringView(data.ring)
const ctrl = new Int32Array(data.ctrl)
const strings: string[] = []

let tail = Atomics.load(ctrl, TAIL)
let answered = 0
let closed = false
for (;;) {
  // Read in this order: whatever the main thread wrote before asking for a flush or
  // signalling is then below `head`.
  const signal = Atomics.load(ctrl, SIGNAL)
  const ending = Atomics.load(ctrl, ENDING) === 1
  const flush = Atomics.load(ctrl, FLUSH_REQ)
  const head = Atomics.load(ctrl, HEAD)
  if (head !== tail) {
    const read = readRecords(ring, strings, tail, head)
    tail = read.tail
    Atomics.store(ctrl, TAIL, tail)
    if (!closed && read.out.length > 0 && !writeAll(data.fd, read.out.length === 1 ? read.out[0] as Buffer : Buffer.concat(read.out))) {
      closed = true
      Atomics.store(ctrl, CLOSED, 1)
    }
  }
  if (flush !== answered) {
    answered = flush
    parentPort?.postMessage(flush)
  }
  if (ending) break
  Atomics.wait(ctrl, SIGNAL, signal, data.pollMs)
}
