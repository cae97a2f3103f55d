// The left sidebar: streams (with their topics when selected) and direct-message
// conversations, each with its unread count; presence dots beside people.
import type { ComponentChildren } from 'preact'
import type { Store } from './store'
import type { Narrow } from './types'
import { dmKey, narrowKey, narrowToHash, topicKey } from './narrow'
import { t } from './i18n'
import { StreamMark } from './icons'
import { BotMark } from './bots'

const MAX_TOPICS = 12

function Count ({ n }: { n: number | undefined }) {
  return n !== undefined && n > 0 ? <span class='unread-count' title={t('sidebar.unread', { count: n })}>{n}</span> : null
}

export function Sidebar ({ store, onNavigate, botsOpen = false, onOpenBots }: { store: Store, onNavigate: () => void, botsOpen?: boolean, onOpenBots?: () => void }) {
  const counts = store.unreadCounts()
  const current = store.view.narrow
  // With the Bots panel open no narrow is the current one.
  const currentKey = botsOpen ? '' : narrowKey(current)
  const selectedStream = current.kind === 'stream' || current.kind === 'topic' ? current.streamId : null
  const me = store.me.user_id

  const link = (n: Narrow, label: ComponentChildren, count: number | undefined, extra = '') => (
    <a
      href={narrowToHash(n)}
      class={`nav-item ${extra} ${narrowKey(n) === currentKey ? 'active' : ''}`}
      onClick={onNavigate}
    >
      {label}
      <Count n={count} />
    </a>
  )

  // Every active person (conversations first, most recent first), then group conversations.
  const people = [...store.users.values()].filter((u) => u.is_active && !u.is_bot && u.user_id !== me)
  const recency = (peers: number[]): number => store.dms.get(dmKey(peers))?.maxId ?? 0
  people.sort((a, b) => recency([b.user_id]) - recency([a.user_id]) || a.full_name.localeCompare(b.full_name))
  const groups = [...store.dms.values()].filter((d) => d.peers.length > 1).sort((a, b) => b.maxId - a.maxId)

  return (
    <nav class='sidebar-inner' aria-label={t('sidebar.label')}>
      {link({ kind: 'all' }, <span class='nav-label'>{t('sidebar.all_messages')}</span>, counts.get('all'), 'nav-all')}

      <h2 class='nav-heading'>{t('sidebar.streams')}</h2>
      {store.subs.length === 0 && <p class='nav-empty'>{t('sidebar.no_streams')}</p>}
      <ul class='nav-list'>
        {store.subs.map((s) => {
          const topics = [...(store.topics.get(s.stream_id)?.values() ?? [])].sort((a, b) => b.maxId - a.maxId).slice(0, MAX_TOPICS)
          return (
            <li key={s.stream_id}>
              {link({ kind: 'stream', streamId: s.stream_id }, (
                <span class='nav-label'>
                  <StreamMark private={s.invite_only} />{s.name}
                </span>
              ), counts.get(`s:${s.stream_id}`), 'nav-stream')}
              {selectedStream === s.stream_id && topics.length > 0 && (
                <ul class='nav-topics'>
                  {topics.map((tp) => (
                    <li key={tp.name}>
                      {link({ kind: 'topic', streamId: s.stream_id, topic: tp.name }, <span class='nav-label'>{tp.name}</span>, counts.get(topicKey(s.stream_id, tp.name)), 'nav-topic')}
                    </li>
                  ))}
                </ul>
              )}
            </li>
          )
        })}
      </ul>

      <h2 class='nav-heading'>{t('sidebar.direct_messages')}</h2>
      <ul class='nav-list'>
        {people.map((u) => (
          <li key={u.user_id}>
            {link({ kind: 'dm', userIds: [u.user_id] }, (
              <span class='nav-label'>
                <span class={`presence presence-${store.presenceOf(u.user_id)}`} title={t(`presence.${store.presenceOf(u.user_id)}`)} />
                {u.full_name}
              </span>
            ), counts.get(dmKey([u.user_id])), 'nav-dm')}
          </li>
        ))}
        {groups.map((g) => (
          <li key={g.peers.join(',')}>
            {link({ kind: 'dm', userIds: g.peers }, (
              <span class='nav-label'>
                <span class='presence presence-group' aria-hidden='true' />
                {g.peers.map((id) => store.users.get(id)?.full_name ?? '?').join(', ')}
              </span>
            ), counts.get(dmKey(g.peers)), 'nav-dm')}
          </li>
        ))}
        <li>
          {link({ kind: 'dm', userIds: [me] }, (
            <span class='nav-label'>
              <span class={`presence presence-${store.presenceOf(me)}`} />
              {store.me.full_name} <span class='muted'>{t('sidebar.you')}</span>
            </span>
          ), counts.get(dmKey([me])), 'nav-dm')}
        </li>
      </ul>

      {onOpenBots !== undefined && (
        <>
          <h2 class='nav-heading'>{t('bots.settings')}</h2>
          <ul class='nav-list'>
            <li>
              <button type='button' class={`nav-item nav-bots ${botsOpen ? 'active' : ''}`} aria-current={botsOpen ? 'page' : undefined} onClick={onOpenBots}>
                <span class='nav-label'><BotMark />{t('bots.open')}</span>
              </button>
            </li>
          </ul>
        </>
      )}
    </nav>
  )
}
