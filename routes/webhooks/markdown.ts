// Markdown helpers for integration formatters: sender text placed inside Markdown syntax
// (a link's text, its target) must not be able to end that syntax early.

/** Text for inside `[…]`: brackets and backslashes escaped, newlines folded. */
export function linkText (text: string): string {
  return text.replace(/[\\[\]]/g, '\\$&').replace(/\s*\n\s*/g, ' ')
}

/**
 * A link target: http(s) only (a sender's `javascript:` stays text), with the characters
 * that would end `(…)` percent-encoded. Undefined when the URL is not one to link to.
 */
export function linkTarget (url: string): string | undefined {
  let parsed: URL
  try { parsed = new URL(url) } catch { return undefined }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined
  return parsed.href.replace(/[()<>\s]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'))
}

/** `[text](url)`, or the escaped text alone when the URL is not http(s). */
export function link (text: string, url: string | null | undefined): string {
  const target = url === null || url === undefined ? undefined : linkTarget(url)
  return target === undefined ? linkText(text) : `[${linkText(text)}](${target})`
}

/** A code fence longer than any run of backticks in the text, so the block cannot be closed early. */
export function fence (text: string): string {
  return '`'.repeat(Math.max(3, longestTicks(text) + 1))
}

function longestTicks (text: string): number {
  let longest = 0
  for (const m of text.matchAll(/`+/g)) longest = Math.max(longest, m[0].length)
  return longest
}

/** Inline code for a sender's identifier (a branch, a SHA): a backtick run longer than any inside. */
export function code (text: string): string {
  const ticks = '`'.repeat(longestTicks(text) + 1)
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : ''
  return `${ticks}${pad}${text}${pad}${ticks}`
}
