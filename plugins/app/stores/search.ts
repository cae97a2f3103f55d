// Full-text search (the `search` narrow): the one tokenizer that writes messages.search_text,
// the index queries built from a search operand for SQLite FTS5 and PostgreSQL tsquery, and
// the same match in JavaScript for live events. No imports: migrations use it too.

/** Longer words are cut to this many characters (PostgreSQL drops words over 2047 bytes from its index). */
export const TOKEN_MAX = 200

/**
 * A token: one character of a script written without spaces between words (Chinese, Japanese:
 * each character is a word of its own, and a search is a phrase of them), or a run of letters,
 * digits and combining marks of any other script.
 */
const TOKENS = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|(?:(?![\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}])[\p{L}\p{N}\p{M}])+/gu

/**
 * The words of a text as search sees them: lower-cased, compatibility forms folded (full-width
 * letters, ligatures), Latin accents removed (café → cafe), split at anything not a letter, digit
 * or combining mark, and each Chinese or Japanese character on its own.
 */
export function searchTokens (text: string): string[] {
  const folded = text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').normalize('NFC').toLowerCase()
  const tokens = folded.match(TOKENS) ?? []
  return tokens.map((t) => t.length > TOKEN_MAX ? [...t].slice(0, TOKEN_MAX).join('') : t)
}

/**
 * What messages.search_text holds: the tokens of topic and source, one space between each.
 * The indexes (FTS5's unicode61, PostgreSQL's `simple` parser) split it at the spaces into
 * exactly these tokens, so both databases and the JavaScript match below see the same words.
 */
export function searchText (topic: string, markdown: string): string {
  return searchTokens(`${topic}\n${markdown}`).join(' ')
}

/**
 * A search operand as words to find, each a list of tokens: "foo-bar 你好" → [[foo, bar], [你, 好]].
 * A word of punctuation only has no tokens and is left out; null when every word was left out
 * (the search then matches nothing), [] when the operand is blank (no search at all).
 */
export function searchWords (operand: string): string[][] | null {
  const words = operand.split(/\s+/).filter((w) => w !== '')
  const tokenized = words.map(searchTokens).filter((ts) => ts.length > 0)
  return words.length > 0 && tokenized.length === 0 ? null : tokenized
}

/**
 * An FTS5 query: every word must appear, each a phrase of its tokens whose last token is a
 * prefix ("foo bar"*). Tokens hold letters, digits and marks only, so nothing in them is FTS5
 * syntax; the quotes make even AND, OR, NOT and NEAR plain words.
 */
export function ftsQuery (words: string[][]): string {
  return words.map((w) => `"${w.join(' ')}"*`).join(' ')
}

/** The same as a PostgreSQL tsquery for to_tsquery('simple', …): 'foo' <-> 'bar':* & 'baz':*. */
export function tsQuery (words: string[][]): string {
  return words.map((w) => `${w.map((t) => `'${t}'`).join(' <-> ')}:*`).join(' & ')
}

/** Whether `tokens` has `word` at some position: its tokens in a row, the last one as a prefix. */
function hasPhrase (tokens: string[], word: string[]): boolean {
  const last = word.length - 1
  for (let i = 0; i + last < tokens.length; i++) {
    let j = 0
    while (j < last && tokens[i + j] === word[j]) j++
    if (j === last && (tokens[i + last] as string).startsWith(word[last] as string)) return true
  }
  return false
}

/** The search in JavaScript, as the indexes answer it: every word of `operand` in the topic or source. */
export function matchesSearch (operand: string, topic: string, markdown: string): boolean {
  const words = searchWords(operand)
  if (words === null) return false
  if (words.length === 0) return true
  const tokens = searchTokens(`${topic}\n${markdown}`)
  return words.every((w) => hasPhrase(tokens, w))
}
