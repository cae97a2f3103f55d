// SQLite reads a `search` page through FTS5 in rowid order (plugins/app/stores/message-query.ts,
// docs/decisions.md 48): the pages, their order and their anchors are exactly those of the plain
// condition `id IN (select rowid from messages_fts …)` (narrowWhere), for every anchor and narrow.
import t from 'tap'
import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { migrate, type Database } from '../plugins/app/db/db.js'
import { narrowWhere, searchFilter, type NarrowFilter } from '../plugins/app/stores/narrow.js'
import { firstUnreadValues, pageQueryOf, prepareFirstUnread, preparePage, pageValues, type Anchor } from '../plugins/app/stores/message-query.js'
import { searchText } from '../plugins/app/stores/search.js'

const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) })
t.teardown(async () => { await db.destroy() })
await migrate(db)
for (const [email, name] of [['a@example.com', 'A'], ['b@example.com', 'B']]) {
  await db.insertInto('users').values({ email: email as string, email_key: email as string, full_name: name as string, role: 'owner', is_bot: 0, bot_type: null, bot_owner_id: null, is_active: 1, date_joined: 0, api_key: name as string, password_hash: null, webhook_secret: null }).execute()
}
for (const name of ['big', 'small']) {
  await db.insertInto('streams').values({ name, name_key: name, description: '', invite_only: 0, is_archived: 0, date_created: 0 }).execute()
}
// 300 messages: "common" in all but every 7th, "rare" in every 40th, "word" starting "commonplace" in every 11th;
// the small stream holds the 20 oldest and every 50th; B sends every 3rd.
const WORDS = ['alpha', 'beta', 'gamma']
for (let i = 0; i < 300; i++) {
  const text = `${i % 7 === 0 ? '' : 'common '}${WORDS[i % 3] as string}${i % 40 === 0 ? ' rare' : ''}${i % 11 === 0 ? ' commonplace' : ''} n${i}`
  const topic = `t${i % 4}`
  await db.insertInto('messages').values({
    sender_id: i % 3 === 0 ? 2 : 1,
    type: 'stream',
    stream_id: i < 20 || i % 50 === 0 ? 2 : 1,
    dm_group_id: null,
    topic,
    topic_key: topic,
    content: text,
    content_markdown: text,
    search_text: searchText(topic, text),
    timestamp: 0,
    last_edit_timestamp: null,
    client: 'test'
  }).execute()
}
// Some ids deleted: anchors on ids that no longer exist.
await db.deleteFrom('messages').where('id', 'in', [150, 151, 299]).execute()

const search = (operand: string, negated = false): NarrowFilter => searchFilter(operand, true, negated) as NarrowFilter
const NARROWS: Array<[string, NarrowFilter[]]> = [
  ['common', [search('common')]],
  ['comm (a prefix)', [search('comm')]],
  ['rare', [search('rare')]],
  ['common alpha', [search('common alpha')]],
  ['stream small + common', [{ op: 'stream', streamId: 2, negated: false }, search('common')]],
  ['common + stream big + topic t1', [search('common'), { op: 'stream', streamId: 1, negated: false }, { op: 'topic', topicKey: 't1', negated: false }]],
  ['sender B + alpha', [{ op: 'sender', userId: 2, negated: false }, search('alpha')]],
  ['not rare + common', [search('rare', true), search('common')]],
  ['common + beta (two terms)', [search('common'), search('beta')]],
  ['nothing matches', [search('absent')]]
]
const ANCHORS: Anchor[] = ['newest', 'oldest', 1, 2, 7, 8, 100, 150, 151, 152, 298, 299, 300, 301, 10_000]
const SIZES: Array<[number, number]> = [[0, 0], [1, 0], [5, 5], [50, 0], [400, 400]]

/** The page the plain condition gives: the rows of each side, in the order the page query returns them (older side newest first). */
function expected (all: number[], anchor: Anchor, before: number, after: number): number[] {
  const b = anchor === 'oldest' ? [] : all.filter((id) => anchor === 'newest' || id < anchor).reverse().slice(0, before + 1)
  const a = anchor === 'newest' ? [] : all.filter((id) => anchor === 'oldest' || id >= anchor).slice(0, after + 2)
  return [...b, ...a]
}

