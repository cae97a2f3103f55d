// Column helpers that differ by dialect, so migrations stay portable.
import { SqliteAdapter, type ColumnDefinitionBuilder, type Kysely } from 'kysely'

/** An auto-numbered integer primary key: INTEGER PRIMARY KEY AUTOINCREMENT on SQLite, identity elsewhere. */
export function idColumn (db: Kysely<any>): (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter
  return sqlite
    ? (c) => c.primaryKey().autoIncrement()
    : (c) => c.primaryKey().generatedByDefaultAsIdentity()
}
