// A message as the API shows it (SPEC §6): the one definition the server and the web app
// (web/types.ts) both read, so it imports nothing.

export interface DisplayRecipient { id: number, email: string, full_name: string }

/** A message as the API shows it (SPEC §6). */
export interface Message {
  id: number
  sender_id: number
  sender_email: string
  sender_full_name: string
  type: 'stream' | 'direct'
  stream_id?: number
  /** The stream's name, or every participant of a direct message (sender included). */
  display_recipient: string | DisplayRecipient[]
  topic: string
  content: string
  content_markdown: string
  timestamp: number
  last_edit_timestamp: number | null
  client: string
}

/** The only flag Parley keeps (Zulip has more: starred, mentioned …). */
export type Flag = 'read'

/** A message as a reader gets it from GET /messages: with the reader's flags. */
export interface FlaggedMessage extends Message {
  /** `['read']`, or `[]` while the message is unread for the reader. */
  flags: Flag[]
}