t.test('FTS5 in rowid order gives the same pages as the id IN (…) condition: every anchor, size and narrow', async (t) => {
  let compared = 0
  for (const [name, filters] of NARROWS) {
    const all = (await db.selectFrom('messages').select('id').where(narrowWhere(filters, true)).orderBy('id').execute()).map((r) => r.id)
    if (name !== 'nothing matches') t.ok(all.length > 0, `${name}: matches ${all.length}`)
    for (const anchor of ANCHORS) {
      for (const [before, after] of SIZES) {
        const direct = (await db.executeQuery(pageQueryOf(db, 1, anchor, before, after, filters).compile())).rows.map((r) => (r as { id: number }).id)
        const prepared = (await preparePage(anchor, filters).execute(db, pageValues(1, anchor, before, after, filters))).map((r) => r.id)
        const want = expected(all, anchor, before, after)
        if (JSON.stringify(direct) !== JSON.stringify(want) || JSON.stringify(prepared) !== JSON.stringify(want)) {
          t.same({ direct, prepared }, { direct: want, prepared: want }, `${name}, anchor ${String(anchor)}, ${before}/${after}`)
        }
        compared++
      }
    }
  }
  t.equal(compared, NARROWS.length * ANCHORS.length * SIZES.length, 'every page compared (mismatches fail above)')
})

t.test('the page is read from FTS5 in rowid order with its limit: no list of every match, no sort', async (t) => {
  for (const anchor of ['newest', 'oldest', 100, 'first_unread'] as const) {
    const page = anchor === 'first_unread'
      ? prepareFirstUnread([search('common')]).bind(db, firstUnreadValues(1, [search('common')]))
      : pageQueryOf(db, 1, anchor, 50, 50, [search('common')]).compile()
    const plan = (await db.executeQuery({ ...page, sql: `explain query plan ${page.sql}` })).rows as Array<{ id: number, parent: number, detail: string }>
    const what = `${anchor}: ${plan.map((r) => r.detail).join(' | ')}`
    const scans = plan.filter((r) => /^SCAN messages_fts VIRTUAL TABLE INDEX \d+:M/.test(r.detail))
    t.equal(scans.length, anchor === 100 ? 2 : 1, `FTS5 read once a side: ${what}`)
    for (const scan of scans) {
      t.notMatch(plan.find((r) => r.id === scan.parent)?.detail ?? '', /LIST SUBQUERY/, `not collected into a list first: ${what}`)
    }
    t.notOk(plan.some((r) => r.detail.includes('USE TEMP B-TREE FOR ORDER BY')), `no sort: ${what}`)
    t.ok(plan.some((r) => /^SEARCH messages USING INTEGER PRIMARY KEY/.test(r.detail)), `messages read by id: ${what}`)
  }
})

t.test('first_unread of a search: the oldest unread match from the floor on, as the id IN (…) condition finds it', async (t) => {
  const unread = [5, 6, 12, 77, 152, 200, 280]
  await db.insertInto('unread').values(unread.map((id) => ({ message_id: id, user_id: 1 }))).execute()
  t.teardown(async () => { await db.deleteFrom('unread').execute(); await db.deleteFrom('unread_floors').execute() })
  for (const floor of [1, 6, 13, 201, 290]) {
    await db.deleteFrom('unread_floors').execute()
    await db.insertInto('unread_floors').values({ user_id: 1, stream_id: 1, dm_group_id: 0, floor }).execute()
    for (const [name, filters] of NARROWS) {
      const all = (await db.selectFrom('messages').select('id').where(narrowWhere(filters, true)).orderBy('id').execute()).map((r) => r.id)
      const want = all.find((id) => id >= floor && unread.includes(id))
      const got = (await prepareFirstUnread(filters).executeTakeFirst(db, firstUnreadValues(1, filters)))?.id
      t.equal(got, want, `${name}, floor ${floor}`)
    }
  }
})
