// The `search` narrow through the app: word-prefix matching in the full-text index, FTS syntax taken
// as text, Chinese, negation, other narrows and anchors, edits and deletes, and live events agreeing.
import t, { type Test } from 'tap'
import { sql } from 'kysely'
import type { FastifyInstance } from 'fastify'
import { isSqlite } from '../plugins/app/stores/narrow.js'
import { body, build, type TestUser } from './helper.js'

async function call (app: FastifyInstance, who: TestUser, method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', url: string, form?: Record<string, string>) {
  const res = await app.inject({
    method,
    url: `/api/v1${url}`,
    headers: { authorization: who.auth, ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
    ...(form === undefined ? {} : { payload: new URLSearchParams(form).toString() })
  })
  return { status: res.statusCode, headers: res.headers, body: body(res) }
}

async function send (app: FastifyInstance, who: TestUser, to: string, topic: string, content: string): Promise<number> {
  const res = await call(app, who, 'POST', '/messages', { type: 'stream', to, topic, content })
  if (res.status !== 200) throw new Error(JSON.stringify(res.body))
  return res.body.data.id
}

/** The ids GET /messages answers for a narrow, oldest first; fails the test on anything but 200. */
async function found (t: Test, app: FastifyInstance, who: TestUser, narrow: unknown[], anchor = 'newest', before = 100, after = 100): Promise<number[]> {
  const query = new URLSearchParams({ anchor, num_before: String(before), num_after: String(after), narrow: JSON.stringify(narrow) })
  const res = await call(app, who, 'GET', `/messages?${query.toString()}`)
  t.equal(res.status, 200, `${JSON.stringify(narrow)} answers 200`)
  t.match(res.headers['content-type'], 'application/json')
  t.equal(res.body.result, 'success')
  return res.body.data.messages.map((m: { id: number }) => m.id)
}

const search = (operand: string, negated = false): unknown => ({ operator: 'search', operand, negated })

/**
 * Throws unless the index holds exactly the rows of messages: SQLite's own FTS5 integrity-check
 * (external content), or on PostgreSQL every stored tsvector against its text parsed again.
 */
async function checkIndex (app: FastifyInstance): Promise<void> {
  if (isSqlite(app.db)) {
    await sql`insert into messages_fts(messages_fts, rank) values ('integrity-check', 1)`.execute(app.db)
    return
  }
  const r = await sql<{ n: number }>`select count(*)::int as n from messages where search_tsv is distinct from to_tsvector('simple', search_text)`.execute(app.db)
  if (r.rows[0]?.n !== 0) throw new Error(`${String(r.rows[0]?.n)} rows with a stale tsvector`)
}

t.test('search matches whole words and word prefixes in topic and source, every word, any case or accent', async (t) => {
  const { app, owner } = await build(t)
  await call(app, owner, 'PUT', '/streams', { name: 'general' })
  const pizza = await send(app, owner, 'general', 'Lunch plans', 'Pizza at the Café tonight?')
  const pasta = await send(app, owner, 'general', 'dinner', 'Pasta, not pizzeria food')
  const mail = await send(app, owner, 'general', 'ops', 'mail bob@example.com about v2.5-beta')
  t.same(await found(t, app, owner, [search('pizza')]), [pizza])
  t.same(await found(t, app, owner, [search('PIZ')]), [pizza, pasta], 'a word prefix, in any case')
  t.same(await found(t, app, owner, [search('izza')]), [], 'inside a word is not a match: search finds words, not substrings')
  t.same(await found(t, app, owner, [search('cafe TONIGHT lunch')]), [pizza], 'every word, accents ignored, the topic included')
  t.same(await found(t, app, owner, [search('pizza dinner')]), [], 'one word missing is no match')
  t.same(await found(t, app, owner, [search('example.com')]), [mail], 'punctuation in a word: its parts in a row')
  t.same(await found(t, app, owner, [search('bob@exam v2.5-b')]), [mail])
  t.same(await found(t, app, owner, [search('com.example')]), [], 'the parts in another order are no match')
  t.same(await found(t, app, owner, [search('   ')]), [pizza, pasta, mail], 'a blank operand searches nothing away')
})

t.test('search operands are text: FTS and tsquery syntax never errors and matches only as words', async (t) => {
  const { app, owner } = await build(t)
  await call(app, owner, 'PUT', '/streams', { name: 'general' })
  const plain = await send(app, owner, 'general', 't', 'apples and oranges')
  const syntax = await send(app, owner, 'general', 't', 'near or not: a&b !c "quoted" col:value')
  for (const operand of ['"', '""', '*', '"apples', 'apples"*', '-apples', 'NOT', '(', ')', '^', '\'', '\\', ':', '&', '!', '|', '<->', ':*', '!!!', '%', '_', '\u0000']) {
    t.same(await found(t, app, owner, [search(operand)]), operand === 'NOT' ? [syntax] : operand.includes('apples') ? [plain] : [], `search ${JSON.stringify(operand)}`)
  }
  t.same(await found(t, app, owner, [search('apples OR pears')]), [], 'OR is a word to find, not an operator')
  t.same(await found(t, app, owner, [search('NEAR(apples oranges)')]), [], 'NEAR is a word too')
  t.same(await found(t, app, owner, [search('apples or')]), [plain], '"or" as a word, here the prefix of oranges')
  t.same(await found(t, app, owner, [search('a&b !c "quoted" col:value')]), [syntax], 'operators of either engine are punctuation between words')
  t.same(await found(t, app, owner, [search('!!!', true)]), [plain, syntax], 'a search with no word matches nothing, so its negation everything')
})

t.test('Chinese is searched by characters: a phrase anywhere in a run of text', async (t) => {
  const { app, owner } = await build(t)
  await call(app, owner, 'PUT', '/streams', { name: 'general' })
  const zh = await send(app, owner, 'general', '午饭', '我们今天去吃饭吧，好吗？')
  const ja = await send(app, owner, 'general', 'jp', '東京でラーメンを食べました')
  t.same(await found(t, app, owner, [search('吃饭')]), [zh], 'a word inside an unspaced sentence')
  t.same(await found(t, app, owner, [search('午饭 今天')]), [zh], 'the topic, and every word')
  t.same(await found(t, app, owner, [search('去饭')]), [], 'characters not side by side are no match')
  t.same(await found(t, app, owner, [search('ラーメン')]), [ja], 'Japanese kana and kanji alike')
})

t.test('search combines with other narrows, negation and every anchor', async (t) => {
  const { app, owner, createUser } = await build(t)
  await call(app, owner, 'PUT', '/streams', { name: 'general' })
  await call(app, owner, 'PUT', '/streams', { name: 'random' })
  const ids: number[] = []
  for (let i = 0; i < 8; i++) ids.push(await send(app, owner, i % 2 === 0 ? 'general' : 'random', i < 4 ? 'alpha' : 'beta', `deploy ${i % 3 === 0 ? 'failed' : 'passed'} run${i}`))
  const idx = (...is: number[]): number[] => is.map((i) => ids[i] as number)
  t.same(await found(t, app, owner, [search('failed')]), idx(0, 3, 6))
  t.same(await found(t, app, owner, [search('failed', true)]), idx(1, 2, 4, 5, 7), 'negated: every message without the word')
  t.same(await found(t, app, owner, [['stream', 'general'], search('failed')]), idx(0, 6))
  t.same(await found(t, app, owner, [['stream', 'general'], ['topic', 'beta'], search('deploy')]), idx(4, 6))
  t.same(await found(t, app, owner, [['stream', 'random'], search('failed', true), search('run')]), idx(1, 5, 7))
  t.same(await found(t, app, owner, [search('deploy')], 'oldest', 0, 2), idx(0, 1), 'anchor oldest')
  t.same(await found(t, app, owner, [search('deploy')], 'newest', 2, 0), idx(6, 7), 'anchor newest')
  t.same(await found(t, app, owner, [search('passed')], String(ids[4]), 1, 2), idx(2, 4, 5, 7), 'an anchor id that matches')
  t.same(await found(t, app, owner, [search('failed')], String(ids[4]), 1, 1), idx(3, 6), 'an anchor id that does not')
  t.same(await found(t, app, owner, [search('failed')], 'first_unread', 1, 1), idx(6), 'first_unread with nothing unread is newest')
  const bob = await createUser('bob@example.com')
  const unread = await send(app, bob, 'general', 'gamma', 'deploy failed again')
  await send(app, bob, 'general', 'gamma', 'deploy passed again')
  t.same(await found(t, app, owner, [search('failed again')], 'first_unread', 0, 5), [unread], 'first_unread: the oldest unread message the search finds')
})

t.test('edits and deletes keep the index right', async (t) => {
  const { app, owner } = await build(t)
  await call(app, owner, 'PUT', '/streams', { name: 'general' })
  const a = await send(app, owner, 'general', 'weather', 'sunny morning')
  const b = await send(app, owner, 'general', 'weather', 'sunny evening')
  t.equal((await call(app, owner, 'PATCH', `/messages/${a}`, { content: 'rainy morning' })).status, 200)
  t.same(await found(t, app, owner, [search('sunny')]), [b], 'the old words of an edited message are gone')
  t.same(await found(t, app, owner, [search('rainy')]), [a], 'its new words are found')
  t.equal((await call(app, owner, 'PATCH', `/messages/${b}`, { topic: 'climate' })).status, 200)
  t.same(await found(t, app, owner, [search('climate')]), [b], 'a new topic is found')
  t.same(await found(t, app, owner, [search('weather')]), [a], 'the old topic is not')
  t.equal((await call(app, owner, 'DELETE', `/messages/${a}`)).status, 200)
  t.same(await found(t, app, owner, [search('morning')]), [], 'a deleted message is not found')
  await t.resolves(checkIndex(app), 'the index holds exactly the rows of messages')
})

t.test('a queue narrowed by search receives the messages GET /messages finds for it', async (t) => {
  const { app, owner } = await build(t)
  await call(app, owner, 'PUT', '/streams', { name: 'general' })
  const operands = ['piz', 'pizza tonight', 'izza', '吃饭', 'café', 'example.com', '"OR"', '!!!', 'TONIGHT!']
  const queues = new Map<string, string>()
  for (const operand of operands) {
    const r = await call(app, owner, 'POST', '/register', { event_types: JSON.stringify(['message']), narrow: JSON.stringify([['search', operand]]) })
    t.equal(r.status, 200)
    queues.set(operand, r.body.data.queue_id)
  }
  for (const [topic, content] of [['lunch', 'Pizza tonight?'], ['or else', 'pizzeria'], ['x', '我们去吃饭吧'], ['y', 'CAFE at example.com'], ['z', 'izza']]) {
    await send(app, owner, 'general', topic as string, content as string)
  }
  for (const operand of operands) {
    const r = await call(app, owner, 'GET', `/events?queue_id=${queues.get(operand) as string}&last_event_id=-1&dont_block=true`)
    t.equal(r.status, 200)
    const live = r.body.data.events.filter((e: { type: string }) => e.type === 'message').map((e: { message: { id: number } }) => e.message.id)
    t.same(live, await found(t, app, owner, [search(operand)]), `search ${JSON.stringify(operand)}: the same messages live and stored`)
  }
})
