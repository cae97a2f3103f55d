// Incoming webhooks from the browser (SPEC §10) in real Chromium against a real listening
// Parley: the /integrations page, the web app's Bots panel (create an incoming-webhook bot,
// build its URL, copy it), then a delivery posted to that URL shows up live in the web app.
// PARLEY_SCREENSHOTS=1 saves the screens to docs/screenshots/ (look at them after a UI change).
import t from 'tap'
import { createHmac } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import type { BrowserContext, Page } from 'playwright-core'
import { testDatabase } from '../helper.js'
import type { User } from '../../plugins/app/stores/users.js'
import { cast, launchBrowser, PASSWORD, sessionContext as contextFor, shot, SHOTS, startApp, watchErrors } from '../support/browser.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/webhooks/github/push__1_commit.json', import.meta.url))
const SECRET = 'elsinore-watch'

const dataDir = mkdtempSync(join(tmpdir(), 'parley-webhook-browser-'))
// PostgreSQL's schema (PARLEY_TEST_DATABASE_URL) is dropped after the teardown below, which closes the app.
const app = await startApp(dataDir, 0, await testDatabase(t))
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
const browser = await launchBrowser(t)
t.teardown(async () => {
  await app.close()
  rmSync(dataDir, { recursive: true, force: true })
})

const { ophelia, horatio } = await cast(app)
const general = await app.streams.doCreateStream(horatio, { name: 'general', description: 'Everything else', invite_only: false, principals: [ophelia.user_id] })
await app.streams.doCreateStream(horatio, { name: 'ci builds', description: 'Where the robots talk', invite_only: false, principals: [ophelia.user_id] })
await app.messages.doSendMessage(horatio, { type: 'stream', to: general.stream_id, topic: 'welcome', content: 'Welcome, Ophelia.', client: 'test' })

async function sessionContext (user: User, viewport?: { width: number, height: number }): Promise<BrowserContext> {
  return await contextFor(browser, app, base, user, viewport)
}

/** The webhook URL shown in the panel, as the test's own server is reached (the configured external URL names port 9991). */
function reachable (shown: string): string {
  t.ok(shown.startsWith(`${app.config.externalUrl}/api/v1/external/`), `the URL starts with the external URL (${shown})`)
  const u = new URL(shown)
  return `${base}${u.pathname}${u.search}`
}

let ctx!: BrowserContext
let page!: Page
let hookUrl = ''

t.test('/integrations shows the URL to configure; a visitor is offered to log in', async (t) => {
  ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base })
  page = await ctx.newPage()
  watchErrors(t, page)
  await page.goto(`${base}/integrations`)
  t.equal(await page.locator('h1').textContent(), 'Incoming webhooks')
  t.equal(await page.locator('.site-header .nav a[aria-current="page"]').textContent(), 'Integrations', 'the header marks the page')
  const github = page.locator('#github .webhook-url')
  t.equal(await github.textContent(), `${app.config.externalUrl}/api/v1/external/github?api_key=API key&stream=stream name`)
  t.equal(await page.locator('#github .facts code', { hasText: 'X-GitHub-Event' }).count(), 1, 'GitHub reads its event header')
  await shot(page, 'integrations', true)

  const phone = await browser.newContext({ viewport: { width: 390, height: 844 } })
  t.teardown(async () => { await phone.close() })
  const p = await phone.newPage()
  await p.goto(`${base}/de/integrations`)
  t.equal(await p.locator('h1').textContent(), 'Eingehende Webhooks')
  const width = await p.evaluate(() => document.documentElement.scrollWidth)
  t.ok(width <= 390, `nothing wider than the phone (${width}px)`)
  await shot(p, 'integrations-phone', true)

  // Log in from the page's own link, and land in the Bots panel.
  await page.click('.page-head .cta a')
  await page.fill('input[name="username"]', 'ophelia@example.com')
  await page.fill('input[name="password"]', PASSWORD)
  await Promise.all([page.waitForURL(`${base}/#bots`), page.click('form[action$="/login"] button[type="submit"]')])
  await page.locator('.bots-panel').waitFor()
  t.pass('after logging in the Bots panel is open')
  await page.locator('.bots-card', { hasText: 'You have no bots yet.' }).waitFor()
  t.pass('no bots yet')
})

