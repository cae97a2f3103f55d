// Queries compiled once with placeholders: substitution, the checks that keep a placeholder from the
// database, and the page query's shape key (same shape, same SQL; different SQL, different shape).
import t from 'tap'
import SQLite from 'better-sqlite3'
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, SqliteDialect, sql } from 'kysely'
import { Prepared, PreparedByShape, type Placeholders } from '../plugins/app/db/compiled.js'
import type { Database } from '../plugins/app/db/db.js'
import { pageQueryOf, pageShape, pageValues, preparePage, type Anchor } from '../plugins/app/stores/message-query.js'
import type { NarrowFilter } from '../plugins/app/stores/narrow.js'

interface Tap { teardown: (fn: () => unknown) => void }

interface Tables { notes: { id: number, owner: number, body: string, hidden: number } }

async function notesDb (t: Tap): Promise<Kysely<Tables>> {
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) })
  t.teardown(async () => { await db.destroy() })
  await db.schema.createTable('notes').addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('owner', 'integer').addColumn('body', 'text').addColumn('hidden', 'integer').execute()
  await db.insertInto('notes').values([
    { id: 1, owner: 7, body: 'a', hidden: 0 }, { id: 2, owner: 7, body: 'b', hidden: 1 }, { id: 3, owner: 8, body: 'c', hidden: 0 }
  ]).execute()
  return db
}

const sqliteCompiler = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) })
const pgCompiler = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler()
  }
})
t.teardown(async () => { await sqliteCompiler.destroy() })

type Owner = { owner: number, from: number }
const byOwner = (db: Kysely<Tables>, p: Placeholders<Owner>) =>
  db.selectFrom('notes').select(['id', 'body']).where('owner', '=', p.owner).where('hidden', '=', 0).where('id', '>=', p.from).orderBy('id')

t.test('a prepared query runs with each call\'s values in its placeholders\' places, constants kept', async (t) => {
  const db = await notesDb(t)
  const q = new Prepared(['owner', 'from'], byOwner)
  t.same(await q.execute(db, { owner: 7, from: 0 }), [{ id: 1, body: 'a' }])
  t.same(await q.execute(db, { owner: 8, from: 0 }), [{ id: 3, body: 'c' }])
  t.same(await q.executeTakeFirst(db, { owner: 8, from: 4 }), undefined)
  const bound = q.bind(db, { owner: 8, from: 2 })
  const direct = byOwner(db, { owner: 8, from: 2 }).compile()
  t.equal(bound.sql, direct.sql, 'the SQL is the builder\'s own')
  t.same(bound.parameters, [8, 0, 2])
  t.same(q.bind(db, { owner: 7, from: 0 }).parameters, [7, 0, 0], 'each bind starts from the compiled parameters')
  await db.transaction().execute(async (trx) => {
    await trx.updateTable('notes').set({ hidden: 0 }).where('id', '=', 2).execute()
    t.same(await q.execute(trx, { owner: 7, from: 2 }), [{ id: 2, body: 'b' }], 'runs inside a transaction and sees its writes')
  })
})

t.test('a placeholder used twice is filled in both places', async (t) => {
  const db = await notesDb(t)
  const q = new Prepared(['n'], (db: Kysely<Tables>, p: Placeholders<{ n: number }>) =>
    db.selectFrom('notes').select('id').where((eb) => eb.or([eb('id', '=', p.n), eb('owner', '=', p.n)])).orderBy('id'))
  t.same(await q.execute(db, { n: 3 }), [{ id: 3 }])
  t.same(await q.execute(db, { n: 7 }), [{ id: 1 }, { id: 2 }])
})

t.test('a placeholder the builder never used throws at the first compile', async (t) => {
  const db = await notesDb(t)
  const q = new Prepared(['owner', 'from', 'limit'], (db: Kysely<Tables>, p: Placeholders<Owner & { limit: number }>) => byOwner(db, p))
  await t.rejects(q.execute(db, { owner: 7, from: 0, limit: 5 }), { name: 'PlaceholderError' })
  t.throws(() => q.compile(db), /placeholder 'limit' is not among the parameters/)
})

t.test('a placeholder inlined into the SQL or changed on its way throws; none reaches the database', async (t) => {
  const db = await notesDb(t)
  const inlined = new Prepared(['body'], (db: Kysely<Tables>, p: Placeholders<{ body: string }>) =>
    db.selectFrom('notes').select('id').where('body', '=', sql.lit(p.body)))
  t.throws(() => inlined.compile(db), /inlined into the SQL/)
  const changed = new Prepared(['body'], (db: Kysely<Tables>, p: Placeholders<{ body: string }>) =>
    db.selectFrom('notes').select('id').where('body', 'like', `%${p.body}%`))
  t.throws(() => changed.compile(db), /changed before it became a parameter/)
  const q = new Prepared(['owner', 'from'], byOwner)
  t.throws(() => q.bind(db, { owner: 7 } as Owner), /no value for placeholder 'from'/)
})

