// The `json` integration: any JSON, shown pretty-printed in a code block (SPEC §10).
import { Type } from 'typebox'
import { event, integration } from '../../plugins/app/webhooks/integration.js'

import { fence } from './markdown.js'

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