t.test('the Bots panel opens from the sidebar and creates an incoming-webhook bot, with a secret', async (t) => {
  await page.goto(`${base}/#narrow/stream/${general.stream_id}`)
  await page.locator('.message-list[data-loaded="true"]').waitFor()
  await page.click('.nav-bots')
  await page.locator('.bots-panel').waitFor()
  t.equal(new URL(page.url()).hash, '#bots', 'the panel has its own address')
  t.ok(await page.locator('.main-messages').isHidden(), 'the messages are hidden under the panel')

  await page.fill('.bots-form input[name="full_name"]', 'GitHub notifications')
  t.equal(await page.locator('.bots-form input[name="short_name"]').inputValue(), 'github-notifications', 'the username follows the name')
  await page.fill('.bots-form input[name="short_name"]', 'Not Valid!')
  await page.locator('.bots-form input[aria-invalid="true"]').waitFor()
  t.ok(await page.locator('.bots-create').isDisabled(), 'an invalid username cannot be sent')
  await page.fill('.bots-form input[name="short_name"]', 'github')
  await page.fill('.bots-form input[name="webhook_secret"]', SECRET)
  await page.click('.bots-create')
  await page.locator('.bots-ok', { hasText: 'Bot “GitHub notifications” created.' }).waitFor()
  const row = page.locator('.bots-list .bot', { hasText: 'GitHub notifications' })
  const [bot] = await app.users.listBots(ophelia.user_id)
  t.match(bot, { full_name: 'GitHub notifications', bot_type: 'incoming_webhook', email: /^github-bot@/ }, 'the server made it')
  t.equal(await row.locator('.bot-email').textContent(), bot?.email)
  t.equal(await row.locator('.bot-type').textContent(), 'Incoming webhook')
  t.match(await row.getAttribute('class') ?? '', /selected/, 'the new bot is the one the URL is for')
  t.equal(await page.locator('.bots-form input[name="full_name"]').inputValue(), '', 'the form is cleared')

  // The same name again: the server's refusal is shown, nothing else changes.
  await page.fill('.bots-form input[name="full_name"]', 'GitHub again')
  await page.fill('.bots-form input[name="short_name"]', 'github')
  await page.click('.bots-create')
  await page.locator('.bots-error', { hasText: 'The bot was not created' }).waitFor()
  t.equal(await page.locator('.bots-list .bot').count(), 1, 'still one bot')

  await page.click('.bots-close')
  await page.locator('.bots-panel').waitFor({ state: 'detached' })
  t.equal(new URL(page.url()).hash, `#narrow/stream/${general.stream_id}`, 'opened from the sidebar, the panel closes back onto the stream')
  t.ok(await page.locator('.message .content', { hasText: 'Welcome, Ophelia.' }).isVisible(), 'with its messages')
})

t.test('the URL of the bot, an integration and a stream; Copy puts it on the clipboard', async (t) => {
  const [listed] = await app.users.listBots(ophelia.user_id)
  const bot = listed === undefined ? undefined : await app.users.getRow(listed.user_id)
  if (bot === undefined) throw new Error('no bot')
  // The panel's own address, loaded afresh, opens it.
  await page.goto(`${base}/#bots`)
  await page.reload()
  await page.locator('.bots-panel .bots-list .bot').waitFor()
  const integrations = await page.locator('.bots-form select[name="integration"] option').allTextContents()
  t.ok(integrations.includes('GitHub') && integrations.includes('JSON formatter'), `the integrations are offered (${integrations.join(', ')})`)
  await page.selectOption('.bots-form select[name="integration"]', 'github')
  await page.selectOption('.bots-form select[name="stream"]', { label: 'ci builds' })
  await page.fill('.bots-form input[name="topic"]', 'builds & more')
  t.equal(await page.locator('.bots-url').textContent(),
    `${app.config.externalUrl}/api/v1/external/github?api_key=${bot.api_key}&stream=ci%20builds&topic=builds%20%26%20more`, 'stream and topic are encoded')
  await page.selectOption('.bots-form select[name="stream"]', { label: 'None: a direct message to me' })
  await page.fill('.bots-form input[name="topic"]', '')
  t.equal(await page.locator('.bots-url').textContent(), `${app.config.externalUrl}/api/v1/external/github?api_key=${bot.api_key}`, 'no stream: no stream parameter')
  await page.selectOption('.bots-form select[name="stream"]', { label: 'general' })
  hookUrl = await page.locator('.bots-url').textContent() ?? ''
  t.equal(hookUrl, `${app.config.externalUrl}/api/v1/external/github?api_key=${bot.api_key}&stream=general`)

  await page.click('.bots-copy')
  await page.locator('.bots-copy', { hasText: 'Copied' }).waitFor()
  t.equal(await page.evaluate(async () => await navigator.clipboard.readText()), hookUrl, 'the clipboard holds the URL')
  if (SHOTS) {
    // Tall enough to show the whole panel at once.
    await page.setViewportSize({ width: 1280, height: 1180 })
    await page.locator('.bots-scroll').evaluate((el) => { el.scrollTop = 0 })
    await shot(page, 'bots-desktop')
    await page.setViewportSize({ width: 1280, height: 800 })
  }
})

