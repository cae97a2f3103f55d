// Narrows: what the message list shows, as the URL hash, as the API's `narrow`, and as a
// test on a live message (so events land in the right view).
import type { Message, Narrow } from './types'

/** The other participants of a direct message, sorted (just `me` for notes to self). */
export function dmPeers (m: Message, me: number): number[] {
  const ids = Array.isArray(m.display_recipient) ? m.display_recipient.map((r) => r.id) : [m.sender_id]
  const others = [...new Set(ids)].filter((id) => id !== me).sort((a, b) => a - b)
  return others.length === 0 ? [me] : others
}

export const dmKey = (peers: number[]): string => 'd:' + [...peers].sort((a, b) => a - b).join(',')
export const topicKey = (streamId: number, topic: string): string => `t:${streamId}:${topic.toLowerCase()}`

/** The conversation a message belongs to: a topic or a direct conversation. */
export function conversationKey (m: Message, me: number): string {
  return m.type === 'stream' ? topicKey(m.stream_id ?? 0, m.topic) : dmKey(dmPeers(m, me))
}

export function narrowKey (n: Narrow): string {
  switch (n.kind) {
    case 'all': return 'all'
    case 'stream': return `s:${n.streamId}`
    case 'topic': return topicKey(n.streamId, n.topic)
    case 'dm': return dmKey(n.userIds)
    case 'search': return `q:${n.query}`
  }
}

export function apiNarrow (n: Narrow, me: number): Array<{ operator: string, operand: unknown }> {
  switch (n.kind) {
    case 'all': return []
    case 'stream': return [{ operator: 'stream', operand: n.streamId }]
    case 'topic': return [{ operator: 'stream', operand: n.streamId }, { operator: 'topic', operand: n.topic }]
    case 'dm': {
      const others = n.userIds.filter((id) => id !== me)
      return [{ operator: 'dm', operand: others.length === 0 ? [me] : others }]
    }
    case 'search': return [{ operator: 'search', operand: n.query }]
  }
}

/** Whether a newly arrived message belongs in the list of `n` (search lists are not live). */
export function matches (n: Narrow, m: Message, me: number): boolean {
  switch (n.kind) {
    case 'all': return true
    case 'stream': return m.type === 'stream' && m.stream_id === n.streamId
    case 'topic': return m.type === 'stream' && m.stream_id === n.streamId && m.topic.toLowerCase() === n.topic.toLowerCase()
    case 'dm': return m.type === 'direct' && dmKey(dmPeers(m, me)) === dmKey(n.userIds)
    case 'search': return false
  }
}

export function narrowToHash (n: Narrow): string {
  switch (n.kind) {
    case 'all': return '#all'
    case 'stream': return `#narrow/stream/${n.streamId}`
    case 'topic': return `#narrow/stream/${n.streamId}/topic/${encodeURIComponent(n.topic)}`
    case 'dm': return `#narrow/dm/${n.userIds.join(',')}`
    case 'search': return `#narrow/search/${encodeURIComponent(n.query)}`
  }
}

export function hashToNarrow (hash: string): Narrow {
  const parts = hash.replace(/^#/, '').split('/')
  const id = (s: string | undefined): number => Number.parseInt(s ?? '', 10)
  try {
    if (parts[0] === 'narrow') {
      if (parts[1] === 'stream' && Number.isInteger(id(parts[2]))) {
        return parts[3] === 'topic' && parts[4] !== undefined
          ? { kind: 'topic', streamId: id(parts[2]), topic: decodeURIComponent(parts[4]) }
          : { kind: 'stream', streamId: id(parts[2]) }
      }
      if (parts[1] === 'dm' && parts[2] !== undefined) {
        const ids = parts[2].split(',').map(id).filter(Number.isInteger)
        if (ids.length > 0) return { kind: 'dm', userIds: ids.sort((a, b) => a - b) }
      }
      if (parts[1] === 'search' && parts[2] !== undefined) return { kind: 'search', query: decodeURIComponent(parts.slice(2).join('/')) }
    }
  } catch {
    // a malformed hash shows everything
  }
  return { kind: 'all' }
}
