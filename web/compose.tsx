// The compose box: the recipient follows the narrow (a stream and topic, or the people of
// a direct conversation); Enter sends, Shift+Enter is a newline; the server renders Markdown.
// A failed send keeps the text, so nothing typed is lost while the server restarts.
import { useEffect, useRef, useState } from 'preact/hooks'
import type { ComposeTarget, Store } from './store'
import { t } from './i18n'
import { background } from './api'

export function Compose ({ store }: { store: Store }) {
  const n = store.view.narrow
  const [text, setText] = useState('')
  const [topic, setTopic] = useState('')
  const [streamChoice, setStreamChoice] = useState<number | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [sending, setSending] = useState(false)
  const box = useRef<HTMLTextAreaElement>(null)

  // The topic follows a topic narrow; a stream narrow asks for one.
  useEffect(() => {
    setTopic(n.kind === 'topic' ? n.topic : '')
    setError(null)
  }, [store.view.key])

  const fixedStream = n.kind === 'stream' || n.kind === 'topic' ? n.streamId : null
  const streamId = fixedStream ?? streamChoice ?? store.subs[0]?.stream_id ?? null
  const target: ComposeTarget | null = n.kind === 'dm'
    ? { type: 'direct', userIds: n.userIds }
    : streamId === null ? null : { type: 'stream', streamId, topic: topic.trim() }

  const send = async (): Promise<void> => {
    const content = text.trim()
    if (content === '' || target === null || sending) return
    if (target.type === 'stream' && target.topic === '') {
      setError(t('compose.topic_required'))
      return
    }
    setSending(true)
    setError(null)
    try {
      await store.send(target, content)
      setText('')
    } catch (err) {
      setError(t('compose.send_failed', { reason: err instanceof Error ? err.message : String(err) }))
    } finally {
      setSending(false)
      box.current?.focus()
    }
  }

  const onKeyDown = (e: KeyboardEvent): void => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault()
      background(send())
    }
  }

  const dmNames = n.kind === 'dm'
    ? n.userIds.map((id) => id === store.me.user_id ? store.me.full_name : store.users.get(id)?.full_name ?? '?').join(', ')
    : ''

  return (
    <form class='compose' onSubmit={(e) => { e.preventDefault(); background(send()) }}>
      <div class='compose-to'>
        {n.kind === 'dm'
          ? <span class='compose-recipient'>{t('compose.to_people', { names: dmNames })}</span>
          : (
            <>
              {fixedStream === null
                ? (
                  <select
                    class='compose-stream' aria-label={t('compose.stream')} value={String(streamId ?? '')}
                    onChange={(e) => { setStreamChoice(Number((e.target as HTMLSelectElement).value)) }}
                  >
                    {store.subs.map((s) => <option key={s.stream_id} value={String(s.stream_id)}>#{s.name}</option>)}
                  </select>
                  )
                : <span class='compose-recipient'>#{store.subs.find((s) => s.stream_id === fixedStream)?.name ?? ''}</span>}
              <span class='compose-sep' aria-hidden='true'>›</span>
              <input
                class='compose-topic' type='text' maxLength={60} placeholder={t('compose.topic')} aria-label={t('compose.topic')}
                value={topic} onInput={(e) => { setTopic((e.target as HTMLInputElement).value) }}
              />
            </>
            )}
      </div>
      <div class='compose-row'>
        <textarea
          ref={box}
          class='compose-box'
          rows={2}
          placeholder={t('compose.placeholder')}
          aria-label={t('compose.placeholder')}
          value={text}
          onInput={(e) => {
            setText((e.target as HTMLTextAreaElement).value)
            store.typingActivity(target !== null && (target.type === 'direct' || target.topic !== '') ? target : null)
          }}
          onKeyDown={onKeyDown}
          onBlur={() => { store.typingStop() }}
        />
        <button class='send-button' type='submit' disabled={sending || text.trim() === ''}>{t('compose.send')}</button>
      </div>
      <div class='compose-foot'>
        {error !== null ? <span class='compose-error' role='alert'>{error}</span> : <span class='muted'>{t('compose.hint')}</span>}
      </div>
    </form>
  )
}
