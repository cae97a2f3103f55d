// The `alertmanager` integration: Prometheus Alertmanager's webhook notifications, by group status.
import t from 'tap'
import { rejection } from '../helper.js'
import { readFileSync } from 'node:fs'
import { EventFilter, processDelivery } from '../../plugins/app/webhooks/integration.js'
import { alertmanager } from '../../routes/webhooks/alertmanager.js'

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../fixtures/webhooks/alertmanager/${name}.json`, import.meta.url), 'utf8'))
const deliver = (payload: unknown, options: { topic?: string, filter?: EventFilter } = {}) =>
  processDelivery(alertmanager, payload, { headers: {} }, options)
const message = (eventType: string, topic: string, content: string) => ({ kind: 'message', eventType, message: { topic, content } })

const CPU_GRAPH = 'http://prometheus.example.com:9090/graph?g0.expr=node_load5+%3E+0.9&g0.tab=1'
const UP_GRAPH = 'http://prometheus.example.com:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1'

t.test('one firing alert: its summary linked to its expression, on its instance, in the topic of its name', async (t) => {
  t.same(deliver(fixture('firing__one_alert')), message('firing', 'HighCPULoad', [
    '🚨 **Firing**: 1 alert',
    `* [CPU load above 90% on db-1.example.com:9100](${CPU_GRAPH}) on \`db-1.example.com:9100\``
  ].join('\n')))
})

t.test('three firing alerts: one bullet each, by summary, else description, else alert name', async (t) => {
  t.same(deliver(fixture('firing__three_alerts')), message('firing', 'InstanceDown', [
    '🚨 **Firing**: 3 alerts',
    `* [Instance web-1:9100 down](${UP_GRAPH}) on \`web-1:9100\``,
    `* [web-2:9100 of job node has been down for more than 5 minutes.](${UP_GRAPH}) on \`web-2:9100\``,
    `* [InstanceDown](${UP_GRAPH}) on \`cache-1:9100\``
  ].join('\n')))
})

t.test('a firing group lists the alerts resolved since the last notification apart', async (t) => {
  t.same(deliver(fixture('firing__some_resolved')), message('firing', 'InstanceDown', [
    '🚨 **Firing**: 1 alert',
    `* [Instance web-1:9100 down](${UP_GRAPH}) on \`web-1:9100\``,
    '',
    '✅ **Resolved**: 1 alert',
    `* [Instance cache-1:9100 down](${UP_GRAPH}) on \`cache-1:9100\``
  ].join('\n')))
})

t.test('one resolved alert', async (t) => {
  t.same(deliver(fixture('resolved__one_alert')), message('resolved', 'HighCPULoad', [
    '✅ **Resolved**: 1 alert',
    `* [CPU load above 90% on db-1.example.com:9100](${CPU_GRAPH}) on \`db-1.example.com:9100\``
  ].join('\n')))
})

t.test('truncated alerts count in the total and close the list as "and N more"; no common alert name is the topic "Alertmanager"', async (t) => {
  t.same(deliver(fixture('firing__truncated')), message('firing', 'Alertmanager', [
    '🚨 **Firing**: 5 alerts',
    '* [Disk /var/lib/postgresql on db-2 is 97% full](http://prometheus.example.com:9090/graph?g0.expr=disk_used_ratio+%3E+0.95&g0.tab=1) on `db-2:9100`',
    '* [5xx rate above 5% on the API](http://prometheus.example.com:9090/graph?g0.expr=api_5xx_ratio+%3E+0.05&g0.tab=1)',
    '* and 3 more'
  ].join('\n')))
})

t.test('the topic is the group label alertname when the alerts share no label of it; the topic parameter overrides', async (t) => {
  const p = { ...fixture('firing__one_alert'), commonLabels: {} }
  t.equal((deliver(p) as { message: { topic: string } }).message.topic, 'HighCPULoad')
  t.equal((deliver(p, { topic: 'prod alerts' }) as { message: { topic: string } }).message.topic, 'prod alerts')
})

t.test('sender text cannot break its link, and a generatorURL that is not http(s) is not linked', async (t) => {
  t.same(deliver({
    status: 'firing',
    alerts: [{ status: 'firing', labels: { alertname: 'X', instance: 'a`b' }, annotations: { summary: 'a ](javascript:x) [b\nc' }, generatorURL: 'javascript:alert(1)' }]
  }), message('firing', 'Alertmanager', '🚨 **Firing**: 1 alert\n* a \\](javascript:x) \\[b c on ``a`b``'))
})

t.test('an alert with no annotations, URL or name still has a line', async (t) => {
  t.same(deliver({ status: 'resolved', alerts: [{ status: 'resolved', labels: {} }] }),
    message('resolved', 'Alertmanager', '✅ **Resolved**: 1 alert\n* (unnamed alert)'))
})

t.test('a payload without a status is 400 naming Alertmanager', async (t) => {
  for (const payload of [{ alerts: [] }, { status: 7, alerts: [] }, [], null, 'firing']) {
    const err = rejection(() => deliver(payload))
    t.equal(err.statusCode, 400, JSON.stringify(payload))
    t.equal(err.message, "The Alertmanager webhook cannot read this payload: it has no event type in 'status'", JSON.stringify(payload))
  }
})

t.test('a payload without alerts is 400 naming Alertmanager', async (t) => {
  const err = rejection(() => deliver({ status: 'firing' }))
  t.equal(err.statusCode, 400)
  t.equal(err.message, 'The Alertmanager webhook cannot read this payload: must have required properties alerts')
  const bad = rejection(() => deliver({ status: 'firing', alerts: [{ status: 'firing', labels: { severity: 3 } }] }))
  t.equal(bad.message, 'The Alertmanager webhook cannot read this payload: /alerts/0/labels/severity must be string')
})

t.test('a status other than firing or resolved is unsupported', async (t) => {
  t.same(deliver({ ...fixture('firing__one_alert'), status: 'pending' }), { kind: 'unsupported', eventType: 'pending' })
})

t.test('only_events ["resolved"] filters a firing notification', async (t) => {
  const filter = new EventFilter(['resolved'], undefined)
  t.same(deliver(fixture('firing__one_alert'), { filter }), { kind: 'filtered', eventType: 'firing' })
  t.equal(deliver(fixture('resolved__one_alert'), { filter }).kind, 'message')
})
