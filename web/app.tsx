// The web app's frame: the top bar (menu button on phones, search, language, logout),
// the sidebar, and the current narrow's messages with its typing line and compose box.
import { useEffect, useRef, useState } from 'preact/hooks'
import type { Store } from './store'
import { useStore, useTick } from './hooks'
import { Sidebar } from './sidebar'
import { MessageList } from './message-list'
import { Compose } from './compose'
import { dmKey, narrowKey, narrowToHash } from './narrow'
import { currentLanguage, t } from './i18n'
import { api } from './api'
import { StreamMark } from './icons'
import { BotsPanel } from './bots'

/** The hash of the Bots panel (linked from /integrations). */
const BOTS_HASH = '#bots'

function Title ({ store }: { store: Store }) {
  const n = store.view.narrow
  const stream = n.kind === 'stream' || n.kind === 'topic' ? store.subs.find((s) => s.stream_id === n.streamId) : undefined
  switch (n.kind) {
    case 'all': return <h1 class='narrow-title'>{t('sidebar.all_messages')}</h1>
    case 'stream': return (
      <h1 class='narrow-title'>
        <StreamMark private={stream?.invite_only === true} />{stream?.name ?? '?'}
        {stream !== undefined && stream.description !== '' && <span class='narrow-sub'>{stream.description}</span>}
      </h1>
    )
    case 'topic': return (
      <h1 class='narrow-title'>
        <a href={narrowToHash({ kind: 'stream', streamId: n.streamId })}><StreamMark private={stream?.invite_only === true} />{stream?.name ?? '?'}</a>
        <span class='narrow-sep'>›</span>{n.topic}
      </h1>
    )
    case 'dm': return (
      <h1 class='narrow-title'>
        {n.userIds.map((id) => id === store.me.user_id ? store.me.full_name : store.users.get(id)?.full_name ?? '?').join(', ')}
      </h1>
    )
    case 'search': return <h1 class='narrow-title'>{t('search.results_for', { query: n.query })}</h1>
  }
}

function TypingLine ({ store }: { store: Store }) {
  const n = store.view.narrow
  const key = n.kind === 'dm' ? dmKey(n.userIds) : n.kind === 'topic' ? narrowKey(n) : null
  const names = key === null ? [] : store.typingIn(key)
  return (
    <div class='typing' aria-live='polite'>
      {names.length === 1 && t('typing.one', { name: names[0] ?? '' })}
      {names.length > 1 && t('typing.many', { names: names.join(', ') })}
    </div>
  )
}

function switchLanguage (code: string): void {
  // The cookie the pages read (B's POST /language sets the same one); a language prefix in the path would win, so drop it.
  document.cookie = `parley_language=${encodeURIComponent(code)}; path=/; max-age=31536000; samesite=lax`
  location.reload()
}

/** Who is signed in, the language switcher and logout: in the top bar, or at the foot of the sidebar on phones. */
function Account ({ store, where }: { store: Store, where: string }) {
  const me = store.me
  return (
    <div class={where}>
      <select
        class='language' aria-label={t('topbar.language')} value={currentLanguage()}
        onChange={(e) => { switchLanguage((e.target as HTMLSelectElement).value) }}
      >
        {me.languages.map((l) => <option key={l.code} value={l.code}>{l.name}</option>)}
      </select>
      <span class='me' title={me.email}>
        <span class={`presence presence-${store.presenceOf(me.user_id)}`} />
        <span class='me-name'>{me.full_name}</span>
      </span>
      <form class='logout' method='post' action='/logout'>
        <input type='hidden' name='csrf_token' value={api.csrfToken()} />
        <button type='submit' class='link-button'>{t('topbar.logout')}</button>
      </form>
    </div>
  )
}

export function App ({ store }: { store: Store }) {
  useStore(store)
  useTick(30_000)
  const [menuOpen, setMenuOpen] = useState(false)
  const [query, setQuery] = useState(store.view.narrow.kind === 'search' ? store.view.narrow.query : '')
  const me = store.me
  const [bots, setBots] = useState(location.hash === BOTS_HASH)
  const pushed = useRef(false)

  useEffect(() => {
    if (store.view.narrow.kind !== 'search') setQuery('')
  }, [store.view.key])

  // The panel has its own hash, so Back closes it and /#bots opens it; any other hash is a narrow.
  useEffect(() => {
    const onHash = (): void => {
      const open = location.hash === BOTS_HASH
      if (!open) pushed.current = false
      setBots(open)
    }
    window.addEventListener('hashchange', onHash)
    return () => { window.removeEventListener('hashchange', onHash) }
  }, [])
  const openBots = (): void => {
    setMenuOpen(false)
    if (location.hash === BOTS_HASH) return
    // pushState: no hashchange, so the message list keeps its narrow underneath.
    history.pushState(null, '', BOTS_HASH)
    pushed.current = true
    setBots(true)
  }
  const closeBots = (): void => {
    if (pushed.current) {
      pushed.current = false
      history.back()
    } else {
      history.replaceState(null, '', narrowToHash(store.view.narrow))
      setBots(false)
    }
  }

  const unreadTotal = store.unreadCounts().get('all') ?? 0
  useEffect(() => {
    document.title = unreadTotal > 0 ? `(${unreadTotal}) ${me.realm_name}` : me.realm_name
  }, [unreadTotal])

  return (
    <div class={`app ${menuOpen ? 'menu-open' : ''}`}>
      <header class='topbar'>
        <button
          class='menu-button' type='button' aria-label={t('topbar.menu')} aria-expanded={menuOpen}
          onClick={() => { setMenuOpen(!menuOpen) }}
        >
          <span class='menu-icon' aria-hidden='true' />
          {unreadTotal > 0 && <span class='menu-badge'>{unreadTotal}</span>}
        </button>
        <a class='brand' href='#all'>
          <img src='/static/images/logo.svg' alt='' width={24} height={24} onError={(e) => { (e.target as HTMLElement).style.display = 'none' }} />
          <span>{me.realm_name}</span>
        </a>
        <form
          class='search' role='search' onSubmit={(e) => {
            e.preventDefault()
            const q = query.trim()
            location.hash = q === '' ? '#all' : narrowToHash({ kind: 'search', query: q })
          }}
        >
          <input
            type='search' name='q' value={query} placeholder={t('search.placeholder')} aria-label={t('search.placeholder')}
            onInput={(e) => { setQuery((e.target as HTMLInputElement).value) }}
          />
        </form>
        <Account store={store} where='topbar-right' />
      </header>
      {!store.connected && <div class='banner' role='status'>{t('connection.reconnecting')}</div>}
      <aside class='sidebar'>
        <Sidebar store={store} onNavigate={() => { setMenuOpen(false) }} botsOpen={bots} onOpenBots={openBots} />
        <Account store={store} where='sidebar-account' />
      </aside>
      <div class='scrim' onClick={() => { setMenuOpen(false) }} />
      <main class='main'>
        {bots && <BotsPanel store={store} onClose={closeBots} />}
        {/* Kept mounted under the panel: its scroll position and read tracking survive. */}
        <div class='main-messages' hidden={bots}>
          <div class='narrow-bar'><Title store={store} /></div>
          <MessageList store={store} />
          <TypingLine store={store} />
          <Compose store={store} />
        </div>
      </main>
    </div>
  )
}
