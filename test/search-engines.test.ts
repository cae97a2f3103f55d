// The search index on both databases, below the app: migration 005 and the search SQL run on SQLite
// and directly on PostgreSQL (a schema parley_search_* of its own), and both answer exactly what the
// JavaScript match of live events answers, for chosen and for generated texts and searches.
import t from 'tap'
import fc from 'fast-check'
import pg from 'pg'
import SQLite from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely'
import { migrate, type Database } from '../plugins/app/db/db.js'
import { narrowWhere, searchFilter } from '../plugins/app/stores/narrow.js'
import { pageQueryOf } from '../plugins/app/stores/message-query.js'
import { matchesSearch, searchText } from '../plugins/app/stores/search.js'

const PG_URL = process.env.PARLEY_TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test'

interface Engine { name: string, db: Kysely<Database>, sqlite: boolean }

async function seedBase (db: Kysely<Database>): Promise<void> {
  await db.insertInto('users').values({ email: 'a@example.com', email_key: 'a@example.com', full_name: 'A', role: 'owner', is_bot: 0, bot_type: null, bot_owner_id: null, is_active: 1, date_joined: 0, api_key: 'k', password_hash: null, webhook_secret: null }).execute()
  await db.insertInto('streams').values({ name: 's', name_key: 's', description: '', invite_only: 0, is_archived: 0, date_created: 0 }).execute()
}

async function insert (db: Kysely<Database>, topic: string, markdown: string): Promise<number> {
  const base = { sender_id: 1, type: 'stream' as const, stream_id: 1, dm_group_id: null, timestamp: 0, last_edit_timestamp: null, client: 'test' }
  const row = await db.insertInto('messages').values({ ...base, topic, topic_key: topic.toLowerCase(), content: markdown, content_markdown: markdown, search_text: searchText(topic, markdown) })
    .returning('id').executeTakeFirstOrThrow()
  return row.id
}

/** The ids of messages the search finds, by the same SQL as GET /messages. */
async function matching (e: Engine, operand: string, negated = false): Promise<number[]> {
  const filter = searchFilter(operand, e.sqlite, negated)
  const rows = await e.db.selectFrom('messages').select('id').where(narrowWhere(filter === undefined ? [] : [filter], e.sqlite)).orderBy('id').execute()
  return rows.map((r) => r.id)
}

const engines: Engine[] = []
const sqliteDb = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) })
await migrate(sqliteDb)
await seedBase(sqliteDb)
engines.push({ name: 'SQLite', db: sqliteDb, sqlite: true })
t.teardown(async () => { await sqliteDb.destroy() })

// PostgreSQL: a fresh schema in the test database, dropped at the end.
const schema = `parley_search_${randomBytes(6).toString('hex')}`
const admin = new pg.Client({ connectionString: PG_URL })
const pgReason = await admin.connect().then(() => undefined, (err: Error) => `no PostgreSQL at ${PG_URL} (${err.message})`)
if (pgReason === undefined) {
  await admin.query(`create schema ${schema}`)
  const url = new URL(PG_URL)
  url.searchParams.set('options', `-c search_path=${schema}`)
  const pgDb = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url.toString(), max: 2 }) }) })
  t.teardown(async () => {
    await pgDb.destroy()
    await admin.query(`drop schema ${schema} cascade`)
    await admin.end()
  })
  await migrate(pgDb)
  await seedBase(pgDb)
  engines.push({ name: 'PostgreSQL', db: pgDb, sqlite: false })
}

const CORPUS: Array<[string, string]> = [
  ['Lunch', 'Pizza at the Café tonight?'],
  ['dinner', 'pasta, not pizzeria food'],
  ['ops', 'mail bob@example.com about v2.5-beta https://ci.example.com/run/12'],
  ['午饭', '我们今天去吃饭吧，好吗？'],
  ['jp', '東京でラーメンを食べました'],
  ['misc', 'ＦＵＬＬ width, ﬁne ligature, naïve résumé, Straße, हिन्दी भाषा, ١٢٣ digits'],
  ['syntax', 'near or not: a&b !c "quoted" col:value x_y 100%']
]
const QUERIES = ['piz', 'PIZZA tonight', 'izza', 'cafe', 'example.com', 'com.example', 'bob@exam v2.5-b', '吃饭', '去饭', '午饭 好', 'ラーメン',
  'full fine', 'naive resume', 'straße', 'हिन्दी', 'भा', '١٢', '"', '*', 'OR', 'NEAR(a b)', '-pizza', 'a:b', 'a&b', '!c', '<->', ':*', "'", '\\', '!!!', 'x_y', '100%', '   ']

