// The messages baseline: bare Fastify (no logger, no plugins) over better-sqlite3 with
// prepared statements, the least a server can do for POST and GET /api/v1/messages.
// Run as a child by messages.bench.ts: `messages-baseline.js <parley.sqlite3> <sender id>`.
import Fastify from 'fastify'
import SQLite from 'better-sqlite3'
import { parse } from 'node:querystring'
import { listenAsChild, PAGE_SELECT, pageAnswer, type MessageRow } from './baseline-page.js'

const [file, senderArg] = process.argv.slice(2)
if (file === undefined || senderArg === undefined) {
  process.stderr.write('usage: messages-baseline.js <parley.sqlite3> <sender id>\n')
  process.exit(2)
}
const senderId = Number(senderArg)

// The pragmas of Parley's openDatabase, so both write to the same kind of database.
const db = new SQLite(file)
db.pragma('journal_mode = WAL')
db.pragma('synchronous = NORMAL')
db.pragma('foreign_keys = ON')
db.pragma('busy_timeout = 5000')

const streamByName = db.prepare<[string], { id: number, name: string }>(
  'SELECT id, name FROM streams WHERE name_key = ? AND is_archived = 0')
const insert = db.prepare(`INSERT INTO messages (sender_id, type, stream_id, dm_group_id, topic, topic_key, content,
  content_markdown, search_text, timestamp, last_edit_timestamp, client) VALUES (?, 'stream', ?, NULL, ?, ?, ?, ?, ?, ?, NULL, ?)`)

const page = db.prepare<[number, number, number], MessageRow>(`${PAGE_SELECT}
  WHERE m.stream_id = ? ORDER BY m.id DESC LIMIT ?`)

const app = Fastify({ logger: false })
// Fastify parses JSON only; the same form body as Parley's clients send is parsed here as cheaply as Node allows.
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
  done(null, parse(body as string))
})

app.post('/api/v1/messages', async (request, reply) => {
  const p = request.body as Record<string, string | undefined>
  const stream = streamByName.get((p.to ?? '').trim().toLowerCase())
  if (stream === undefined || p.topic === undefined || p.content === undefined) return await reply.code(400).send({ result: 'error' })
  const topic = p.topic.trim()
  const t = Math.floor(Date.now() / 1000)
  // No Markdown rendering: the stored HTML is the source as it came.
  const r = insert.run(senderId, stream.id, topic, topic.toLowerCase(), p.content, p.content, `${topic}\n${p.content}`.toLowerCase(), t, 'bench')
  return { result: 'success', msg: '', data: { id: Number(r.lastInsertRowid) } }
})

app.get('/api/v1/messages', async (request, reply) => {
  const q = request.query as Record<string, string | undefined>
  const numBefore = Number(q.num_before ?? 0)
  const narrow = JSON.parse(q.narrow ?? '[]') as Array<{ operator: string, operand: string }>
  const stream = streamByName.get(String(narrow.find((t) => t.operator === 'stream')?.operand ?? '').trim().toLowerCase())
  if (stream === undefined) return await reply.code(400).send({ result: 'error' })
  return pageAnswer(page.all(senderId, stream.id, numBefore + 1), numBefore)
})

await listenAsChild(app, () => { db.close() })
