// Column helpers that differ by dialect, so migrations stay portable.
import { SqliteAdapter, type ColumnDefinitionBuilder, type Kysely } from 'kysely'

/**
 * The type of every integer column (ids, references, times, counts, flags): SQLite's `integer`
 * holds 64 bits; PostgreSQL's holds 32, so there it is `bigint`. Any id a client can send in
 * JSON (up to 2^53) then compares as it does on SQLite instead of failing the query, and times
 * outlive 2038. pg answers bigint as a string; plugins/app/db/postgres.ts parses it as a number.
 */
export function int (db: Kysely<any>): 'integer' | 'bigint' {
  return db.getExecutor().adapter instanceof SqliteAdapter ? 'integer' : 'bigint'
}

/** An auto-numbered integer primary key: INTEGER PRIMARY KEY AUTOINCREMENT on SQLite, identity elsewhere. */
export function idColumn (db: Kysely<any>): (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter
  return sqlite
    ? (c) => c.primaryKey().autoIncrement()
    : (c) => c.primaryKey().generatedByDefaultAsIdentity()
}
