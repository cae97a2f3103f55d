// `/integrations`: the incoming webhooks (SPEC §10) a third-party service can post to, each
// with the URL to configure there, read from the list in routes/webhooks/index.ts.
import { page } from '../../plugins/app/pages/pages.js'
import type { EventSource, Integration } from '../../plugins/app/webhooks/integration.js'
import { integrations } from '../webhooks/index.js'

/** Where a delivery's event type is read, as the page says it. */
export type SourceView = { kind: 'header' | 'field' | 'fixed', value: string }

export interface IntegrationView {
  name: string
  displayName: string
  docsUrl: string
  /** The event types the integration formats, in its own order. */
  events: string[]
  source: SourceView
  /** The webhook URL up to its query string; the page adds api_key, stream and topic. */
  endpoint: string
}

function sourceView (s: EventSource): SourceView {
  if ('header' in s) return { kind: 'header', value: s.header }
  if ('field' in s) return { kind: 'field', value: s.field }
  return { kind: 'fixed', value: s.fixed }
}

/** What the page shows of each integration; `externalUrl` is config's, without a trailing slash. */
export function integrationViews (list: Integration[], externalUrl: string): IntegrationView[] {
  return list.map((i) => ({
    name: i.name,
    displayName: i.displayName,
    docsUrl: i.docsUrl,
    events: Object.keys(i.events),
    source: sourceView(i.eventSource),
    endpoint: `${externalUrl}/api/v1/external/${i.name}`
  }))
}

export const integrationsPage = page({
  path: '/integrations',
  template: 'integrations',
  title: 'page.integrations.title',
  cache: true,
  handler: ({ app }) => ({ integrations: integrationViews(integrations, app.config.externalUrl) })
})
