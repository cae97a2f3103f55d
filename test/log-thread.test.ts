// LogThread, the log's destination: pino's lines and the access entries written by the
// log thread in order and byte for byte as pino would, through a ring that wraps and
// overflows, flushed on request, ended before exit, and taken over by the main thread
// when the log thread is gone.
import t, { type Test } from 'tap'
import pino from 'pino'
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { LogThread } from '../plugins/app/log/log-thread.js'
import { ACCESS_SINK, accessFields, accessMessage, type AccessEntry } from '../plugins/app/log/access-line.js'
import { accessLineWriter } from '../plugins/app/http/notes.js'

const CHINDINGS = ',"pid":1,"hostname":"h"'

/** A LogThread writing to a fresh file in the test's directory. */
function threadOn (t: Test, opts: ConstructorParameters<typeof LogThread>[1] = {}): { thread: LogThread, file: string } {
  const file = join(t.testdir(), 'log')
  const fd = openSync(file, 'w')
  const thread = new LogThread(fd, opts)
  t.teardown(async () => {
    await new Promise<void>((resolve) => { thread.end(resolve) })
    closeSync(fd)
  })
  return { thread, file }
}

const flushed = async (thread: LogThread): Promise<void> => { await new Promise<void>((resolve) => { thread.flush(resolve) }) }

const entry = (i: number, over: Partial<AccessEntry> = {}): AccessEntry => ({
  reqId: `req-${i.toString(36)}`,
  method: 'GET',
  url: '/api/v1/users/:user_id',
  path: `/api/v1/users/${i}`,
  statusCode: 200,
  responseTime: i % 7,
  requester: i % 3 === 0 ? 'unauth' : i,
  client: 'ZulipMobile',
  clientVersion: '27.1',
  ...over
})

/** pino's own line for an entry, with the given time and bindings. */
function pinoLine (e: AccessEntry, time: number): string {
  let out = ''
  const log = pino({ base: { pid: 1, hostname: 'h' }, timestamp: () => `,"time":${time}` }, { write (s: string) { out = s } })
  log.info(accessFields(e), accessMessage(e))
  return out
}

t.test('access entries come out as the lines pino writes, interleaved in order with raw lines', async (t) => {
  const { thread, file } = threadOn(t)
  const expected: string[] = []
  const awkward: Array<Partial<AccessEntry>> = [
    {},
    { path: '/api/v1/users/me', url: '/api/v1/users/me' },
    { reqId: 'r"\\\u2028', client: 'Zülip \u0007 ☃ \ud83d', clientVersion: '' },
    { path: '/json/x\n', url: '/json/x\n', method: 'DELETE', statusCode: 404 },
    // A path as the HTTP parser gives it: one byte a character.
    { path: '/a/\u00ffb%20', requester: 2_000_000_000 },
    { reqId: 'q\u00e9\ud83d\ude00', path: '/api/v1/users/me' },
    { reqId: 'x'.repeat(300), path: `/${'p'.repeat(200)}` }
  ]
  for (let i = 0; i < 50; i++) {
    const e = entry(i, awkward[i % awkward.length])
    const time = 1_764_547_200_000 + i
    thread[ACCESS_SINK](CHINDINGS, time, e)
    expected.push(pinoLine(e, time))
    if (i % 10 === 0) {
      const raw = `{"level":40,"n":${i},"msg":"raw ✓"}\n`
      thread.write(raw)
      expected.push(raw)
    }
  }
  await flushed(thread)
  t.equal(readFileSync(file, 'utf8'), expected.join(''))
  t.equal(thread.threaded, true, 'written by the log thread')
})

t.test('a lone surrogate, which UTF-8 cannot carry, comes out escaped and intact', async (t) => {
  // pino writes a short one raw, which UTF-8 turns into U+FFFD; the log thread keeps it (decisions 23).
  const { thread, file } = threadOn(t)
  thread[ACCESS_SINK](CHINDINGS, 1, entry(1, { reqId: '\udc00', path: '/x\ud800', client: 'c\ud83d' }))
  await flushed(thread)
  const text = readFileSync(file, 'utf8')
  t.match(text, /"reqId":"\\udc00"/)
  t.match(JSON.parse(text), { reqId: '\udc00', client: 'c\ud83d', msg: 'GET 200 1ms /x\ud800 (1 via c\ud83d/27.1)' })
})

t.test('a small ring wraps and overflows without losing or reordering a byte', async (t) => {
  const { thread, file } = threadOn(t, { ringBytes: 4096, pollMs: 1 })
  const expected: string[] = []
  for (let i = 0; i < 2000; i++) {
    if (i % 97 === 0) {
      // Longer than the whole ring: goes through in pieces.
      const big = `{"big":"${'x'.repeat(10_000 + i)}"}\n`
      thread.write(big)
      expected.push(big)
    }
    const e = entry(i, { client: `client-${i % 13}` })
    thread[ACCESS_SINK](CHINDINGS, i, e)
    expected.push(pinoLine(e, i))
  }
  await flushed(thread)
  t.equal(readFileSync(file, 'utf8'), expected.join(''))
  t.equal(thread.threaded, true, 'written by the log thread')
})

