// The one bound every memo cache of the server uses: statements, compiled queries, decoded
// headers, parsed User-Agents, credential look-ups, rate-limit keys.

/**
 * A Map holding at most `max` entries: adding a new key when full drops the oldest one.
 * For caches whose keys clients choose, so that many distinct keys cost recomputation,
 * never unbounded memory.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor (readonly max: number) {
    super()
  }

  override set (key: K, value: V): this {
    if (this.size >= this.max && !this.has(key)) this.delete(this.keys().next().value as K)
    return super.set(key, value)
  }
}
