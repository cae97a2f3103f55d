// Message Markdown (SPEC §6): safe HTML, and the plain-line fast path agreeing with markdown-it.
import t from 'tap'
import fc from 'fast-check'
import MarkdownIt from 'markdown-it'
import { renderMarkdown } from '../plugins/app/stores/markdown.js'

const reference = new MarkdownIt({ html: false, linkify: true, breaks: true })

t.test('raw HTML never passes through', async (t) => {
  t.equal(renderMarkdown('<script>alert(1)</script>'), '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>')
  t.equal(renderMarkdown('<img src=x onerror=alert(1)>'), '<p>&lt;img src=x onerror=alert(1)&gt;</p>')
})

t.test('Markdown and links are rendered, links open in a new tab', async (t) => {
  t.equal(renderMarkdown('**bold** and `code`'), '<p><strong>bold</strong> and <code>code</code></p>')
  t.match(renderMarkdown('see https://example.com'), /<a href="https:\/\/example.com" target="_blank" rel="noopener noreferrer">/)
})

t.test('the plain-line fast path renders exactly what markdown-it renders', async (t) => {
  const chars = [...'abcXYZ019 ,?\'éßΩж日本한 ', '  ']
  fc.assert(fc.property(fc.array(fc.constantFrom(...chars), { maxLength: 40 }), (parts) => {
    const line = parts.join('')
    return renderMarkdown(line) === reference.render(line).trimEnd()
  }), { numRuns: 2000 })
  // Lines the fast path must leave to markdown-it.
  for (const line of ['1. one', '- item', '# title', 'a & b', '  indented', 'trailing  ', '_em_', 'a\nb']) {
    t.equal(renderMarkdown(line), reference.render(line).trimEnd(), line)
  }
})