t.test('flush calls back only once everything sent before it is written; end writes the rest', async (t) => {
  const { thread, file } = threadOn(t, { pollMs: 60_000 })
  thread.write('one\n')
  await flushed(thread)
  t.equal(readFileSync(file, 'utf8'), 'one\n', 'written although the thread would not look for a minute')
  thread.write('two\n')
  await new Promise<void>((resolve) => { thread.end(resolve) })
  t.equal(readFileSync(file, 'utf8'), 'one\ntwo\n')
  t.equal(thread.threaded, false, 'ended: the main thread writes')
  // After the end, lines are still written, from the main thread, at once.
  thread.write('three\n')
  thread[ACCESS_SINK](CHINDINGS, 5, entry(1))
  t.equal(readFileSync(file, 'utf8'), `one\ntwo\nthree\n${pinoLine(entry(1), 5)}`)
})

t.test('lines sent while end is under way are written by the thread, before any line written after it', async (t) => {
  const { thread, file } = threadOn(t, { pollMs: 60_000 })
  thread.write('one\n')
  const expected = ['one\n']
  const state = { ended: false }
  const ended = new Promise<void>((resolve) => {
    thread.end(() => {
      state.ended = true
      // The first line the main thread writes itself.
      thread.write('after\n')
      resolve()
    })
  })
  // Lines sent after end asked for its flush, on every turn of the event loop until
  // it calls back: some reach the ring after the thread has answered that flush.
  for (let i = 0; !state.ended; i++) {
    const line = `during ${i}\n`
    thread.write(line)
    expected.push(line)
    await new Promise((resolve) => setImmediate(resolve))
  }
  await ended
  expected.push('after\n')
  t.equal(readFileSync(file, 'utf8'), expected.join(''))
})

t.test('when the log thread cannot start, the main thread writes every line itself', async (t) => {
  const stderr: string[] = []
  const write = process.stderr.write
  process.stderr.write = ((s: string) => { stderr.push(s); return true }) as typeof process.stderr.write
  t.teardown(() => { process.stderr.write = write })
  const { thread, file } = threadOn(t, { workerUrl: new URL('./no-such-worker.js', import.meta.url) })
  thread.write('before\n')
  thread[ACCESS_SINK](CHINDINGS, 7, entry(2))
  await new Promise((resolve) => { setTimeout(resolve, 500) })
  thread.write('after\n')
  await flushed(thread)
  t.equal(readFileSync(file, 'utf8'), `before\n${pinoLine(entry(2), 7)}after\n`)
  t.match(stderr.join(''), /the log thread (failed|stopped)/)
})

t.test('the notes writer hands entries to a LogThread when pino would write the same line', async (t) => {
  const { thread, file } = threadOn(t)
  const sent: AccessEntry[] = []
  const original = thread[ACCESS_SINK]
  thread[ACCESS_SINK] = function (chindings, time, e) { sent.push(e); original.call(this, chindings, time, e) }
  const log = pino({ level: 'info' }, thread)
  const write = accessLineWriter(log)
  const e = entry(4)
  write(e)
  await flushed(thread)
  t.same(sent, [e], 'through the log thread, not formatted here')
  const line = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  t.match(line, { level: 30, reqId: e.reqId, method: 'GET', url: e.url, statusCode: 200, requester: 4, client: 'ZulipMobile', msg: accessMessage(e) })
  t.equal(line.pid, process.pid)
  t.type(line.time, 'number')
})

t.test('a reader that goes away (EPIPE) stops the log instead of failing the process', async (t) => {
  // A child whose log goes to a pipe that the parent closes at once.
  const script = join(t.testdir(), 'child.mjs')
  writeFileSync(script, `
    import { LogThread } from ${JSON.stringify(new URL('../plugins/app/log/log-thread.ts', import.meta.url).href)}
    const thread = new LogThread(1)
    for (let i = 0; i < 2000; i++) thread.write('{"n":' + i + '}\\n')
    thread.flush(() => {
      const threaded = thread.threaded
      thread.end(() => { process.stderr.write(threaded ? 'ended\\n' : 'ended without the log thread\\n') })
    })
  `)
  const child = spawn(process.execPath, [...process.execArgv, script], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.destroy()
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise<number | null>((resolve) => { child.on('exit', resolve) })
  t.equal(code, 0, err)
  t.equal(err, 'ended\n')
})
