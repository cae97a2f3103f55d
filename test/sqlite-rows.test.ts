// objectRows: raw rows made into objects answer exactly what better-sqlite3 answers natively.
import t from 'tap'
import SQLite from 'better-sqlite3'
import { objectRows } from '../plugins/app/db/sqlite-rows.js'

function fixture (): SQLite.Database {
  const db = new SQLite(':memory:')
  db.exec(`create table a (id integer primary key, name text, note text);
    create table b (id integer primary key, a_id integer, name text);
    insert into a values (1, 'one', null), (2, 'two', 'x');
    insert into b values (10, 1, 'b-one'), (11, 2, 'b-two'), (12, 2, 'b-two-again');`)
  return db
}

t.test('a join with aliases, nulls and a duplicated column name gives the same objects as native rows', async (t) => {
  const db = fixture()
  const sql = 'select a.id, a.name, a.note, b.name as b_name, b.id from a join b on b.a_id = a.id where a.id >= ? order by b.id'
  const native = db.prepare(sql).all([1])
  const ours = objectRows(db.prepare(sql)).all([1])
  t.same(ours, native)
  t.same(ours.map((r) => Object.keys(r as object)), native.map((r) => Object.keys(r as object)), 'same keys in the same order')
  t.equal(ours.length, 3)
  t.match(ours[0], { id: 10, name: 'one', note: null, b_name: 'b-one' }, 'the later duplicate wins, as natively')
})

t.test('iterate yields the same objects as all', async (t) => {
  const db = fixture()
  const statement = objectRows(db.prepare('select id, name from a order by id'))
  t.same([...statement.iterate([])], statement.all([]))
  t.same(statement.all([]), [{ id: 1, name: 'one' }, { id: 2, name: 'two' }])
})

t.test('INSERT … RETURNING is a reader: its returned row comes back as an object', async (t) => {
  const db = fixture()
  const statement = objectRows(db.prepare('insert into a (name) values (?) returning id, name'))
  t.ok(statement.reader)
  t.same(statement.all(['three']), [{ id: 3, name: 'three' }])
})

t.test('a writer statement is left as it is', async (t) => {
  const db = fixture()
  const native = db.prepare('update a set note = ? where id = ?')
  const ours = objectRows(native)
  t.equal(ours as unknown, native as unknown)
  t.equal(ours.reader, false)
  t.match(ours.run(['y', 1]), { changes: 1 })
})

t.test('odd column names (quotes, backslashes, __proto__) come back as better-sqlite3 gives them', async (t) => {
  const db = new SQLite(':memory:')
  const sql = 'select 1 as "a""b", 2 as "c\\d", 3 as "__proto__", 4 as "constructor", 5 as "x y"'
  const native = db.prepare(sql).get() as Record<string, unknown>
  const ours = objectRows(db.prepare(sql)).all([])[0] as Record<string, unknown>
  t.same(Object.entries(ours), Object.entries(native))
  t.equal(Object.getPrototypeOf(ours), Object.prototype, 'the prototype is untouched')
  const plain = 'select 1 as "a""b", 2 as "c\\d", 4 as "constructor"'
  t.same(Object.entries(objectRows(db.prepare(plain)).all([])[0] as object), Object.entries(db.prepare(plain).get() as object), 'and through the literal builder')
})
