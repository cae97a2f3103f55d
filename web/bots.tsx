// The Bots panel: the caller's bots (GET /json/bots), a form that creates an incoming-webhook
// bot (POST /json/bots), and the webhook URL of a bot, an integration and a stream (SPEC §10)
// with a Copy button. The integrations and the external URL come from the page's bootstrap.
import { useEffect, useRef, useState } from 'preact/hooks'
import type { Store } from './store'
import type { Bot } from './types'
import { api, background } from './api'
import { t } from './i18n'

const SHORT_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/

/** A username from a display name: `GitHub notifications` → `github-notifications`. */
export function shortNameOf (fullName: string): string {
  return fullName.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9_-]+/g, '-').replace(/^[-_]+/, '').slice(0, 40).replace(/-+$/, '')
}

/** `<external>/api/v1/external/<integration>?api_key=…&stream=…&topic=…`; no stream: a direct message to the owner. */
export function webhookUrl (external: string, integration: string, apiKey: string, stream: string | null, topic: string): string {
  let url = `${external.replace(/\/+$/, '')}/api/v1/external/${encodeURIComponent(integration)}?api_key=${encodeURIComponent(apiKey)}`
  if (stream !== null) url += `&stream=${encodeURIComponent(stream)}`
  if (topic.trim() !== '') url += `&topic=${encodeURIComponent(topic.trim())}`
  return url
}

const reasonOf = (err: unknown): string => err instanceof Error ? err.message : String(err)

function selectText (el: HTMLElement | null): void {
  if (el === null) return
  const range = document.createRange()
  range.selectNodeContents(el)
  const sel = window.getSelection()
  sel?.removeAllRanges()
  sel?.addRange(range)
}

