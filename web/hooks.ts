// Re-renders a component whenever the store changes.
import { useEffect, useState } from 'preact/hooks'
import type { Store } from './store'

export function useStore (store: Store): number {
  const [version, setVersion] = useState(store.version)
  useEffect(() => store.subscribe(() => { setVersion(store.version) }), [store])
  return version
}

/** A value that ticks every `ms` (for presence ageing and relative times). */
export function useTick (ms: number): number {
  const [tick, setTick] = useState(0)
  useEffect(() => {
    const timer = setInterval(() => { setTick((n) => n + 1) }, ms)
    return () => { clearInterval(timer) }
  }, [ms])
  return tick
}
