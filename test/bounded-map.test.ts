// BoundedMap, the bound of every memo cache: at most `max` entries, the oldest dropped first.
import t from 'tap'
import { BoundedMap } from '../plugins/app/bounded-map.js'

t.test('a new key past the bound drops the oldest; setting a present key drops nothing', async (t) => {
  const m = new BoundedMap<string, number>(3)
  m.set('a', 1).set('b', 2).set('c', 3)
  m.set('b', 20)
  t.same([...m], [['a', 1], ['b', 20], ['c', 3]], 'a present key is updated in place')
  m.set('d', 4)
  t.same([...m], [['b', 20], ['c', 3], ['d', 4]], 'the oldest key went')
  t.equal(m.size, 3)
  m.clear()
  t.equal(m.size, 0)
})