export function BotsPanel ({ store, onClose }: { store: Store, onClose: () => void }) {
  const integrations = store.me.integrations ?? []
  const external = store.me.external_url ?? location.origin
  const [bots, setBots] = useState<Bot[] | null>(null)
  const [loadError, setLoadError] = useState<string | null>(null)
  /** API keys learned when creating a bot, for a server whose list does not carry them. */
  const [keys, setKeys] = useState<Map<number, string>>(new Map())

  const [fullName, setFullName] = useState('')
  const [shortName, setShortName] = useState('')
  const [shortEdited, setShortEdited] = useState(false)
  const [secret, setSecret] = useState('')
  const [creating, setCreating] = useState(false)
  const [createError, setCreateError] = useState<string | null>(null)
  const [created, setCreated] = useState<string | null>(null)

  const [botId, setBotId] = useState<number | null>(null)
  const [integration, setIntegration] = useState(integrations[0]?.name ?? 'json')
  const current = store.view.narrow
  const [streamId, setStreamId] = useState<number | null>(
    current.kind === 'stream' || current.kind === 'topic' ? current.streamId : store.subs[0]?.stream_id ?? null)
  const [topic, setTopic] = useState('')
  const [copied, setCopied] = useState<'ok' | 'failed' | null>(null)
  const urlEl = useRef<HTMLElement>(null)

  const load = async (): Promise<Bot[]> => {
    const answer = await api.get<{ bots: Bot[] }>('/bots')
    setBots(answer.bots)
    setLoadError(null)
    return answer.bots
  }

  useEffect(() => {
    load().catch((err: unknown) => { setLoadError(reasonOf(err)) })
  }, [])

  const webhookBots = (bots ?? []).filter((b) => b.bot_type === 'incoming_webhook')
  const chosen = webhookBots.find((b) => b.user_id === botId) ?? webhookBots[0]
  const chosenKey = chosen === undefined ? undefined : chosen.api_key ?? keys.get(chosen.user_id)
  const stream = store.subs.find((s) => s.stream_id === streamId)
  const url = chosenKey === undefined ? null : webhookUrl(external, integration, chosenKey, stream?.name ?? null, topic)

  useEffect(() => { setCopied(null) }, [url])

  const effectiveShort = shortEdited ? shortName : shortNameOf(fullName)
  const shortValid = effectiveShort === '' || SHORT_NAME.test(effectiveShort)

  const create = async (e: Event): Promise<void> => {
    e.preventDefault()
    const name = fullName.trim()
    if (name === '' || effectiveShort === '' || !shortValid || creating) return
    setCreating(true)
    setCreateError(null)
    setCreated(null)
    try {
      const bot = await api.post<{ user_id: number, email: string, api_key: string }>('/bots', {
        full_name: name,
        short_name: effectiveShort,
        bot_type: 'incoming_webhook',
        ...(secret.trim() === '' ? {} : { webhook_secret: secret.trim() })
      })
      setKeys(new Map(keys).set(bot.user_id, bot.api_key))
      try {
        const list = await load()
        if (!list.some((b) => b.user_id === bot.user_id)) throw new Error('not listed yet')
      } catch {
        setBots([...(bots ?? []), { user_id: bot.user_id, email: bot.email, full_name: name, bot_type: 'incoming_webhook', api_key: bot.api_key }])
      }
      setBotId(bot.user_id)
      setCreated(t('bots.created', { name }))
      setFullName('')
      setShortName('')
      setShortEdited(false)
      setSecret('')
    } catch (err) {
      setCreateError(t('bots.create_failed', { reason: reasonOf(err) }))
    } finally {
      setCreating(false)
    }
  }

  const copy = async (): Promise<void> => {
    if (url === null) return
    try {
      await navigator.clipboard.writeText(url)
      setCopied('ok')
    } catch {
      // No clipboard (an insecure origin, a refused permission): select it for Ctrl+C.
      selectText(urlEl.current)
      setCopied('failed')
    }
  }

  return (
    <section class='bots-panel' aria-labelledby='bots-title'>
      <div class='narrow-bar bots-bar'>
        <h1 class='narrow-title' id='bots-title'>{t('bots.title')}</h1>
        <button type='button' class='link-button bots-close' onClick={onClose}>{t('bots.close')}</button>
      </div>
      <div class='bots-scroll'>
        <p class='bots-intro'>{t('bots.intro')} <a href='/integrations' target='_blank' rel='noopener'>{t('bots.about')}</a></p>

        <section class='bots-card'>
          <h2>{t('bots.your_bots')}</h2>
          {bots === null && loadError === null && <p class='muted'>{t('bots.loading')}</p>}
          {loadError !== null && <p class='bots-error' role='alert'>{t('bots.load_failed', { reason: loadError })}</p>}
          {bots !== null && bots.length === 0 && <p class='muted'>{t('bots.none')}</p>}
          {bots !== null && bots.length > 0 && (
            <ul class='bots-list'>
              {bots.map((b) => {
                const hook = b.bot_type === 'incoming_webhook'
                return (
                  <li key={b.user_id} class={`bot ${hook && chosen?.user_id === b.user_id ? 'selected' : ''}`}>
                    <button type='button' class='bot-pick' disabled={!hook} onClick={() => { setBotId(b.user_id) }}>
                      <span class='bot-avatar' aria-hidden='true'>{[...b.full_name][0]?.toUpperCase() ?? '?'}</span>
                      <span class='bot-text'>
                        <span class='bot-name'>{b.full_name}</span>
                        <span class='bot-email'>{b.email}</span>
                      </span>
                      <span class={`bot-type ${hook ? 'bot-type-hook' : ''}`}>{t(hook ? 'bots.type_incoming_webhook' : 'bots.type_generic')}</span>
                    </button>
                  </li>
                )
              })}
            </ul>
          )}
        </section>

        <section class='bots-card'>
          <h2>{t('bots.create_heading')}</h2>
          <form class='bots-form' onSubmit={(e) => { background(create(e)) }}>
            <label>
              <span>{t('bots.full_name')}</span>
              <input
                name='full_name' required maxLength={100} value={fullName} placeholder={t('bots.full_name_placeholder')}
                onInput={(e) => { setFullName((e.target as HTMLInputElement).value) }}
              />
            </label>
            <label>
              <span>{t('bots.short_name')}</span>
              <input
                name='short_name' required maxLength={40} value={effectiveShort} autoCapitalize='none' spellcheck={false}
                aria-invalid={!shortValid} aria-describedby='bots-short-hint'
                onInput={(e) => { setShortEdited(true); setShortName((e.target as HTMLInputElement).value) }}
              />
              <small id='bots-short-hint' class={shortValid ? 'hint' : 'hint bots-error'}>{t(shortValid ? 'bots.short_name_hint' : 'bots.short_name_invalid')}</small>
            </label>
            <label>
              <span>{t('bots.secret')}</span>
              <input
                name='webhook_secret' value={secret} autoComplete='off' spellcheck={false} aria-describedby='bots-secret-hint'
                onInput={(e) => { setSecret((e.target as HTMLInputElement).value) }}
              />
              <small id='bots-secret-hint' class='hint'>{t('bots.secret_hint')}</small>
            </label>
            <div class='bots-actions'>
              <button type='submit' class='send-button bots-create' disabled={creating || fullName.trim() === '' || effectiveShort === '' || !shortValid}>
                {t(creating ? 'bots.creating' : 'bots.create')}
              </button>
              {created !== null && <span class='bots-ok' role='status'>{created}</span>}
              {createError !== null && <span class='bots-error' role='alert'>{createError}</span>}
            </div>
          </form>
        </section>

        <section class='bots-card'>
          <h2>{t('bots.url_heading')}</h2>
          {chosen === undefined
            ? <p class='muted'>{t('bots.need_bot')}</p>
            : (
              <div class='bots-form'>
                <div class='bots-row'>
                  <label>
                    <span>{t('bots.bot')}</span>
                    <select name='bot' value={chosen.user_id} onChange={(e) => { setBotId(Number((e.target as HTMLSelectElement).value)) }}>
                      {webhookBots.map((b) => <option key={b.user_id} value={b.user_id}>{b.full_name}</option>)}
                    </select>
                  </label>
                  <label>
                    <span>{t('bots.integration')}</span>
                    <select name='integration' value={integration} onChange={(e) => { setIntegration((e.target as HTMLSelectElement).value) }}>
                      {integrations.map((i) => <option key={i.name} value={i.name}>{i.display_name}</option>)}
                    </select>
                  </label>
                </div>
                <div class='bots-row'>
                  <label>
                    <span>{t('bots.stream')}</span>
                    <select name='stream' value={streamId ?? ''} onChange={(e) => { const v = (e.target as HTMLSelectElement).value; setStreamId(v === '' ? null : Number(v)) }}>
                      {store.subs.map((s) => <option key={s.stream_id} value={s.stream_id}>{s.name}</option>)}
                      <option value=''>{t('bots.no_stream')}</option>
                    </select>
                  </label>
                  <label>
                    <span>{t('bots.topic')}</span>
                    <input name='topic' value={topic} maxLength={60} placeholder={t('bots.topic_placeholder')} onInput={(e) => { setTopic((e.target as HTMLInputElement).value) }} />
                  </label>
                </div>
                {url === null
                  ? <p class='bots-error'>{t('bots.no_key')}</p>
                  : (
                    <div class='bots-url-box'>
                      <p class='bots-url-label'>{t('bots.url_label')}</p>
                      <div class='bots-url-row'>
                        <code class='bots-url' ref={urlEl}>{url}</code>
                        <button type='button' class='send-button bots-copy' onClick={() => { background(copy()) }}>{t(copied === 'ok' ? 'bots.copied' : 'bots.copy')}</button>
                      </div>
                      {copied === 'failed' && <p class='hint' role='status'>{t('bots.copy_failed')}</p>}
                    </div>
                    )}
              </div>
              )}
        </section>
      </div>
    </section>
  )
}

/** The mark before "Bots" in the sidebar: a small robot head (no icon font, as web/icons.tsx). */
export function BotMark () {
  return (
    <span class='stream-mark' aria-hidden='true'>
      <svg viewBox='0 0 16 16' width='13' height='13'><path d='M7.25 1h1.5v2H12a2 2 0 0 1 2 2v6a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h3.25zM5.5 6.5a1.25 1.25 0 1 0 0 2.5 1.25 1.25 0 0 0 0-2.5zm5 0a1.25 1.25 0 1 0 0 2.5 1.25 1.25 0 0 0 0-2.5zM5.5 10.5v1h5v-1z' fill='currentColor' /></svg>
    </span>
  )
}
