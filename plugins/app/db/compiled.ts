// Hot queries built and compiled once, then run again with new values: kysely's building and
// compiling cost more than SQLite running most of them (docs/performance.md).
import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely'
import { BoundedMap } from '../bounded-map.js'

/**
 * What a placeholder is while the query is built: a string no caller sends as a value of its own
 * (it starts with NUL), so each one is found again among the compiled parameters by equality.
 */
const MARK = '\u0000parley-placeholder:'

export type Values = Record<string, unknown>

/** The placeholders handed to a builder, each typed as the value it stands for. */
export type Placeholders<V extends Values> = { readonly [K in keyof V]: V[K] }

export class PlaceholderError extends Error {
  override name = 'PlaceholderError'
}

/**
 * A query built once, on its first run, with a placeholder for every named value, then compiled
 * once. Each run copies the compiled parameters and puts the values in the placeholders' places,
 * so the SQL is exactly what the builder makes, on any dialect, and only the values differ.
 */
export class Prepared<D, V extends Values, O> {
  private compiled: CompiledQuery<O> | undefined
  /** Positions in `parameters` and the names of the values that go there. */
  private slots: Array<[number, keyof V & string]> = []

  constructor (
    private readonly names: ReadonlyArray<keyof V & string>,
    private readonly build: (db: Kysely<D>, p: Placeholders<V>) => Compilable<O>
  ) {}

  /** The compiled query, built with `db` on first use; throws when a placeholder did not become a parameter. */
  compile (db: Kysely<D>): CompiledQuery<O> {
    if (this.compiled !== undefined) return this.compiled
    const p: Values = {}
    for (const name of this.names) p[name] = MARK + name
    const compiled = this.build(db, p as Placeholders<V>).compile()
    if (compiled.sql.includes(MARK)) throw new PlaceholderError(`a placeholder was inlined into the SQL: ${compiled.sql}`)
    const slots: Array<[number, keyof V & string]> = []
    compiled.parameters.forEach((value, i) => {
      if (typeof value !== 'string' || !value.includes(MARK)) return
      const name = value.slice(MARK.length)
      // A placeholder that was transformed (escaped, lower-cased, concatenated) would reach the database as text.
      if (!value.startsWith(MARK) || !this.names.includes(name)) throw new PlaceholderError(`a placeholder was changed before it became a parameter: ${JSON.stringify(value)}`)
      slots.push([i, name])
    })
    for (const name of this.names) {
      if (!slots.some(([, n]) => n === name)) throw new PlaceholderError(`placeholder '${name}' is not among the parameters of: ${compiled.sql}`)
    }
    this.slots = slots
    this.compiled = compiled
    return compiled
  }

  /** The compiled query with these values in the placeholders' places; every name must have a value. */
  bind (db: Kysely<D>, values: V): CompiledQuery<O> {
    const compiled = this.compile(db)
    const parameters = compiled.parameters.slice()
    for (const [i, name] of this.slots) {
      const value = values[name]
      if (value === undefined) throw new PlaceholderError(`no value for placeholder '${name}'`)
      parameters[i] = value
    }
    return { query: compiled.query, queryId: compiled.queryId, sql: compiled.sql, parameters }
  }

  /** Runs the query on `db` (the database or a transaction) with these values. */
  async execute (db: Kysely<D>, values: V): Promise<O[]> {
    const result: QueryResult<O> = await db.executeQuery(this.bind(db, values))
    return result.rows
  }

  async executeTakeFirst (db: Kysely<D>, values: V): Promise<O | undefined> {
    return (await this.execute(db, values))[0]
  }
}

/**
 * Prepared queries by shape (what changes the SQL, not the values), bounded: a client choosing
 * many shapes (say, searches of ever more words) costs compilations, never unbounded memory.
 */
export class PreparedByShape<D, V extends Values, O> {
  private readonly map: BoundedMap<string, Prepared<D, V, O>>

  constructor (max = 200) {
    this.map = new BoundedMap(max)
  }

  get (shape: string, make: () => Prepared<D, V, O>): Prepared<D, V, O> {
    let prepared = this.map.get(shape)
    if (prepared === undefined) {
      prepared = make()
      this.map.set(shape, prepared)
    }
    return prepared
  }

  get size (): number { return this.map.size }
}
