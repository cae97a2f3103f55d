// Entry point: reads the page's bootstrap JSON, sets up the language, starts the store
// (register + first page + long-poll) and renders the app into #app.
import { render } from 'preact'
import { App } from './app'
import { Store } from './store'
import { background } from './api'
import { setupI18n } from './i18n'
import { hashToNarrow, narrowKey } from './narrow'
import type { Bootstrap } from './types'

function readBootstrap (): Bootstrap {
  const el = document.getElementById('parley-bootstrap')
  return JSON.parse(el?.textContent ?? '{}') as Bootstrap
}

const boot = readBootstrap()
setupI18n(boot.language ?? 'en', boot.translations)
const store = new Store(boot, hashToNarrow(location.hash))
const root = document.getElementById('app')
if (root !== null) {
  root.textContent = ''
  render(<App store={store} />, root)
}

window.addEventListener('hashchange', () => {
  const narrow = hashToNarrow(location.hash)
  if (narrowKey(narrow) !== store.view.key) background(store.loadView(narrow))
})

store.start().catch((err: unknown) => { console.error('Parley could not start', err) })

// For tests and the curious: the store, read-only by convention.
;(window as unknown as { parley: Store }).parley = store
