// The `json` integration: any JSON, shown pretty-printed in a code block (SPEC §10).
import { Type } from 'typebox'
import { event, integration } from '../../plugins/app/webhooks/integration.js'

/** A fence longer than any run of backticks in the text, so the block cannot be closed early. */
function fence (text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length))
  return '`'.repeat(Math.max(3, longest + 1))
}

export const json = integration({
  name: 'json',
  displayName: 'JSON formatter',
  docsUrl: 'https://www.json.org/',
  eventSource: { fixed: 'json' },
  events: {
    json: event(Type.Unknown(), (payload) => {
      const text = JSON.stringify(payload, null, 2)
      const f = fence(text)
      return { topic: 'JSON', content: `${f}json\n${text}\n${f}` }
    })
  }
})
