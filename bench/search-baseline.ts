// The search baseline: bare Fastify (no logger, no plugins) over better-sqlite3 running the FTS5
// look-up directly with a prepared statement, the least a server can do for a searched page.
// Run as a child by search.bench.ts: `search-baseline.js <parley.sqlite3> <reader id>`.
import Fastify from 'fastify'
import SQLite from 'better-sqlite3'
import { ftsQuery, searchWords } from '../plugins/app/stores/search.js'
import { listenAsChild, PAGE_SELECT, pageAnswer, type MessageRow } from './baseline-page.js'

const [file, readerArg] = process.argv.slice(2)
if (file === undefined || readerArg === undefined) {
  process.stderr.write('usage: search-baseline.js <parley.sqlite3> <reader id>\n')
  process.exit(2)
}
const reader = Number(readerArg)
const db = new SQLite(file, { readonly: true })

const page = db.prepare<[number, string, number], MessageRow>(`${PAGE_SELECT}
  WHERE m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?) ORDER BY m.id DESC LIMIT ?`)

const app = Fastify({ logger: false })
app.get('/api/v1/messages', async (request, reply) => {
  const q = request.query as Record<string, string | undefined>
  const numBefore = Number(q.num_before ?? 0)
  const narrow = JSON.parse(q.narrow ?? '[]') as Array<[string, string]>
  const words = searchWords(String(narrow.find((t) => t[0] === 'search')?.[1] ?? ''))
  if (words === null || words.length === 0) return await reply.code(400).send({ result: 'error' })
  return pageAnswer(page.all(reader, ftsQuery(words), numBefore + 1), numBefore)
})

await listenAsChild(app, () => { db.close() })