t.test('a delivery posted to that URL appears live in the web app', async (t) => {
  await page.click('.bots-close')
  await page.locator('.bots-panel').waitFor({ state: 'detached' })
  t.equal(new URL(page.url()).hash, '#all', 'opened by its address (the reload), the panel closes onto all messages')
  await page.click('.nav-stream:has-text("general")')
  await page.waitForURL(`${base}/#narrow/stream/${general.stream_id}`)
  await page.locator('.message .content', { hasText: 'Welcome, Ophelia.' }).waitFor()

  const body = readFileSync(FIXTURE)
  const headers = { 'content-type': 'application/json', 'x-github-event': 'push', 'user-agent': 'GitHub-Hookshot/test' }
  const unsigned = await fetch(reachable(hookUrl), { method: 'POST', headers, body })
  t.equal(unsigned.status, 401, 'the bot has a secret: an unsigned delivery is refused')
  const signature = 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex')
  const started = Date.now()
  const res = await fetch(reachable(hookUrl), { method: 'POST', headers: { ...headers, 'x-hub-signature-256': signature }, body })
  t.equal(res.status, 200, 'the signed delivery is accepted')
  t.match(await res.json(), { result: 'success' })
  const message = page.locator('.message', { hasText: 'Fix typo in README' })
  await message.waitFor({ timeout: 5000 })
  t.comment(`delivery → shown: ${Date.now() - started} ms`)
  t.ok(await page.locator('.recipient-bar', { hasText: 'Hello-World / main' }).count() > 0, 'under the topic GitHub\'s push makes')
  t.ok(await page.locator('.sender', { hasText: 'GitHub notifications' }).count() > 0, 'from the bot')
  await shot(page, 'webhook-message')
})

t.test('on a phone the panel opens from the menu and fits; without a clipboard the URL is selected', async (t) => {
  const phone = await sessionContext(ophelia, { width: 390, height: 844 })
  t.teardown(async () => { await phone.close() })
  // A browser that refuses the clipboard (an http:// origin other than localhost has none).
  await phone.addInitScript(() => {
    Object.defineProperty(navigator, 'clipboard', { value: { writeText: async () => { throw new Error('denied') } } })
  })
  const p = await phone.newPage()
  watchErrors(t, p)
  await p.goto(`${base}/`)
  await p.locator('.message-list[data-loaded="true"]').waitFor()
  await p.click('.menu-button')
  await p.locator('.menu-open').waitFor()
  await p.click('.nav-bots')
  await p.locator('.menu-open').waitFor({ state: 'detached' })
  await p.locator('.bots-list .bot', { hasText: 'GitHub notifications' }).waitFor()
  await p.waitForFunction(() => (document.querySelector('.sidebar')?.getBoundingClientRect().right ?? 1) <= 0)
  t.pass('the menu closes on the panel, which lists the bot')
  const width = await p.evaluate(() => document.documentElement.scrollWidth)
  t.ok(width <= 390, `nothing wider than the phone (${width}px)`)
  await shot(p, 'bots-phone')
  await p.locator('.bots-url').scrollIntoViewIfNeeded()
  await p.click('.bots-copy')
  await p.locator('.hint', { hasText: 'Copy the selected URL by hand' }).waitFor()
  t.equal(await p.evaluate(() => window.getSelection()?.toString()), await p.locator('.bots-url').textContent(), 'the URL is selected instead')
  await shot(p, 'bots-phone-url')
  // Back leaves the panel for the messages.
  await p.goBack()
  await p.locator('.bots-panel').waitFor({ state: 'detached' })
  t.ok(await p.locator('.main-messages').isVisible(), 'Back shows the messages again')
})

t.test('the panel speaks German', async (t) => {
  const de = await sessionContext(ophelia)
  t.teardown(async () => { await de.close() })
  await de.addCookies([{ name: 'parley_language', value: 'de', url: base }])
  const p = await de.newPage()
  watchErrors(t, p)
  await p.goto(`${base}/#bots`)
  await p.locator('.bots-panel h2', { hasText: 'Neuer Bot für eingehende Webhooks' }).waitFor()
  t.equal(await p.locator('.bots-copy').textContent(), 'Kopieren')
  t.equal(await p.locator('.nav-bots').textContent(), 'Bots')
  await ctx.close()
})
