// The `alertmanager` integration: Prometheus Alertmanager's webhook_config notifications,
// one message per notification of an alert group, its topic the alert's name.
import { Type, type Static } from 'typebox'
import { event, integration, type EventHandler } from '../../plugins/app/webhooks/integration.js'
import { code, link } from './markdown.js'

const Labels = Type.Record(Type.String(), Type.String())

const AlertSchema = Type.Object({
  status: Type.String(),
  labels: Labels,
  annotations: Type.Optional(Labels),
  generatorURL: Type.Optional(Type.String())
})
type Alert = Static<typeof AlertSchema>

// https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
const NotificationSchema = Type.Object({
  alerts: Type.Array(AlertSchema),
  groupLabels: Type.Optional(Labels),
  commonLabels: Type.Optional(Labels),
  // Alerts left out by the receiver's max_alerts (Alertmanager 0.22+).
  truncatedAlerts: Type.Optional(Type.Integer({ minimum: 0 }))
})
type Notification = Static<typeof NotificationSchema>

function count (n: number): string {
  return n === 1 ? '1 alert' : `${n} alerts`
}

/** One alert: what it says (summary, description, or its name), linked to the expression that raised it, and where. */
function line (a: Alert): string {
  const said = a.annotations?.summary ?? a.annotations?.description ?? a.labels.alertname ?? '(unnamed alert)'
  const where = a.labels.instance
  return `* ${link(said, a.generatorURL)}${where === undefined || where === '' ? '' : ` on ${code(where)}`}`
}

function section (title: string, alerts: Alert[], more: number): string {
  const lines = alerts.map(line)
  if (more > 0) lines.push(`* and ${more} more`)
  return [`${title}: ${count(alerts.length + more)}`, ...lines].join('\n')
}

/**
 * A group's notification. Its status is the group's: a firing group may carry alerts that
 * have resolved since the last notification (with send_resolved), listed apart. The
 * alerts Alertmanager truncated count with the group's own status.
 */
function notification (status: 'firing' | 'resolved'): EventHandler<typeof NotificationSchema> {
  return event(NotificationSchema, (p: Notification) => {
    const more = p.truncatedAlerts ?? 0
    const firing = p.alerts.filter((a) => a.status !== 'resolved')
    const resolved = p.alerts.filter((a) => a.status === 'resolved')
    const sections: string[] = []
    if (firing.length > 0 || status === 'firing') sections.push(section('🚨 **Firing**', firing, status === 'firing' ? more : 0))
    if (resolved.length > 0 || status === 'resolved') sections.push(section('✅ **Resolved**', resolved, status === 'resolved' ? more : 0))
    const topic = p.commonLabels?.alertname ?? p.groupLabels?.alertname ?? 'Alertmanager'
    return { topic, content: sections.join('\n\n') }
  })
}

export const alertmanager = integration({
  name: 'alertmanager',
  displayName: 'Alertmanager',
  docsUrl: 'https://prometheus.io/docs/alerting/latest/configuration/#webhook_config',
  eventSource: {
    field: 'status',
    read: (p) => typeof p === 'object' && p !== null && 'status' in p && typeof p.status === 'string' ? p.status : undefined
  },
  events: {
    firing: notification('firing'),
    resolved: notification('resolved')
  }
})
