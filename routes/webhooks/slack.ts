// The `slack` integration: Slack's incoming-webhook format (`text`, Block Kit `blocks`,
// legacy `attachments`), its mrkdwn turned into Markdown, as Zulip's slack_incoming does.
import { Type, type Static, type TSchema } from 'typebox'
import { event, integration } from '../../plugins/app/webhooks/integration.js'
import { fence, link, linkTarget, linkText } from './markdown.js'

// ---- mrkdwn → Markdown (https://api.slack.com/reference/surfaces/formatting) ----

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>' }

/** Slack escapes exactly these three in message text; one pass, so `&amp;lt;` stays `&lt;`. */
function decode (text: string): string {
  return text.replace(/&(amp|lt|gt);/g, (m, name: string) => ENTITIES[name] ?? m)
}

/** A URL shown as itself: every character literal (no emphasis inside it), linked when http(s). */
function urlText (url: string): string {
  const literal = linkText(url).replace(/[*_~`]/g, '\\$&')
  const target = linkTarget(url)
  return target === undefined ? literal : `[${literal}](${target})`
}

const SPECIAL = new Set(['here', 'channel', 'everyone'])
const SCHEME = /^[a-z][a-z0-9+.-]*:/i

/** `<…>`: a link, a user or channel mention, or a special mention; anything else stays as written. */
function angle (inner: string): string {
  const bar = inner.indexOf('|')
  const target = bar === -1 ? inner : inner.slice(0, bar)
  const label = bar === -1 || bar === inner.length - 1 ? undefined : decode(inner.slice(bar + 1))
  if (target.startsWith('@')) return '@' + (label ?? decode(target.slice(1)))
  if (target.startsWith('#')) return '#' + (label ?? decode(target.slice(1)))
  if (target.startsWith('!')) {
    const [command = '', id] = target.slice(1).split('^')
    if (SPECIAL.has(command)) return '@' + command
    // <!subteam^ID|@team>, <!date^…|fallback>: Slack's own text for them is the label.
    return label ?? '@' + (id ?? command)
  }
  if (SCHEME.test(target)) return label === undefined ? urlText(decode(target)) : link(label, decode(target))
  return decode(`<${inner}>`)
}

type Piece = { kind: 'block', code: string } | { kind: 'inline', markdown: string }

// Code first (nothing converts inside it), then `<…>`, then bare URLs, whose `_` and `*`
// are not emphasis; a URL's trailing punctuation is the sentence's.
const TOKEN = /```([\s\S]*?)```|`([^`\n]+)`|<([^<>\n]+)>|(https?:\/\/[^\s<>*~`]+?)(?=[.,;:!?)'"_]*(?:[\s<>*~`]|$))/g

// Slack's emphasis: the marks hug their text (no space inside), on one line, with no
// letter or digit outside them. A doubled mark (`**b**`, `~~s~~`) is left alone: it is
// Markdown already, and `~~~` at a line's start would open a code fence.
const BOLD = /(?<![\p{L}\p{N}*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\p{L}\p{N}*])/gu
const ITALIC = /(?<![\p{L}\p{N}_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\p{L}\p{N}_])/gu
const STRIKE = /(?<![\p{L}\p{N}~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\p{L}\p{N}~])/gu

/**
 * Slack mrkdwn as Markdown: `*b*` → `**b**`, `_i_` → `*i*`, `~s~` → `~~s~~`, `<url|text>` →
 * a link (http(s) only), mentions as plain `@name` / `#channel`, entities decoded. Code
 * spans and blocks keep their text (entities decoded, as Slack shows them). Other Markdown
 * in the text passes through, as in Zulip's slack_incoming.
 */
export function mrkdwn (text: string): string {
  // Every `<…>` of the text becomes a piece, so `<n>` in the working string is always ours.
  const pieces: Piece[] = []
  const hold = (p: Piece): string => `<${pieces.push(p) - 1}>`
  const inline = (markdown: string): string => hold({ kind: 'inline', markdown })
  let s = text.replace(TOKEN, (_m, block?: string, span?: string, bracketed?: string, bare?: string) => {
    if (block !== undefined) return hold({ kind: 'block', code: decode(block).replace(/^\n/, '').replace(/\n$/, '') })
    if (span !== undefined) return inline('`' + decode(span) + '`')
    if (bracketed !== undefined) return inline(angle(bracketed))
    return inline(urlText(decode(bare ?? '')))
  })
  s = s.replace(BOLD, (_m, t: string) => inline('**') + t + inline('**'))
  s = s.replace(ITALIC, (_m, t: string) => inline('*') + t + inline('*'))
  s = s.replace(STRIKE, (_m, t: string) => inline('~~') + t + inline('~~'))

  // A code block is a fence on lines of its own, whatever stood around it in Slack.
  let out = ''
  let afterBlock = false
  const append = (md: string): void => {
    if (afterBlock) md = md.replace(/^[ \t]+/, '')
    if (md === '') return
    if (afterBlock && !md.startsWith('\n')) out += '\n'
    afterBlock = false
    out += md
  }
  s.split(/<(\d+)>/).forEach((part, i) => {
    if (i % 2 === 0) return append(decode(part))
    const piece = pieces[Number(part)]
    if (piece === undefined) return
    if (piece.kind === 'inline') {
      // `Alert!<url|here>`: a `!` the sender wrote before the link must not make it an image.
      const bang = /(\\*)!$/.exec(out)
      if (piece.markdown.startsWith('[') && bang !== null && (bang[1] ?? '').length % 2 === 0) out = out.slice(0, -1) + '\\!'
      return append(piece.markdown)
    }
    const f = fence(piece.code)
    out = out.replace(/[ \t]+$/, '')
    append((out === '' || out.endsWith('\n') ? '' : '\n') + `${f}\n${piece.code}\n${f}`)
    afterBlock = true
  })
  return out
}

// ---- the payload (https://api.slack.com/messaging/webhooks) ----

/** A field Slack may omit or send as null. */
const maybe = <S extends TSchema>(s: S) => Type.Optional(Type.Union([s, Type.Null()]))

/** A composition object: `plain_text` shown as written, `mrkdwn` converted. */
const TextObjectSchema = Type.Object({ type: Type.String(), text: Type.String() })

const BlockSchema = Type.Object({
  type: Type.String(),
  // A section's or header's text object; the `markdown` block's is a string of Markdown.
  text: Type.Optional(Type.Union([TextObjectSchema, Type.String()])),
  fields: Type.Optional(Type.Array(TextObjectSchema)),
  // A context block's text objects and images; other blocks' elements are not read.
  elements: Type.Optional(Type.Array(Type.Union([TextObjectSchema, Type.Object({ type: Type.String() })]))),
  image_url: Type.Optional(Type.String()),
  alt_text: Type.Optional(Type.String())
})
type Block = Static<typeof BlockSchema>

/** A legacy attachment (https://api.slack.com/reference/messaging/attachments). */
const AttachmentSchema = Type.Object({
  fallback: maybe(Type.String()),
  pretext: maybe(Type.String()),
  title: maybe(Type.String()),
  title_link: maybe(Type.String()),
  text: maybe(Type.String()),
  fields: maybe(Type.Array(Type.Object({ title: maybe(Type.String()), value: maybe(Type.String()) }))),
  blocks: maybe(Type.Array(BlockSchema))
})
type Attachment = Static<typeof AttachmentSchema>

const common = {
  // Zulip's slack_incoming makes the channel the topic: `#alerts` → `alerts`.
  channel: maybe(Type.String()),
  blocks: maybe(Type.Array(BlockSchema)),
  attachments: maybe(Type.Array(AttachmentSchema))
}
// Something to show: a text, or blocks, or attachments (Slack refuses a message without).
const Message = Type.Union([
  Type.Object({ ...common, text: Type.String({ minLength: 1 }) }),
  Type.Object({ ...common, text: maybe(Type.String()), blocks: Type.Array(BlockSchema, { minItems: 1 }) }),
  Type.Object({ ...common, text: maybe(Type.String()), attachments: Type.Array(AttachmentSchema, { minItems: 1 }) })
])

function textObject (t: Static<typeof TextObjectSchema>): string {
  return t.type === 'plain_text' ? t.text : mrkdwn(t.text)
}

function joined (pieces: string[], separator = '\n\n'): string {
  return pieces.map((p) => p.trim()).filter((p) => p !== '').join(separator)
}

/** One Block Kit block (https://api.slack.com/reference/block-kit/blocks); interactive and rich-text blocks show nothing. */
function block (b: Block): string {
  const text = typeof b.text === 'string' ? (b.type === 'markdown' ? b.text : mrkdwn(b.text)) : b.text === undefined ? '' : textObject(b.text)
  switch (b.type) {
    case 'section':
    case 'markdown':
      return joined([text, ...(b.fields ?? []).map(textObject)])
    case 'header':
      return text.trim() === '' ? '' : `**${text.replace(/\s+/g, ' ').trim()}**`
    case 'context':
      return joined((b.elements ?? []).map((e) => 'text' in e && typeof e.text === 'string' ? textObject({ type: e.type, text: e.text }) : ''), ' ')
    case 'divider':
      return '---'
    case 'image':
      return b.image_url === undefined ? '' : link(b.alt_text ?? 'image', b.image_url)
  }
  return ''
}

function attachment (a: Attachment): string {
  const fields = (a.fields ?? []).map((f) => {
    const title = f.title ?? ''
    const value = mrkdwn(f.value ?? '')
    return title === '' ? value : value === '' ? `**${title}**` : `**${title}**: ${value}`
  })
  const shown = joined([
    mrkdwn(a.pretext ?? ''),
    a.title === null || a.title === undefined || a.title === '' ? '' : `**${link(a.title, a.title_link)}**`,
    mrkdwn(a.text ?? ''),
    joined(fields, '\n'),
    joined((a.blocks ?? []).map(block))
  ])
  // The fallback is the attachment's plain-text summary: shown when nothing else is.
  return shown !== '' ? shown : (a.fallback ?? '')
}

export const slack = integration({
  name: 'slack',
  displayName: 'Slack',
  docsUrl: 'https://api.slack.com/messaging/webhooks',
  eventSource: { fixed: 'message' },
  events: {
    message: event(Message, (p) => {
      // With blocks, Slack shows them and keeps `text` for notifications; `username` and
      // `icon_emoji` style Slack's sender, and here the bot is the sender.
      const main = joined((p.blocks ?? []).map(block))
      const content = joined([main !== '' ? main : mrkdwn(p.text ?? ''), ...(p.attachments ?? []).map(attachment)])
      if (content === '') return null
      // Zulip's slack_incoming: no `topic` parameter and no channel is "(no topic)".
      const topic = (p.channel ?? '').replace(/^[#@]/, '').trim()
      return { topic: topic === '' ? '(no topic)' : topic, content }
    })
  }
})
