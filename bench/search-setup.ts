// What the search benchmark needs around the measuring: a history of 1,000,000 messages of
// generated words, written straight into SQLite and PostgreSQL before migration 005, which then
// builds the full-text index as it would on an upgrade (bulk loading, then indexing, is the fast way).
import SQLite from 'better-sqlite3'
import pg from 'pg'
import { Kysely, Migrator, type Migration, type MigrationProvider } from 'kysely'
import { join } from 'node:path'
import { migrate, openDatabase, openPostgres } from '../plugins/app/db/db.js'
import { migrations } from '../migrations/index.js'
import { generateApiKey } from '../plugins/app/http/credentials.js'
import { searchText } from '../plugins/app/stores/search.js'
import { createPostgres } from './engines.js'
import { seeded } from './harness.js'

export const STREAM = 'bench'
const USERS = 20
const TOPICS = 200
/** Words of the vocabulary; half of a message's words come from the first COMMON of them. */
const VOCABULARY = 4000
const COMMON = 400
/** The migration before the search index: the history is loaded first, then indexed. */
const BEFORE_INDEX = '004_webhook_secret'

const SYLLABLES = ['ba', 'ko', 'ri', 'tem', 'lo', 'vi', 'nar', 'pe', 'su', 'dan', 'mi', 'gor', 'el', 'tu', 'fa', 'zen', 'ho', 'qui', 'wen', 'ly', 'cas', 'dro']

/** A vocabulary of pronounceable words, 2 to 4 syllables. */
export function vocabulary (): string[] {
  const random = seeded(7)
  const words = new Set<string>()
  while (words.size < VOCABULARY) {
    const n = 2 + Math.floor(random() * 3)
    let w = ''
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(random() * SYLLABLES.length)] as string
    words.add(w)
  }
  return [...words]
}

/** The messages, their time, and the users who send them: the same on both databases. */
export interface History { topics: string[], contents: string[], t: number, users: Array<Record<string, unknown>> }

/** `count` messages of 6 to 18 words, half of them common words (each in ~1.5 % of messages), half rarer (~0.17 %). */
export function history (count: number): History {
  const words = vocabulary()
  const random = seeded(16)
  const word = (): string => words[random() < 0.5 ? Math.floor(random() * COMMON) : COMMON + Math.floor(random() * (VOCABULARY - COMMON))] as string
  const topicNames = Array.from({ length: TOPICS }, () => `${word()} ${word()}`)
  const topics: string[] = []
  const contents: string[] = []
  for (let i = 0; i < count; i++) {
    const n = 6 + Math.floor(random() * 13)
    const ws = Array.from({ length: n }, word)
    const first = ws[0] as string
    ws[0] = first.charAt(0).toUpperCase() + first.slice(1)
    if (n > 9) ws[4] += ','
    topics.push(topicNames[i % TOPICS] as string)
    contents.push(`${ws.join(' ')}.`)
  }
  const t = Math.floor(Date.now() / 1000)
  return { topics, contents, t, users: users(t) }
}

/** The words the benchmark searches for: common and rarer ones, none a prefix of another vocabulary word. */
export function searchWords (): string[] {
  const words = vocabulary()
  const whole = (w: string): boolean => !words.some((o) => o !== w && o.startsWith(w))
  const common = words.slice(0, COMMON).filter(whole).slice(0, 3)
  const rare = words.slice(COMMON).filter(whole).slice(0, 3)
  return [...common, ...rare]
}

class StaticProvider implements MigrationProvider {
  async getMigrations (): Promise<Record<string, Migration>> { return migrations }
}

export interface Seeded { auth: string, userId: number }

function users (t: number): Array<Record<string, unknown>> {
  return Array.from({ length: USERS }, (_, i) => {
    const email = `search-${String(i + 1).padStart(3, '0')}@example.com`
    return { email, email_key: email, full_name: `Search user ${i + 1}`, role: 'member', is_bot: 0, bot_type: null, bot_owner_id: null, is_active: 1, date_joined: t, api_key: generateApiKey(), password_hash: null }
  })
}

