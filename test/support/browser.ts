// What the browser tests (test/browser/*.test.ts) share: Debian's Chromium driven by
// playwright-core, a real listening Parley on the test's database, the cast of users they
// play with, screenshots (PARLEY_SCREENSHOTS=1 saves them to docs/screenshots/) and sessions
// made in the store. Kept out of tap's run by package.json's "exclude".
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import parley, { serverOptions } from '../../app.js'
import { loadConfig } from '../../plugins/app/config.js'
import type { User } from '../../plugins/app/stores/users.js'

interface Tap { teardown: (fn: () => unknown) => void }

const CHROMIUM = '/usr/bin/chromium'
// The flags the machine's notes give for a closed network (no background connections).
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']
const SHOT_DIR = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))
const BUNDLE = fileURLToPath(new URL('../../static/js/app.js', import.meta.url))
export const PASSWORD = 'password-123'

/** Chromium, launched once per test file; closed by the file's teardown. */
export async function launchBrowser (t: Tap): Promise<Browser> {
  // Both are set up by the usual path (.ci/run installs chromium; npm test builds the bundle first).
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`)
  if (!existsSync(BUNDLE)) throw new Error('static/js/app.js is missing: run npm run build:web (npm test runs it first)')
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
  t.teardown(async () => { await browser.close() })
  return browser
}

/** Parley listening on 127.0.0.1:`port` (0: any) over `dataDir` and the test's database settings. */
export async function startApp (dataDir: string, port: number, database: Record<string, string>): Promise<FastifyInstance> {
  const config = loadConfig({ PARLEY_DATA_DIR: dataDir, PARLEY_RATE_LIMIT: 'off', PARLEY_REALM_NAME: 'Elsinore Castle', ...database })
  const app = Fastify(serverOptions(false as never))
  await app.register(fp(parley), { config })
  await app.listen({ host: '127.0.0.1', port })
  return app
}

/** The owner, then Ophelia and Horatio (members, password PASSWORD), who both tests play with. */
export async function cast (app: FastifyInstance): Promise<{ ophelia: User, horatio: User }> {
  await app.users.ensureOwner('owner@example.com', 'owner-password')
  const ophelia = await app.users.doCreateUser({ email: 'ophelia@example.com', password: PASSWORD, full_name: 'Ophelia Polonius', role: 'member' })
  const horatio = await app.users.doCreateUser({ email: 'horatio@example.com', password: PASSWORD, full_name: 'Horatio Scholar', role: 'member' })
  return { ophelia, horatio }
}

/** Saves docs/screenshots/<name>.png when PARLEY_SCREENSHOTS=1. */
/** Whether this run saves screenshots (PARLEY_SCREENSHOTS=1). */
export const SHOTS = process.env.PARLEY_SCREENSHOTS === '1'

export async function shot (page: Page, name: string, fullPage = false): Promise<void> {
  if (!SHOTS) return
  mkdirSync(SHOT_DIR, { recursive: true })
  await page.screenshot({ path: join(SHOT_DIR, `${name}.png`), fullPage })
}

/** A browser context signed in as `user` through a session made directly in `app`'s store. */
export async function sessionContext (browser: Browser, app: FastifyInstance, base: string, user: User, viewport = { width: 1280, height: 800 }): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport })
  const s = await app.sessions.create(user.user_id)
  await ctx.addCookies([{ name: 'parley_session', value: s.token, url: base }])
  return ctx
}

/** Fails the test on any uncaught error in the page. */
export function watchErrors (t: { fail: (msg: string) => void }, page: Page): void {
  page.on('pageerror', (err) => { t.fail(`page error: ${err.message}`) })
}
