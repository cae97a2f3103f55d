// The message list of the current narrow: grouped by conversation and sender, older
// messages loaded when scrolled to the top, kept at the bottom while new ones arrive,
// and each message reported to the store when it is on screen (which marks it read).
import type { JSX } from 'preact'
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks'
import type { Store } from './store'
import type { Message } from './types'
import { dmPeers, narrowToHash } from './narrow'
import { localeTag, t } from './i18n'
import { background } from './api'

const NEAR_TOP_PX = 80
const NEAR_BOTTOM_PX = 60

function recipientLabel (store: Store, m: Message): { label: string, href: string } {
  if (m.type === 'stream') {
    const name = typeof m.display_recipient === 'string' ? m.display_recipient : ''
    return { label: `#${name} › ${m.topic}`, href: narrowToHash({ kind: 'topic', streamId: m.stream_id ?? 0, topic: m.topic }) }
  }
  const peers = dmPeers(m, store.me.user_id)
  const names = peers.map((id) => id === store.me.user_id ? store.me.full_name : store.users.get(id)?.full_name ?? '?')
  return { label: t('messages.dm_with', { names: names.join(', ') }), href: narrowToHash({ kind: 'dm', userIds: peers }) }
}

export function MessageList ({ store }: { store: Store }) {
  const scroller = useRef<HTMLDivElement>(null)
  const atBottom = useRef(true)
  const anchor = useRef<{ firstId: number, height: number } | null>(null)
  const observer = useRef<IntersectionObserver | null>(null)
  const v = store.view

  // One observer for the list: a message at least half on screen counts as shown.
  useEffect(() => {
    const root = scroller.current
    if (root === null) return
    const io = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const id = Number((e.target as HTMLElement).dataset.id)
        store.setOnScreen(id, e.isIntersecting)
      }
    }, { root, threshold: 0.5 })
    observer.current = io
    root.querySelectorAll('.message').forEach((el) => { io.observe(el) })
    return () => { io.disconnect(); observer.current = null }
  }, [store])

  // New message elements are observed as they appear (the observer ignores repeats).
  useEffect(() => {
    const io = observer.current
    scroller.current?.querySelectorAll('.message').forEach((el) => { io?.observe(el) })
  })

  // Keep the view where the reader expects it: at the bottom for new messages, still when older ones are prepended.
  useLayoutEffect(() => {
    const el = scroller.current
    if (el === null) return
    const first = v.messages[0]
    const a = anchor.current
    if (a !== null && first !== undefined && first.id < a.firstId) {
      el.scrollTop += el.scrollHeight - a.height
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight
    }
    anchor.current = first === undefined ? null : { firstId: first.id, height: el.scrollHeight }
  })

  // The first list shown: a mark the browser tests read (navigation → first message list).
  useEffect(() => {
    if (!v.loading && performance.getEntriesByName('parley:first-list').length === 0) performance.mark('parley:first-list')
  }, [v.loading])

  // A new narrow starts at the bottom.
  useLayoutEffect(() => { atBottom.current = true }, [v.key])

  const onScroll = (): void => {
    const el = scroller.current
    if (el === null) return
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX
    if (el.scrollTop < NEAR_TOP_PX) background(store.loadOlder())
  }

  const time = new Intl.DateTimeFormat(localeTag(), { hour: '2-digit', minute: '2-digit' })
  const day = new Intl.DateTimeFormat(localeTag(), { weekday: 'short', month: 'short', day: 'numeric' })
  const showRecipient = v.narrow.kind === 'all' || v.narrow.kind === 'search' || v.narrow.kind === 'stream'

  const rows: JSX.Element[] = []
  let prev: Message | undefined
  for (const m of v.messages) {
    const newDay = prev === undefined || new Date(prev.timestamp * 1000).toDateString() !== new Date(m.timestamp * 1000).toDateString()
    const newConv = prev === undefined || prev.type !== m.type || prev.stream_id !== m.stream_id || prev.topic !== m.topic ||
      (m.type === 'direct' && dmPeers(prev, store.me.user_id).join() !== dmPeers(m, store.me.user_id).join())
    if (newDay) rows.push(<div class='day-divider' key={`d${m.id}`}><span>{day.format(new Date(m.timestamp * 1000))}</span></div>)
    if (showRecipient && (newConv || newDay)) {
      const r = recipientLabel(store, m)
      rows.push(<a class={`recipient-bar ${m.type === 'direct' ? 'recipient-dm' : ''}`} href={r.href} key={`r${m.id}`}>{r.label}</a>)
    }
    const continued = prev !== undefined && !newConv && !newDay && prev.sender_id === m.sender_id && m.timestamp - prev.timestamp < 300
    const sender = store.users.get(m.sender_id)
    const unread = m.flags !== undefined && !m.flags.includes('read') && store.unread.has(m.id)
    rows.push(
      <article class={`message ${continued ? 'continued' : ''} ${unread ? 'unread' : ''}`} data-id={m.id} key={m.id}>
        {continued
          ? <span class='avatar-space' />
          : <img class='avatar' src={sender?.avatar_url ?? '/static/images/avatar.svg'} alt='' width={36} height={36} />}
        <div class='message-body'>
          {!continued && (
            <header class='message-head'>
              <span class='sender'>{m.sender_full_name}</span>
              <time dateTime={new Date(m.timestamp * 1000).toISOString()}>{time.format(new Date(m.timestamp * 1000))}</time>
            </header>
          )}
          {/* Rendered and sanitized by the server's Markdown renderer (SPEC §6). */}
          <div class='content' dangerouslySetInnerHTML={{ __html: m.content }} />
          {m.last_edit_timestamp !== null && <span class='edited'>{t('messages.edited')}</span>}
        </div>
      </article>
    )
    prev = m
  }

  return (
    <div class='message-scroller' ref={scroller} onScroll={onScroll}>
      <div class='message-list' aria-live='polite' data-narrow={v.key} data-loaded={v.loading ? 'false' : 'true'}>
        {v.loadingOlder && <p class='list-note'>{t('messages.loading')}</p>}
        {v.foundOldest && v.messages.length > 0 && <p class='list-note list-start'>{t('messages.start_of_conversation')}</p>}
        {rows}
        {!v.loading && v.messages.length === 0 && v.error === null && (
          <p class='list-empty'>{v.narrow.kind === 'search' ? t('messages.no_results') : t('messages.empty')}</p>
        )}
        {v.loading && v.messages.length === 0 && <p class='list-note'>{t('messages.loading')}</p>}
        {v.error !== null && <p class='list-error' role='alert'>{t('messages.load_failed')}</p>}
      </div>
    </div>
  )
}
