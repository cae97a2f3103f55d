// What the messages and search baselines (messages-baseline.ts, search-baseline.ts) share: the
// row of a page of messages read with the caller's unread state, and the answer built from it
// as Parley shapes GET /api/v1/messages, plus how a baseline child listens and stops.
import type { FastifyInstance } from 'fastify'
import type { Message } from '../plugins/app/stores/message-shape.js'

/** A row of PAGE_SELECT: the message's fields as the API names them (one definition, message-shape.ts), the stream's name and the unread bit. */
export interface MessageRow extends Omit<Message, 'stream_id' | 'display_recipient'> {
  stream_id: number
  stream_name: string
  unread: number
}

/**
 * SELECT … FROM messages m with the sender and stream joined; its first parameter is the reader
 * (a message is unread for them while a row of `unread` says so). Append WHERE, ORDER and LIMIT.
 */
export const PAGE_SELECT = `SELECT m.id, m.sender_id, u.email AS sender_email, u.full_name AS sender_full_name,
  m.type, m.stream_id, s.name AS stream_name, m.topic, m.content, m.content_markdown, m.timestamp, m.last_edit_timestamp, m.client,
  EXISTS (SELECT 1 FROM unread WHERE unread.message_id = m.id AND unread.user_id = ?) AS unread
  FROM messages m JOIN users u ON u.id = m.sender_id LEFT JOIN streams s ON s.id = m.stream_id`

/** The answer to a page of `numBefore` from rows read newest first, one more than asked (which tells whether it reaches the oldest message, as in Parley). */
export function pageAnswer (rows: MessageRow[], numBefore: number): unknown {
  const messages = rows.slice(0, numBefore).reverse().map((r) => ({
    id: r.id,
    sender_id: r.sender_id,
    sender_email: r.sender_email,
    sender_full_name: r.sender_full_name,
    type: r.type,
    stream_id: r.stream_id,
    display_recipient: r.stream_name,
    topic: r.topic,
    content: r.content,
    content_markdown: r.content_markdown,
    timestamp: r.timestamp,
    last_edit_timestamp: r.last_edit_timestamp,
    client: r.client,
    flags: r.unread === 1 ? [] : ['read']
  }))
  return { result: 'success', msg: '', data: { messages, found_anchor: false, found_newest: true, found_oldest: rows.length <= numBefore } }
}

/** Listens on a free port of 127.0.0.1, prints `listening <url>` (what children.ts waits for), and closes on SIGINT/SIGTERM. */
export async function listenAsChild (app: FastifyInstance, close: () => void = () => {}): Promise<void> {
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  process.stdout.write(`listening ${url}\n`)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { app.close().then(() => { close(); process.exit(0) }, () => process.exit(1)) })
  }
}
