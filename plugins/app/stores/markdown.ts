// Message Markdown → safe HTML (SPEC §6): markdown-it with raw HTML off, so no tag from a sender passes through.
import MarkdownIt from 'markdown-it'

const md = new MarkdownIt({ html: false, linkify: true, breaks: true })

// Links leave the app: open them in a new tab without giving the target page a handle on ours.
const defaultLinkOpen = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options))
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  const token = tokens[idx]
  if (token !== undefined) {
    token.attrSet('target', '_blank')
    token.attrSet('rel', 'noopener noreferrer')
  }
  return defaultLinkOpen(tokens, idx, options, env, self)
}

/**
 * One line of words with nothing Markdown, linkify or HTML escaping would act on
 * (no punctuation beyond , ? ' and no leading/trailing space): markdown-it would
 * answer `<p>line</p>`, so most chat lines skip its ~250 µs (docs/performance.md).
 * test/markdown.test.ts checks the two agree.
 */
const PLAIN = /^[A-Za-z0-9,?'\u00C0-\u024F\u0370-\u1FFF\u3040-\u9FFF\uAC00-\uD7AF](?:[A-Za-z0-9 ,?'\u00C0-\u024F\u0370-\u1FFF\u3040-\u9FFF\uAC00-\uD7AF]*[A-Za-z0-9,?'\u00C0-\u024F\u0370-\u1FFF\u3040-\u9FFF\uAC00-\uD7AF])?$/

export function renderMarkdown (source: string): string {
  if (source.length <= 2000 && PLAIN.test(source)) return `<p>${source}</p>`
  return md.render(source).trimEnd()
}

/** markdown-it compiles its linkify patterns on first use (~0.3 s): do it before the first sender waits. */
export function warmMarkdown (): void {
  md.render('https://example.com **warm** `up`')
}
