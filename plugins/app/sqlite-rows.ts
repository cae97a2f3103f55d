// Rows of a better-sqlite3 reader statement as plain objects, built in JavaScript from raw arrays.
import type SQLite from 'better-sqlite3'
import type { SqliteStatement } from 'kysely'

/**
 * better-sqlite3 builds each row object through V8's C++ API, one property at a time;
 * asking for arrays (`raw`) and building the objects here, where every row of a
 * statement has the same shape, costs about 40 % less for a page of messages
 * (docs/performance.md). Same objects: column names as keys, in order, a later
 * duplicate name winning as it does natively. Writers are returned untouched.
 */
export function objectRows (statement: SQLite.Statement): SqliteStatement {
  if (!statement.reader) return statement as unknown as SqliteStatement
  const names = statement.columns().map((c) => c.name)
  const raw = statement.raw(true)
  const toObject = (row: unknown[]): Record<string, unknown> => {
    const o: Record<string, unknown> = {}
    for (let i = 0; i < names.length; i++) o[names[i] as string] = row[i]
    return o
  }
  return {
    reader: true,
    all: (parameters) => (raw.all(parameters) as unknown[][]).map(toObject),
    run: (parameters) => raw.run(parameters),
    iterate: function * (parameters) {
      for (const row of raw.iterate(parameters) as IterableIterator<unknown[]>) yield toObject(row)
    }
  }
}