t.test('a prepared query compiles on PostgreSQL\'s dialect too, to the builder\'s SQL', async (t) => {
  const q = new Prepared(['owner', 'from'], byOwner)
  const pg = pgCompiler as unknown as Kysely<Tables>
  const bound = q.bind(pg, { owner: 5, from: 9 })
  t.match(bound.sql, /"owner" = \$1 and "hidden" = \$2 and "id" >= \$3/)
  const direct = byOwner(pg, { owner: 5, from: 9 }).compile()
  t.same([bound.sql, bound.parameters], [direct.sql, [5, 0, 9]])
})

t.test('shapes by name are bounded: the oldest is dropped past the limit', async (t) => {
  const shapes = new PreparedByShape<Tables, Owner, { id: number, body: string }>(2)
  const make = () => new Prepared(['owner', 'from'], byOwner)
  const a = shapes.get('a', make)
  t.equal(shapes.get('a', make), a, 'the same shape answers the same query')
  shapes.get('b', make)
  shapes.get('c', make)
  t.equal(shapes.size, 2)
  t.not(shapes.get('a', make), a, 'a dropped shape is built again')
})

// Narrows of every shape element: each value differs between the two variants of one shape.
const stream = (id: number, negated = false): NarrowFilter => ({ op: 'stream', streamId: id, negated })
const topic = (key: string, negated = false): NarrowFilter => ({ op: 'topic', topicKey: key, negated })
const sender = (id: number, negated = false): NarrowFilter => ({ op: 'sender', userId: id, negated })
const dm = (groupId: number | null, negated = false): NarrowFilter => ({ op: 'dm', memberKey: '1,2', groupId, negated })
const search = (words: string[] | null, negated = false): NarrowFilter => ({ op: 'search', query: words === null ? null : words.join(' '), negated })

const narrows: Array<[string, (n: number) => NarrowFilter[]]> = [
  ['none', () => []],
  ['stream', (n) => [stream(n)]],
  ['negated stream', (n) => [stream(n, true)]],
  ['stream and topic', (n) => [stream(n), topic(`t${n}`)]],
  ['topic and stream', (n) => [topic(`t${n}`), stream(n)]],
  ['stream and negated topic', (n) => [stream(n), topic(`t${n}`, true)]],
  ['sender', (n) => [sender(n)]],
  ['negated sender', (n) => [sender(n, true)]],
  ['known dm', (n) => [dm(n)]],
  ['unknown dm', () => [dm(null)]],
  ['negated known dm', (n) => [dm(n, true)]],
  ['search', (n) => [search([`a${n}`, 'b'])]],
  ['negated search', (n) => [search([`a${n}`, 'b'], true)]],
  ['everything', (n) => [stream(n), topic('x'), sender(n, true), search(['a', `b${n}`]), dm(n)]]
]
const anchors: Array<[string, (n: number) => Anchor, number, number]> = [
  ['newest', () => 'newest', 50, 0], ['oldest', () => 'oldest', 0, 20], ['an id', (n) => 100 + n, 5, 7]
]

t.test('page queries: one shape is one SQL with different values, and different SQL is a different shape', async (t) => {
  for (const [compilerName, db] of [['SQLite', sqliteCompiler], ['PostgreSQL', pgCompiler]] as const) {
    const sqlByShape = new Map<string, string>()
    const shapeBySql = new Map<string, string>()
    for (const [narrowName, narrow] of narrows) {
      for (const [anchorName, anchor, nb, na] of anchors) {
        const label = `${compilerName}: ${narrowName}, anchor ${anchorName}`
        const shape = pageShape(anchor(1), narrow(1))
        t.equal(pageShape(anchor(2), narrow(2)), shape, `${label}: values do not change the shape`)
        const prepared = preparePage(anchor(1), narrow(1))
        for (const n of [1, 2]) {
          const bound = prepared.bind(db, pageValues(40 + n, anchor(n), nb + n, na + n, narrow(n)))
          const direct = pageQueryOf(db, 40 + n, anchor(n), nb + n, na + n, narrow(n)).compile()
          t.same([bound.sql, bound.parameters], [direct.sql, direct.parameters], `${label}, values ${n}: as built directly`)
        }
        const text = prepared.compile(db).sql
        t.equal(sqlByShape.get(shape) ?? text, text, `${label}: one shape, one SQL`)
        t.equal(shapeBySql.get(text) ?? shape, shape, `${label}: one SQL, one shape`)
        sqlByShape.set(shape, text)
        shapeBySql.set(text, shape)
      }
    }
    t.equal(sqlByShape.size, narrows.length * anchors.length, `${compilerName}: every case here is its own shape`)
  }
  t.equal(pageShape('newest', [search(['a', 'b'])]), pageShape('newest', [search(['a', 'b', 'c'])]), 'a search of 2 words is one full-text query, as one of 3')
  t.not(pageShape('newest', [search(['a'])]), pageShape('newest', [search(null)]), 'a search with words vs one of punctuation only')
  t.not(pageShape('newest', [topic('a')]), pageShape('newest', [topic('a', true)]), 'a negated term')
})
