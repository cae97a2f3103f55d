// Rows of a better-sqlite3 reader statement as plain objects, built in JavaScript from raw arrays.
import type SQLite from 'better-sqlite3'
import type { SqliteStatement } from 'kysely'

/**
 * `row => ({ "a": row[0], "b": row[1], … })` for one statement's column names: an object
 * literal gets its final shape at once, where adding the properties one by one in a loop
 * walks V8's shape transitions for every row (51 rows of 18 columns: ~22 → ~2 µs). The
 * names come from the statement's SQL and are written into the generated source as JSON
 * strings, so no name can break out of its key. An object literal keeps a duplicated key
 * at its first position with the last value, as assigning in a loop does.
 */
export function rowBuilder (names: string[]): (row: unknown[]) => Record<string, unknown> {
  if (names.includes('__proto__')) {
    // A literal would make that key the prototype; assigned, it behaves as better-sqlite3's own rows do.
    return (row) => {
      const o: Record<string, unknown> = {}
      for (let i = 0; i < names.length; i++) o[names[i] as string] = row[i]
      return o
    }
  }
  const fields = names.map((name, i) => `${JSON.stringify(name)}: row[${i}]`).join(', ')
  // Generating the function is the point (as fast-json-stringify does for serializers);
  // its source holds only JSON-escaped column names and indexes.
  // eslint-disable-next-line no-new-func
  return new Function('row', `return { ${fields} }`) as (row: unknown[]) => Record<string, unknown>
}

/**
 * better-sqlite3 builds each row object through V8's C++ API, one property at a time;
 * asking for arrays (`raw`) and building the objects here, where every row of a
 * statement has the same shape, costs about 40 % less for a page of messages
 * (docs/performance.md). Same objects: column names as keys, in order, a later
 * duplicate name winning as it does natively. Writers are returned untouched.
 */
export function objectRows (statement: SQLite.Statement): SqliteStatement {
  if (!statement.reader) return statement as unknown as SqliteStatement
  const raw = statement.raw(true)
  const toObject = rowBuilder(statement.columns().map((c) => c.name))
  return {
    reader: true,
    all: (parameters) => (raw.all(parameters) as unknown[][]).map(toObject),
    run: (parameters) => raw.run(parameters),
    iterate: function * (parameters) {
      for (const row of raw.iterate(parameters) as IterableIterator<unknown[]>) yield toObject(row)
    }
  }
}
