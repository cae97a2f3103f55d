// LogSink, the log's destination: lines batched, written in order with one write in
// flight, partial writes and a full pipe (EAGAIN) completed, EPIPE ending the log.
import t from 'tap'
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LogSink } from '../plugins/app/log-sink.js'

type Callback = (err: NodeJS.ErrnoException | null, written: number) => void

/** A fake write(2): records each call; the test decides when and how it completes. */
function fakeFd (): { calls: Array<{ text: string, done: (n?: number, err?: NodeJS.ErrnoException) => void }>, out: string[], write: (fd: number, b: Buffer, off: number, cb: Callback) => void } {
  const calls: Array<{ text: string, done: (n?: number, err?: NodeJS.ErrnoException) => void }> = []
  const out: string[] = []
  return {
    calls,
    out,
    write (_fd, buffer, offset, cb) {
      const text = buffer.subarray(offset).toString()
      calls.push({
        text,
        done (n = Buffer.byteLength(text), err) {
          if (err !== undefined) { cb(err, 0); return }
          out.push(buffer.subarray(offset, offset + n).toString())
          cb(null, n)
        }
      })
    }
  }
}

/** A sink on the fake descriptor that writes only when told (no timer within a test), ended at teardown. */
function sinkOn (t: { teardown: (fn: () => void) => void }, fd: ReturnType<typeof fakeFd>, batchChars = 1000): LogSink {
  const sink = new LogSink(9, { batchChars, flushMs: 60_000, write: fd.write })
  t.teardown(() => { sink.end() })
  return sink
}

const line = (i: number): string => `{"n":${i}}\n`
const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code })

t.test('lines wait for a batch; a flush writes them in order in one write, then calls back', async (t) => {
  const fd = fakeFd()
  const sink = sinkOn(t, fd)
  for (let i = 0; i < 5; i++) t.equal(sink.write(line(i)), true)
  t.equal(fd.calls.length, 0, 'under the batch size nothing is written yet')
  let flushed = false
  sink.flush(() => { flushed = true })
  t.equal(fd.calls.length, 1)
  t.equal(fd.calls[0]?.text, [0, 1, 2, 3, 4].map(line).join(''))
  t.equal(flushed, false, 'the callback waits for the write to complete')
  fd.calls[0]?.done()
  t.equal(flushed, true)
})

t.test('a full batch starts a write; lines that come meanwhile follow it, never two writes at once', async (t) => {
  const fd = fakeFd()
  const sink = sinkOn(t, fd, 12)
  sink.write(line(0))
  t.equal(fd.calls.length, 0)
  sink.write(line(1))
  t.equal(fd.calls.length, 1, 'two lines of 8 characters pass the batch size of 12')
  t.equal(fd.calls[0]?.text, line(0) + line(1))
  for (let i = 2; i < 6; i++) sink.write(line(i))
  t.equal(fd.calls.length, 1, 'one write in flight')
  fd.calls[0]?.done()
  t.equal(fd.calls.length, 2, 'the pending batch goes as soon as the first is done')
  t.equal(fd.calls[1]?.text, [2, 3, 4, 5].map(line).join(''))
  fd.calls[1]?.done()
  t.equal(fd.out.join(''), [0, 1, 2, 3, 4, 5].map(line).join(''))
})

t.test('a partial write is completed from where it stopped', async (t) => {
  const fd = fakeFd()
  const sink = sinkOn(t, fd)
  sink.write('héllo wörld\n')
  let flushed = false
  sink.flush(() => { flushed = true })
  fd.calls[0]?.done(4)
  t.equal(flushed, false)
  t.equal(fd.calls.length, 2)
  fd.calls[1]?.done()
  t.equal(flushed, true)
  t.equal(fd.out.join(''), 'héllo wörld\n', 'bytes, not characters: the multi-byte text arrives whole')
})

t.test('a full non-blocking pipe (EAGAIN) is written again a moment later', async (t) => {
  const fd = fakeFd()
  const sink = sinkOn(t, fd)
  sink.write(line(1))
  const flushed = new Promise<void>((resolve) => { sink.flush(resolve) })
  fd.calls[0]?.done(0, errno('EAGAIN'))
  t.equal(fd.calls.length, 1, 'not retried at once')
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.equal(fd.calls.length, 2)
  t.equal(fd.calls[1]?.text, line(1))
  fd.calls[1]?.done()
  await flushed
  t.equal(fd.out.join(''), line(1))
})

t.test('EPIPE (nobody reads any more) ends the log quietly: later lines are dropped, waiters released', async (t) => {
  const fd = fakeFd()
  const sink = sinkOn(t, fd)
  sink.write(line(1))
  let flushed = false
  sink.flush(() => { flushed = true })
  fd.calls[0]?.done(0, errno('EPIPE'))
  t.equal(flushed, true)
  t.equal(sink.write(line(2)), true, 'pino is told the write went fine')
  let again = false
  sink.flush(() => { again = true })
  t.equal(again, true)
  t.equal(fd.calls.length, 1, 'nothing written after EPIPE')
})

t.test('pending lines are written by the timer without a flush; end() writes the rest and calls back', async (t) => {
  const fd = fakeFd()
  const sink = new LogSink(9, { batchChars: 1000, flushMs: 20, write: (f, b, o, cb) => { fd.write(f, b, o, cb); fd.calls.at(-1)?.done() } })
  sink.write(line(1))
  await new Promise((resolve) => setTimeout(resolve, 60))
  t.equal(fd.out.join(''), line(1))
  sink.write(line(2))
  await new Promise<void>((resolve) => { sink.end(resolve) })
  t.equal(fd.out.join(''), line(1) + line(2))
})

t.test('writes to a real file descriptor, in order, with non-ASCII text intact', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-logsink-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'out.log')
  const fdNum = openSync(file, 'w')
  const sink = new LogSink(fdNum, { batchChars: 256 })
  const expected: string[] = []
  for (let i = 0; i < 500; i++) {
    const l = `{"i":${i},"msg":"Grüße ${'—'.repeat(i % 7)}"}\n`
    expected.push(l)
    sink.write(l)
  }
  await new Promise<void>((resolve) => { sink.end(resolve) })
  closeSync(fdNum)
  t.equal(readFileSync(file, 'utf8'), expected.join(''))
})
