// The web app's state and everything that changes it: the initial fetches, the event
// queue (POST /register + long-poll GET /events), sending, read marking, typing, presence.
// Components subscribe and re-render on change; nothing here touches the DOM.
import { api, ApiError, background } from './api'
import { apiNarrow, conversationKey, dmKey, dmPeers, matches, narrowKey, topicKey } from './narrow'
import type { Bootstrap, Flag, Message, MessagesPage, Narrow, Presence, RegisterResponse, ServerEvent, Stream, UnreadMsgs, User } from './types'

const EVENT_TYPES = ['message', 'update_message', 'delete_message', 'update_message_flags', 'typing', 'presence', 'subscription', 'stream', 'realm_user']
const PAGE = 50
const TYPING_SHOWN_MS = 15_000
const TYPING_RENEW_MS = 10_000
const TYPING_IDLE_MS = 5_000
const PRESENCE_EVERY_MS = 60_000

export interface View {
  key: string
  narrow: Narrow
  messages: Message[]
  loading: boolean
  loadingOlder: boolean
  foundOldest: boolean
  error: string | null
}

/** Where an unread message lives, for the counts. */
interface UnreadWhere { stream: number | null, conv: string }

export type ComposeTarget = { type: 'stream', streamId: number, topic: string } | { type: 'direct', userIds: number[] }

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export class Store {
  readonly me: Bootstrap
  users = new Map<number, User>()
  subs: Stream[] = []
  presence = new Map<number, Presence>()
  unread = new Map<number, UnreadWhere>()
  /** Topic display names and their newest message id, per stream. */
  topics = new Map<number, Map<string, { name: string, maxId: number }>>()
  /** Direct conversations (by dmKey) and their newest message id. */
  dms = new Map<string, { peers: number[], maxId: number }>()
  /** Who is typing where: conversation key → user id → until (ms). */
  typing = new Map<string, Map<number, number>>()
  view: View
  connected = true
  /** Bumped on every change; components compare it. */
  version = 0

  private readonly listeners = new Set<() => void>()
  private scheduled = false
  private queueId = ''
  private lastEventId = -1
  private stopped = false
  /** Read on screen, not yet told to the server; and requests telling it (tests wait for both). */
  readonly pendingRead = new Set<number>()
  readsInFlight = 0
  private readTimer: ReturnType<typeof setTimeout> | undefined
  private typingSupported = true
  private typingSent: { key: string, at: number } | null = null
  private typingStopTimer: ReturnType<typeof setTimeout> | undefined
  private presenceTimer: ReturnType<typeof setInterval> | undefined

  constructor (me: Bootstrap, narrow: Narrow) {
    this.me = me
    this.view = { key: narrowKey(narrow), narrow, messages: [], loading: true, loadingOlder: false, foundOldest: false, error: null }
  }

  subscribe (fn: () => void): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }

  /** Coalesces changes made in one task into one render. */
  emit (): void {
    this.version++
    if (this.scheduled) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      for (const fn of this.listeners) fn()
    })
  }

  // ---- start, register, the event loop ----

  async start (): Promise<void> {
    // The queue first, so nothing sent while the first page loads is missed; both in parallel.
    await Promise.all([this.register(), this.loadView(this.view.narrow)])
    background(this.pollLoop())
    background(this.reportPresence())
    this.presenceTimer = setInterval(() => { background(this.reportPresence()) }, PRESENCE_EVERY_MS)
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') { background(this.reportPresence()); this.flushVisibleReads() }
    })
    setInterval(() => { this.expireTyping() }, 2000)
  }

  stop (): void {
    this.stopped = true
    clearInterval(this.presenceTimer)
  }

  private async register (): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const state = await api.post<RegisterResponse>('/register', { event_types: EVENT_TYPES })
        this.queueId = state.queue_id
        this.lastEventId = state.last_event_id
        this.applyState(state)
        this.setConnected(true)
        return
      } catch (err) {
        this.authFailed(err)
        if (!(err instanceof ApiError) || !err.transient || this.stopped) throw err
        this.setConnected(false)
        await sleep(backoff(attempt))
      }
    }
  }

  private applyState (state: RegisterResponse): void {
    if (state.realm_users !== undefined) this.users = new Map(state.realm_users.map((u) => [u.user_id, u]))
    if (state.subscriptions !== undefined) this.subs = sortStreams(state.subscriptions)
    if (state.presences !== undefined) this.presence = new Map(Object.entries(state.presences).map(([id, p]) => [Number(id), p]))
    this.unread = new Map()
    if (state.unread_msgs !== undefined) this.applyUnread(state.unread_msgs)
    this.emit()
  }

  private applyUnread (u: UnreadMsgs): void {
    for (const s of u.streams ?? []) {
      this.noteTopic(s.stream_id, s.topic, Math.max(0, ...s.unread_message_ids))
      for (const id of s.unread_message_ids) this.unread.set(id, { stream: s.stream_id, conv: topicKey(s.stream_id, s.topic) })
    }
    for (const p of u.pms ?? []) this.unreadDm([p.other_user_id], p.unread_message_ids)
    for (const h of u.huddles ?? []) this.unreadDm(h.user_ids_string.split(',').map(Number).filter((id) => id !== this.me.user_id), h.unread_message_ids)
  }

  private unreadDm (peers: number[], ids: number[]): void {
    const key = dmKey(peers.length === 0 ? [this.me.user_id] : peers)
    this.noteDm(key, peers, Math.max(0, ...ids))
    for (const id of ids) this.unread.set(id, { stream: null, conv: key })
  }

  private async pollLoop (): Promise<void> {
    let failures = 0
    while (!this.stopped) {
      try {
        const batch = await api.get<{ events: ServerEvent[] }>('/events', { queue_id: this.queueId, last_event_id: this.lastEventId })
        failures = 0
        this.setConnected(true)
        for (const ev of batch.events) {
          if (ev.id > this.lastEventId) this.lastEventId = ev.id
          try {
            this.handle(ev)
          } catch (err) {
            console.error('event', ev, err)
          }
        }
        if (this.pendingRead.size > 0) this.scheduleReadFlush(0)
      } catch (err) {
        if (this.stopped) return
        this.authFailed(err)
        if (err instanceof ApiError && err.code === 'BAD_EVENT_QUEUE_ID') {
          // The queue is gone (expired, or the server lost it): start over and refetch the view.
          await this.register()
          await this.loadView(this.view.narrow)
          continue
        }
        // Network error or 5xx (a restarting server answers 503): retry with backoff.
        this.setConnected(false)
        await sleep(backoff(failures++))
      }
    }
  }

  private authFailed (err: unknown): void {
    if (err instanceof ApiError && err.status === 401) {
      this.stopped = true
      location.href = '/login?next=' + encodeURIComponent(location.pathname + location.hash)
    }
  }

  private setConnected (ok: boolean): void {
    if (this.connected === ok) return
    this.connected = ok
    this.emit()
  }

  handle (ev: ServerEvent): void {
    switch (ev.type) {
      case 'message': this.onMessage(ev.message as Message, ev.flags as Flag[] | undefined); break
      case 'update_message': this.onUpdate(ev); break
      case 'delete_message': this.onDelete(ev); break
      case 'update_message_flags': this.onFlags(ev); break
      case 'typing': this.onTyping(ev); break
      case 'presence': {
        const p = ev.presence as Presence | undefined
        if (p !== undefined) this.presence.set(ev.user_id as number, p)
        break
      }
      case 'subscription': this.onSubscription(ev); break
      case 'stream': this.onStream(ev); break
      case 'realm_user': this.onRealmUser(ev); break
      default: return // heartbeat, restart: the queue simply continues
    }
    this.emit()
  }

  private onMessage (m: Message, flags: Flag[] | undefined): void {
    const f: Flag[] = flags ?? m.flags ?? ['read']
    this.noteMessage({ ...m, flags: f })
    // A message ends its sender's typing notice there.
    this.typing.get(conversationKey(m, this.me.user_id))?.delete(m.sender_id)
    const v = this.view
    if (matches(v.narrow, m, this.me.user_id) && !v.messages.some((x) => x.id === m.id)) {
      v.messages = insertSorted(v.messages, [{ ...m, flags: f }])
    }
  }

  private onUpdate (ev: ServerEvent): void {
    const id = ev.message_id as number
    this.view.messages = this.view.messages.map((m) => m.id !== id
      ? m
      : {
          ...m,
          ...(typeof ev.rendered_content === 'string' ? { content: ev.rendered_content } : {}),
          ...(typeof ev.content === 'string' ? { content_markdown: ev.content } : {}),
          ...(typeof ev.topic === 'string' ? { topic: ev.topic } : {}),
          last_edit_timestamp: (ev.edit_timestamp as number | undefined) ?? m.last_edit_timestamp
        })
    const u = this.unread.get(id)
    if (u !== undefined && u.stream !== null && typeof ev.topic === 'string') this.unread.set(id, { stream: u.stream, conv: topicKey(u.stream, ev.topic) })
  }

  private onDelete (ev: ServerEvent): void {
    const ids = Array.isArray(ev.message_ids) ? ev.message_ids as number[] : [ev.message_id as number]
    this.view.messages = this.view.messages.filter((m) => !ids.includes(m.id))
    for (const id of ids) this.unread.delete(id)
  }

  private onFlags (ev: ServerEvent): void {
    if (ev.flag !== 'read') return
    const ids = (ev.messages as number[] | undefined) ?? []
    if (ev.op === 'add') {
      if (ev.all === true) this.unread.clear()
      for (const id of ids) this.unread.delete(id)
    } else if (ev.op === 'remove') {
      for (const m of this.view.messages) if (ids.includes(m.id)) this.markUnreadLocal(m)
    }
    this.view.messages = this.view.messages.map((m) => ids.includes(m.id) || ev.all === true
      ? { ...m, flags: ev.op === 'add' ? ['read'] : [] }
      : m)
  }

  private onTyping (ev: ServerEvent): void {
    const sender = (ev.sender as { user_id: number } | undefined)?.user_id
    if (sender === undefined || sender === this.me.user_id) return
    let key: string
    if (ev.message_type === 'stream') {
      key = topicKey(ev.stream_id as number, String(ev.topic ?? ''))
    } else {
      const ids = ((ev.recipients as Array<{ user_id: number }> | undefined) ?? []).map((r) => r.user_id).concat(sender)
      key = dmKey([...new Set(ids)].filter((id) => id !== this.me.user_id))
    }
    let who = this.typing.get(key)
    if (who === undefined) { who = new Map(); this.typing.set(key, who) }
    if (ev.op === 'start') who.set(sender, Date.now() + TYPING_SHOWN_MS)
    else who.delete(sender)
  }

  private expireTyping (): void {
    const now = Date.now()
    let changed = false
    for (const who of this.typing.values()) {
      for (const [id, until] of who) if (until < now) { who.delete(id); changed = true }
    }
    if (changed) this.emit()
  }

  private onSubscription (ev: ServerEvent): void {
    const streams = (ev.subscriptions as Stream[] | undefined) ?? []
    if (ev.op === 'add') {
      this.subs = sortStreams([...this.subs.filter((s) => !streams.some((x) => x.stream_id === s.stream_id)), ...streams])
    } else if (ev.op === 'remove') {
      this.subs = this.subs.filter((s) => !streams.some((x) => x.stream_id === s.stream_id))
    }
  }

  private onStream (ev: ServerEvent): void {
    if (ev.op === 'update') {
      const prop = ev.property as string
      this.subs = sortStreams(this.subs.map((s) => s.stream_id === ev.stream_id && (prop === 'name' || prop === 'description')
        ? { ...s, [prop]: ev.value as string }
        : s))
    } else if (ev.op === 'delete') {
      const gone = ((ev.streams as Stream[] | undefined) ?? []).map((s) => s.stream_id)
      this.subs = this.subs.filter((s) => !gone.includes(s.stream_id))
    }
  }

  private onRealmUser (ev: ServerEvent): void {
    const person = ev.person as Partial<User> & { user_id: number }
    const old = this.users.get(person.user_id)
    if (ev.op === 'add') this.users.set(person.user_id, person as User)
    else if (ev.op === 'update' && old !== undefined) this.users.set(person.user_id, { ...old, ...person })
    else if (ev.op === 'remove' && old !== undefined) this.users.set(person.user_id, { ...old, is_active: false })
  }

  // ---- bookkeeping of topics, conversations, unread ----

  private noteTopic (streamId: number, topic: string, id: number): void {
    let topics = this.topics.get(streamId)
    if (topics === undefined) { topics = new Map(); this.topics.set(streamId, topics) }
    const k = topic.toLowerCase()
    const t = topics.get(k)
    if (t === undefined || t.maxId < id) topics.set(k, { name: topic, maxId: Math.max(id, t?.maxId ?? 0) })
  }

  private noteDm (key: string, peers: number[], id: number): void {
    const d = this.dms.get(key)
    if (d === undefined || d.maxId < id) this.dms.set(key, { peers, maxId: id })
  }

  private noteMessage (m: Message): void {
    if (m.type === 'stream') this.noteTopic(m.stream_id ?? 0, m.topic, m.id)
    else this.noteDm(dmKey(dmPeers(m, this.me.user_id)), dmPeers(m, this.me.user_id), m.id)
    // Without flags (a server that keeps no read state) a message counts as read.
    if (m.flags === undefined || m.flags.includes('read')) this.unread.delete(m.id)
    else this.markUnreadLocal(m)
  }

  private markUnreadLocal (m: Message): void {
    this.unread.set(m.id, m.type === 'stream'
      ? { stream: m.stream_id ?? 0, conv: topicKey(m.stream_id ?? 0, m.topic) }
      : { stream: null, conv: dmKey(dmPeers(m, this.me.user_id)) })
  }

  /** Unread counts by `s:<stream>`, topic key, dm key, and `all`. */
  unreadCounts (): Map<string, number> {
    const counts = new Map<string, number>()
    const bump = (k: string): void => { counts.set(k, (counts.get(k) ?? 0) + 1) }
    for (const u of this.unread.values()) {
      bump('all')
      bump(u.conv)
      if (u.stream !== null) bump(`s:${u.stream}`)
      else bump('dms')
    }
    return counts
  }

  // ---- the message list ----

  async loadView (narrow: Narrow): Promise<void> {
    const key = narrowKey(narrow)
    const keep = this.view.key === key ? this.view.messages : []
    this.view = { key, narrow, messages: keep, loading: true, loadingOlder: false, foundOldest: false, error: null }
    this.emit()
    try {
      const page = await api.get<MessagesPage>('/messages', { anchor: 'newest', num_before: PAGE, num_after: 0, narrow: apiNarrow(narrow, this.me.user_id) })
      if (this.view.key !== key) return
      for (const m of page.messages) this.noteMessage(m)
      // Messages that arrived by event while the page loaded stay.
      this.view = { ...this.view, messages: insertSorted(this.view.messages, page.messages), loading: false, foundOldest: page.found_oldest }
    } catch (err) {
      if (this.view.key !== key) return
      this.view = { ...this.view, loading: false, error: err instanceof Error ? err.message : String(err) }
    }
    this.emit()
  }

  async loadOlder (): Promise<void> {
    const v = this.view
    const first = v.messages[0]
    if (v.loading || v.loadingOlder || v.foundOldest || first === undefined) return
    v.loadingOlder = true
    this.emit()
    try {
      const page = await api.get<MessagesPage>('/messages', { anchor: first.id, num_before: PAGE, num_after: 0, narrow: apiNarrow(v.narrow, this.me.user_id) })
      if (this.view !== v) return
      const older = page.messages.filter((m) => m.id < first.id)
      for (const m of older) this.noteMessage(m)
      this.view = { ...v, messages: insertSorted(v.messages, older), loadingOlder: false, foundOldest: page.found_oldest }
    } catch {
      if (this.view === v) this.view = { ...v, loadingOlder: false }
    }
    this.emit()
  }

  // ---- actions ----

  async send (target: ComposeTarget, content: string): Promise<void> {
    this.typingStop()
    await api.post('/messages', target.type === 'stream'
      ? { type: 'stream', to: target.streamId, topic: target.topic, content }
      : { type: 'direct', to: target.userIds, content })
  }

  /** Marks messages shown in the visible list as read: locally at once, on the server in batches. */
  markRead (ids: number[]): void {
    let changed = false
    for (const id of ids) {
      if (!this.unread.has(id)) continue
      this.unread.delete(id)
      this.pendingRead.add(id)
      changed = true
    }
    if (!changed) return
    this.view.messages = this.view.messages.map((m) => ids.includes(m.id) ? { ...m, flags: ['read'] } : m)
    this.emit()
    this.scheduleReadFlush(100)
  }

  private readonly visibleUnread = new Set<number>()
  /** The list reports what is on screen; reads count only while the tab is visible. */
  setOnScreen (id: number, shown: boolean): void {
    if (shown) this.visibleUnread.add(id)
    else this.visibleUnread.delete(id)
    if (shown && document.visibilityState === 'visible') this.markRead([id])
  }

  private flushVisibleReads (): void {
    this.markRead([...this.visibleUnread])
  }

  private scheduleReadFlush (ms: number): void {
    if (this.readTimer !== undefined) return
    this.readTimer = setTimeout(() => {
      this.readTimer = undefined
      const ids = [...this.pendingRead]
      this.pendingRead.clear()
      if (ids.length === 0) return
      this.readsInFlight++
      api.post('/messages/flags', { messages: ids, op: 'add', flag: 'read' }).catch((err: unknown) => {
        // Retried after the next successful poll; a server without flags (404) is simply not told.
        if (err instanceof ApiError && err.transient) for (const id of ids) this.pendingRead.add(id)
      }).finally(() => { this.readsInFlight-- })
    }, ms)
  }

  /** Called on each keystroke in the compose box; sends start (renewed) and, after a pause, stop. */
  typingActivity (target: ComposeTarget | null): void {
    if (target === null || !this.typingSupported) return
    const key = target.type === 'stream' ? topicKey(target.streamId, target.topic) : dmKey(target.userIds)
    const now = Date.now()
    if (this.typingSent === null || this.typingSent.key !== key || now - this.typingSent.at > TYPING_RENEW_MS) {
      if (this.typingSent !== null && this.typingSent.key !== key) this.typingStop()
      this.typingSent = { key, at: now }
      this.postTyping('start', target)
    }
    clearTimeout(this.typingStopTimer)
    this.typingStopTimer = setTimeout(() => { this.typingStop() }, TYPING_IDLE_MS)
    this.lastTypingTarget = target
  }

  private lastTypingTarget: ComposeTarget | null = null

  typingStop (): void {
    clearTimeout(this.typingStopTimer)
    if (this.typingSent === null || this.lastTypingTarget === null) return
    this.typingSent = null
    this.postTyping('stop', this.lastTypingTarget)
  }

  private postTyping (op: 'start' | 'stop', target: ComposeTarget): void {
    const params = target.type === 'stream'
      ? { op, type: 'stream', stream_id: target.streamId, topic: target.topic }
      : { op, type: 'direct', to: target.userIds.filter((id) => id !== this.me.user_id) }
    api.post('/typing', params).catch((err: unknown) => {
      if (err instanceof ApiError && err.status === 404) this.typingSupported = false
    })
  }

  /** The names typing in a conversation (by key), other than me. */
  typingIn (key: string): string[] {
    const who = this.typing.get(key)
    if (who === undefined) return []
    const now = Date.now()
    return [...who].filter(([, until]) => until > now).map(([id]) => this.users.get(id)?.full_name ?? '?')
  }

  private async reportPresence (): Promise<void> {
    try {
      await api.post('/users/me/presence', { status: document.visibilityState === 'visible' ? 'active' : 'idle' })
    } catch {
      // the next report will do
    }
  }

  /** 'active', 'idle' or 'offline' from the last report (Zulip's 140 s window). */
  presenceOf (userId: number): 'active' | 'idle' | 'offline' {
    const p = this.presence.get(userId)
    if (p === undefined || Date.now() / 1000 - p.timestamp > 140) return 'offline'
    return p.status
  }
}

function backoff (attempt: number): number {
  const base = Math.min(8000, 250 * 2 ** attempt)
  return base / 2 + Math.random() * base / 2
}

function sortStreams (streams: Stream[]): Stream[] {
  return [...streams].sort((a, b) => a.name.localeCompare(b.name))
}

/** Merges `add` into the id-sorted `list`, dropping duplicates. */
function insertSorted (list: Message[], add: Message[]): Message[] {
  if (add.length === 0) return list
  const byId = new Map(list.map((m) => [m.id, m]))
  for (const m of add) if (!byId.has(m.id)) byId.set(m.id, m)
  return [...byId.values()].sort((a, b) => a.id - b.id)
}
