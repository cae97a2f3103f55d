// The /integrations page (SPEC §10, pages per §8): every integration of routes/webhooks/index.ts
// with its webhook URL, in every language, generic over the event source, escaped.
import t from 'tap'
import { Type } from 'typebox'
import { build } from './helper.js'
import { integrations } from '../routes/webhooks/index.js'
import { event, integration } from '../plugins/app/webhooks/integration.js'
import { integrationViews } from '../routes/pages/integrations.js'

// Two made-up integrations beside the real ones, added before the first render (pages are
// kept once rendered): one reading a header and one a payload field, with text to escape.
const hostile = integration({
  name: 'hostile',
  displayName: 'Evil <b>Corp</b> & "Sons"',
  docsUrl: 'https://example.com/docs?a="x"&b=<y>',
  eventSource: { header: 'X-Evil<Event>' },
  events: { 'push<script>': event(Type.Object({}), () => null), ping: event(Type.Object({}), () => null) }
})
const fielded = integration({
  name: 'fielded',
  displayName: 'Fielded',
  docsUrl: 'https://example.com/fielded',
  eventSource: { field: 'kind', read: () => undefined },
  events: { created: event(Type.Object({}), () => null) }
})
integrations.push(hostile, fielded)
t.teardown(() => { integrations.splice(integrations.indexOf(hostile), 2) })

const { app, createUser } = await build(t, { PARLEY_EXTERNAL_URL: 'https://chat.example.com/parley&co/' })
const base = 'https://chat.example.com/parley&amp;co/api/v1/external'

t.test('integrationViews: the URL, the event types and where the type is read, per integration', async (t) => {
  const views = integrationViews(integrations, 'https://x.example')
  t.same(views.find((v) => v.name === 'json'), {
    name: 'json',
    displayName: 'JSON formatter',
    docsUrl: 'https://www.json.org/',
    events: ['json'],
    source: { kind: 'fixed', value: 'json' },
    endpoint: 'https://x.example/api/v1/external/json'
  })
  t.same(views.find((v) => v.name === 'hostile')?.source, { kind: 'header', value: 'X-Evil<Event>' })
  t.same(views.find((v) => v.name === 'fielded')?.source, { kind: 'field', value: 'kind' })
})

t.test('/integrations answers 200 in English and lists every integration with its webhook URL', async (t) => {
  const res = await app.inject({ url: '/integrations' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(res.headers['content-language'], 'en')
  t.match(res.payload, '<html lang="en">')
  t.match(res.payload, '<h1>Incoming webhooks</h1>')
  t.match(res.payload, '<a href="/integrations" aria-current="page">Integrations</a>', 'the header links the page, marked current')
  for (const i of integrations) {
    t.match(res.payload, `<article class="card integration" id="${i.name}">`, `${i.name} has its card`)
    t.match(res.payload, `${base}/${i.name}?api_key=<var>API key</var>&amp;stream=<var>stream name</var>`, `${i.name}'s URL, placeholders marked`)
  }
  t.match(res.payload, 'Any JSON payload, shown pretty-printed', 'json is described')
  t.match(res.payload, '<dd>the HTTP header <code>X-Evil&lt;Event&gt;</code></dd>', 'a header source names the header')
  t.match(res.payload, '<dd>the payload field <code>kind</code></dd>', 'a field source names the field')
  t.match(res.payload, '<dd>always the same</dd>', 'a fixed source says so')
  t.match(res.payload, '<code>only_events</code>')
  t.match(res.payload, 'X-Hub-Signature-256', 'the webhook secret is explained')
  t.match(res.payload, 'href="/login?next=%2F%23bots"', 'a visitor is offered to log in, then the Bots panel')
  t.notMatch(res.payload, 'href="/#bots"')
})

t.test('German and Chinese pages carry their translations', async (t) => {
  const cases = [
    ['/de/integrations', 'de', ['<h1>Eingehende Webhooks</h1>', '>Integrationen</a>', 'So richten Sie es ein', '<var>API-Schlüssel</var>', 'Beliebiges JSON, formatiert', 'dem HTTP-Header']],
    ['/zh-hans/integrations', 'zh-Hans', ['<h1>传入 Webhook</h1>', '>集成</a>', '设置步骤', '<var>API 密钥</var>', '任意 JSON 数据', 'HTTP 请求头']]
  ] as const
  for (const [url, lang, texts] of cases) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    t.equal(res.headers['content-language'], lang)
    t.match(res.payload, `<html lang="${lang}">`)
    for (const text of texts) t.match(res.payload, text, `${url}: ${text}`)
    t.match(res.payload, `${base}/json?api_key=`, `${url} shows the URL`)
  }
  const negotiated = await app.inject({ url: '/integrations', headers: { 'accept-language': 'de' } })
  t.equal(negotiated.headers['content-language'], 'de', 'unprefixed follows Accept-Language')
  t.equal(negotiated.headers.vary, 'Accept-Language, Cookie')
})

t.test('what integrations and config say is escaped', async (t) => {
  const res = await app.inject({ url: '/integrations' })
  t.match(res.payload, 'Evil &lt;b&gt;Corp&lt;/b&gt; &amp; &quot;Sons&quot;')
  t.match(res.payload, 'href="https://example.com/docs?a=&quot;x&quot;&amp;b=&lt;y&gt;"')
  t.match(res.payload, '<code>push&lt;script&gt;</code> <code>ping</code>')
  t.notMatch(res.payload, '<b>Corp')
  t.notMatch(res.payload, '<script>')
  t.notMatch(res.payload, 'parley&co', 'the & of the external URL is escaped too')
})

t.test('a signed-in visitor gets a link to the Bots panel of the web app, and their name escaped', async (t) => {
  const user = await createUser('ophelia@example.com')
  await app.db.updateTable('users').set({ full_name: 'Ophelia <i>Polonius</i>' }).where('id', '=', user.id).execute()
  const { token } = await app.sessions.create(user.id)
  for (const [url, href, text] of [['/integrations', '/#bots', 'Open Bots'], ['/de/integrations', '/de/#bots', 'Bots öffnen']] as const) {
    const res = await app.inject({ url, headers: { cookie: `parley_session=${token}` } })
    t.equal(res.statusCode, 200)
    t.match(res.payload, `<a class="button small" href="${href}">${text}</a>`, url)
    t.match(res.payload, 'Ophelia &lt;i&gt;Polonius&lt;/i&gt;')
    t.equal(res.headers['cache-control'], 'private, no-store')
  }
})

t.test('the web app\'s bootstrap names the integrations and the external URL, for the Bots panel', async (t) => {
  const user = await createUser('horatio@example.com')
  const { token } = await app.sessions.create(user.id)
  const res = await app.inject({ url: '/', headers: { cookie: `parley_session=${token}` } })
  t.equal(res.statusCode, 200)
  const json = /<script id="parley-bootstrap" type="application\/json">(.*?)<\/script>/s.exec(res.payload)?.[1] ?? '{}'
  const boot = JSON.parse(json) as { integrations?: unknown, external_url?: unknown }
  t.same(boot.integrations, integrations.map((i) => ({ name: i.name, display_name: i.displayName })))
  t.equal(boot.external_url, 'https://chat.example.com/parley&co')
  t.notMatch(json, '<b>Corp', 'a display name cannot close the script element')
})