async function seedPeople (db: Kysely<any>, h: History): Promise<{ seeded: Seeded, ids: number[], streamId: number }> {
  const { t, users: rows } = h
  const ids = (await db.insertInto('users').values(rows).returning('id').execute()).map((r) => Number(r.id))
  const stream = await db.insertInto('streams').values({ name: STREAM, name_key: STREAM, description: 'Search benchmark', invite_only: 0, is_archived: 0, date_created: t })
    .returning('id').executeTakeFirstOrThrow()
  await db.insertInto('subscriptions').values(ids.map((id) => ({ user_id: id, stream_id: stream.id, date_subscribed: t }))).execute()
  const first = rows[0] as { email: string, api_key: string }
  return { seeded: { auth: 'Basic ' + Buffer.from(`${first.email}:${first.api_key}`).toString('base64'), userId: ids[0] as number }, ids, streamId: Number(stream.id) }
}

/** A fresh SQLite data dir with the history, indexed by migration 005. */
export async function seedSqlite (dataDir: string, h: History): Promise<Seeded> {
  const t = h.t
  const db = openDatabase(dataDir)
  let people
  try {
    await new Migrator({ db, provider: new StaticProvider() }).migrateTo(BEFORE_INDEX)
    people = await seedPeople(db, h)
  } finally {
    await db.destroy()
  }
  // Multi-row inserts on a bare connection, in transactions of 50,000 rows.
  const raw = new SQLite(join(dataDir, 'parley.sqlite3'))
  const ROWS = 100
  const insert = raw.prepare(`insert into messages (sender_id, type, stream_id, dm_group_id, topic, topic_key, content, content_markdown, search_text, timestamp, last_edit_timestamp, client)
    values ${Array<string>(ROWS).fill("(?, 'stream', ?, null, ?, ?, ?, ?, ?, ?, null, 'bench')").join(', ')}`)
  const count = h.contents.length
  const slice = raw.transaction((from: number) => {
    for (let i = from; i < Math.min(count, from + 50_000); i += ROWS) {
      const values: unknown[] = []
      for (let n = i; n < i + ROWS; n++) {
        const topic = h.topics[n] as string
        const content = h.contents[n] as string
        values.push(people.ids[n % USERS], people.streamId, topic, topic.toLowerCase(), `<p>${content}</p>`, content, searchText(topic, content), t - count + n)
      }
      insert.run(values)
    }
  })
  for (let i = 0; i < count; i += 50_000) slice(i)
  raw.close()
  const indexed = openDatabase(dataDir)
  try { await migrate(indexed) } finally { await indexed.destroy() }
  return people.seeded
}

/** A fresh database `name` on the PostgreSQL server of `url` with the history, indexed by migration 005; its URL. */
export async function seedPostgres (url: string, name: string, h: History): Promise<{ url: string, seeded: Seeded }> {
  const dbUrl = new URL(await createPostgres(name, undefined, url))
  const t = h.t
  const db = await openPostgres(dbUrl.toString())
  try {
    await new Migrator({ db, provider: new StaticProvider(), migrationTableSchema: 'public' }).migrateTo(BEFORE_INDEX)
    const people = await seedPeople(db, h)
    const pool = new pg.Pool({ connectionString: dbUrl.toString(), max: 2 })
    try {
      // Columns as arrays, unnested into rows: one statement of 20,000 rows, no per-row parameters.
      const count = h.contents.length
      for (let i = 0; i < count; i += 20_000) {
        const ns = Array.from({ length: Math.min(20_000, count - i) }, (_, k) => i + k)
        const topics = ns.map((n) => h.topics[n] as string)
        const contents = ns.map((n) => h.contents[n] as string)
        await pool.query(`insert into messages (sender_id, type, stream_id, dm_group_id, topic, topic_key, content, content_markdown, search_text, timestamp, last_edit_timestamp, client)
          select s, 'stream', $2, null, tp, lower(tp), '<p>' || c || '</p>', c, st, ts, null, 'bench'
          from unnest($1::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[]) as x(s, tp, c, st, ts)`,
        [ns.map((n) => people.ids[n % USERS]), people.streamId, topics, contents, ns.map((n) => searchText(topics[n - i] as string, contents[n - i] as string)), ns.map((n) => t - count + n)])
      }
      await migrate(db)
      await pool.query('vacuum analyze')
    } finally {
      await pool.end()
    }
    return { url: dbUrl.toString(), seeded: people.seeded }
  } finally {
    await db.destroy()
  }
}