t.test('both databases answer every search exactly as the JavaScript match does', async (t) => {
  for (const e of engines) await e.db.deleteFrom('messages').execute()
  const ids = new Map<string, number[]>(engines.map((e) => [e.name, []]))
  for (const [topic, md] of CORPUS) for (const e of engines) ids.get(e.name)?.push(await insert(e.db, topic, md))
  for (const e of engines) {
    const mine = ids.get(e.name) as number[]
    for (const q of QUERIES) {
      const expected = CORPUS.flatMap(([topic, md], i) => matchesSearch(q, topic, md) ? [mine[i] as number] : [])
      t.same(await matching(e, q), expected, `${e.name}: search ${JSON.stringify(q)}`)
      // A blank operand is no search at all, negated or not.
      t.same(await matching(e, q, true), q.trim() === '' ? mine : mine.filter((id) => !expected.includes(id)), `${e.name}: negated search ${JSON.stringify(q)}`)
    }
  }
  t.same(CORPUS.flatMap(([topic, md], i) => matchesSearch('吃饭', topic, md) ? [i] : []), [3], 'the Chinese search finds the Chinese message')
})

t.test('generated texts and searches: both databases agree with the JavaScript match', async (t) => {
  // Few letters, so words repeat and prefixes meet; accents, CJK, and the syntax of both engines.
  const char = fc.constantFrom(...'abcAÉé 吃饭好 -.:&!|*"\'()<>_%@ \u00a0１'.split(''))
  const text = fc.array(char, { maxLength: 24 }).map((cs) => cs.join(''))
  await fc.assert(fc.asyncProperty(fc.array(fc.tuple(text, text), { minLength: 1, maxLength: 6 }), fc.array(text, { minLength: 1, maxLength: 4 }), async (docs, queries) => {
    for (const e of engines) {
      await e.db.deleteFrom('messages').execute()
      const mine: number[] = []
      for (const [topic, md] of docs) mine.push(await insert(e.db, topic, md))
      for (const q of queries) {
        const expected = docs.flatMap(([topic, md], i) => matchesSearch(q, topic, md) ? [mine[i] as number] : [])
        const got = await matching(e, q)
        if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error(`${e.name}: search ${JSON.stringify(q)} in ${JSON.stringify(docs)}: ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`)
      }
    }
  }), { numRuns: 60, seed: 16 })
  t.pass('60 generated cases agree')
})

t.test('edits and deletes change what the index finds on both databases', async (t) => {
  for (const e of engines) {
    await e.db.deleteFrom('messages').execute()
    const a = await insert(e.db, 'weather', 'sunny morning')
    const b = await insert(e.db, 'weather', 'sunny evening')
    await e.db.updateTable('messages').set({ search_text: searchText('weather', 'rainy morning') }).where('id', '=', a).execute()
    t.same(await matching(e, 'sunny'), [b], `${e.name}: an edited message's old words are gone`)
    t.same(await matching(e, 'rainy'), [a], `${e.name}: its new words are found`)
    await e.db.deleteFrom('messages').where('id', '=', b).execute()
    t.same(await matching(e, 'weather'), [a], `${e.name}: a deleted message is not found`)
  }
  await t.resolves(sql`insert into messages_fts(messages_fts, rank) values ('integrity-check', 1)`.execute(sqliteDb), 'SQLite: the FTS5 index holds exactly the rows of messages')
})

t.test('the search is a look-up in the full-text index, not a scan of messages', async (t) => {
  const filter = searchFilter('pizza', true)
  const page = pageQueryOf(sqliteDb, 1, 'newest', 50, 0, filter === undefined ? [] : [filter]).compile()
  const plan = (await sqliteDb.executeQuery({ ...page, sql: `explain query plan ${page.sql}` })).rows.map((r) => (r as { detail: string }).detail)
  t.ok(plan.some((d) => /messages_fts VIRTUAL TABLE INDEX \d+:M/.test(d)), `SQLite: the page query looks the words up in FTS5: ${plan.join(' | ')}`)
  t.notOk(plan.some((d) => /^SCAN messages\b/.test(d)), 'SQLite: and reads messages by id, with no scan')
  const pgEngine = engines.find((e) => !e.sqlite)
  if (pgEngine === undefined) { t.comment(`PostgreSQL plan not checked: ${pgReason ?? ''}`); return }
  await pgEngine.db.connection().execute(async (c) => {
    // Few rows make a scan cheaper than any index; forbidding scans shows whether the index can serve the condition.
    await sql`set enable_seqscan = off`.execute(c)
    const f = searchFilter('pizza', false)
    const q = c.selectFrom('messages').select('id').where(narrowWhere(f === undefined ? [] : [f], false)).compile()
    const rows = (await c.executeQuery({ ...q, sql: `explain ${q.sql}` })).rows.map((r) => (r as { 'QUERY PLAN': string })['QUERY PLAN'])
    await sql`reset enable_seqscan`.execute(c)
    t.ok(rows.some((l) => l.includes('Bitmap Index Scan on messages_search_tsv')), `PostgreSQL: the GIN index serves the search: ${rows.join(' | ')}`)
  })
})

if (pgReason !== undefined) t.comment(`PostgreSQL cases skipped: ${pgReason}`)
