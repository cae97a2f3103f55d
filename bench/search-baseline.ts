// The search baseline: bare Fastify (no logger, no plugins) over better-sqlite3 running the FTS5
// look-up directly with a prepared statement, the least a server can do for a searched page.
// Run as a child by search.bench.ts: `search-baseline.js <parley.sqlite3> <reader id>`.
import Fastify from 'fastify'
import SQLite from 'better-sqlite3'
import { ftsQuery, searchWords } from '../plugins/app/stores/search.js'

const [file, readerArg] = process.argv.slice(2)
if (file === undefined || readerArg === undefined) {
  process.stderr.write('usage: search-baseline.js <parley.sqlite3> <reader id>\n')
  process.exit(2)
}
const reader = Number(readerArg)
const db = new SQLite(file, { readonly: true })

interface Row {
  id: number
  sender_id: number
  sender_email: string
  sender_full_name: string
  type: 'stream' | 'direct'
  stream_id: number
  stream_name: string
  topic: string
  content: string
  content_markdown: string
  timestamp: number
  last_edit_timestamp: number | null
  client: string
  unread: number
}
const page = db.prepare<[number, string, number], Row>(`SELECT m.id, m.sender_id, u.email AS sender_email, u.full_name AS sender_full_name,
  m.type, m.stream_id, s.name AS stream_name, m.topic, m.content, m.content_markdown, m.timestamp, m.last_edit_timestamp, m.client,
  EXISTS (SELECT 1 FROM unread WHERE unread.message_id = m.id AND unread.user_id = ?) AS unread
  FROM messages m JOIN users u ON u.id = m.sender_id LEFT JOIN streams s ON s.id = m.stream_id
  WHERE m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?) ORDER BY m.id DESC LIMIT ?`)

const app = Fastify({ logger: false })
app.get('/api/v1/messages', async (request, reply) => {
  const q = request.query as Record<string, string | undefined>
  const numBefore = Number(q.num_before ?? 0)
  const narrow = JSON.parse(q.narrow ?? '[]') as Array<[string, string]>
  const words = searchWords(String(narrow.find((t) => t[0] === 'search')?.[1] ?? ''))
  if (words === null || words.length === 0) return await reply.code(400).send({ result: 'error' })
  // One row more than asked tells whether the page reaches the oldest message, as in Parley.
  const rows = page.all(reader, ftsQuery(words), numBefore + 1)
  const messages = rows.slice(0, numBefore).reverse().map((r) => ({
    id: r.id,
    sender_id: r.sender_id,
    sender_email: r.sender_email,
    sender_full_name: r.sender_full_name,
    type: r.type,
    stream_id: r.stream_id,
    display_recipient: r.stream_name,
    topic: r.topic,
    content: r.content,
    content_markdown: r.content_markdown,
    timestamp: r.timestamp,
    last_edit_timestamp: r.last_edit_timestamp,
    client: r.client,
    flags: r.unread === 1 ? [] : ['read']
  }))
  return { result: 'success', msg: '', data: { messages, found_anchor: false, found_newest: true, found_oldest: rows.length <= numBefore } }
})

const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening ${url}\n`)
