// SPEC §9's front door: Debian's real nginx running deploy/nginx/parley.conf itself (three
// lines substituted, bench/nginx.ts) in front of the listening app, with a build in a temp
// dir. A static hit is nginx's, a miss is the app's 404 page, the API and a held long-poll
// pass through.
import t from 'tap'
import http from 'node:http'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { build, type Built } from './helper.js'
import { buildAssets } from '../scripts/build-assets.js'
import { NGINX, startNginx, type Nginx } from '../scripts/nginx.js'

interface Answer { status: number, headers: http.IncomingHttpHeaders, body: Buffer }

function request (base: string, path: string, o: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + path, { method: o.method ?? 'GET', headers: o.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) })
    })
    req.on('error', reject)
    req.end(o.body)
  })
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

if (!existsSync(NGINX)) {
  t.plan(0, `${NGINX} is not installed (Debian's nginx package; .ci/run installs it): the front-door test needs the real server`)
} else {
  const root = mkdtempSync(join(tmpdir(), 'parley-nginx-'))
  const staticOut = join(root, 'dist', 'static')
  const manifest = await buildAssets('static', staticOut)

  const built: Built = await build(t, { PARLEY_STATIC_DIR: staticOut })
  const { app, owner, createUser } = built
  await app.listen({ host: '127.0.0.1', port: 0 })
  const appPort = (app.server.address() as AddressInfo).port
  mkdirSync(join(root, 'nginx'))
  const nginx: Nginx = await startNginx({ dir: join(root, 'nginx'), upstream: `127.0.0.1:${appPort}`, root: join(root, 'dist') })
  t.teardown(async () => {
    await nginx.stop()
    rmSync(root, { recursive: true, force: true })
  })

  t.test('a hashed static file is served by nginx itself, gzip-precompressed and immutable', async (t) => {
    const name = manifest['images/avatar.svg'] as string
    const res = await request(nginx.url, `/static/${name}`, { headers: { 'accept-encoding': 'gzip' } })
    t.equal(res.status, 200)
    t.equal(res.headers.server, 'nginx')
    // A header only nginx's static module sends (the app's own static server does not):
    // the answer is nginx's, the app never saw the request.
    t.ok(res.headers['last-modified'] !== undefined, "nginx's file answer, not the app's")
    t.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable')
    t.equal(res.headers['content-encoding'], 'gzip', 'the .gz sibling (gzip_static)')
    t.equal(res.headers.vary, 'Accept-Encoding')
    t.same(gunzipSync(res.body), readFileSync(join(staticOut, name)))
    const etag = res.headers.etag as string
    t.ok(etag !== undefined, 'an ETag')
    const again = await request(nginx.url, `/static/${name}`, { headers: { 'accept-encoding': 'gzip', 'if-none-match': etag } })
    t.equal(again.status, 304)

    const original = await request(nginx.url, '/static/images/avatar.svg')
    t.equal(original.status, 200)
    t.equal(original.headers['cache-control'], 'public, max-age=300', 'original names: a short cache')
    t.equal(original.headers['accept-ranges'], 'bytes', "nginx's file answer")
    t.same(original.body, readFileSync(join(staticOut, 'images/avatar.svg')))
  })

  t.test("a static miss is answered with the app's 404 page", async (t) => {
    for (const path of ['/static/nope.css', '/static/images/', '/static/manifest.json', '/static/.env', '/no-such-page']) {
      const res = await request(nginx.url, path)
      t.equal(res.status, 404, `${path} is 404`)
      t.match(res.headers['content-type'], /^text\/html/, `${path}: HTML`)
      t.match(res.body.toString(), /<html/, `${path}: the app's page`)
      t.notOk(res.body.toString().includes('<center>nginx</center>'), `${path}: not nginx's own error page`)
    }
  })

  t.test('the API passes through', async (t) => {
    const res = await request(nginx.url, '/api/v1/server_settings')
    t.equal(res.status, 200)
    t.match(res.headers['content-type'], /^application\/json/)
    t.equal(JSON.parse(res.body.toString()).result, 'success')
    const me = await request(nginx.url, '/api/v1/users/me', { headers: { authorization: owner.auth } })
    t.equal(me.status, 200)
    t.equal(JSON.parse(me.body.toString()).data.user.email, owner.email)
  })

  t.test('a held long-poll passes through and is answered when a message arrives', async (t) => {
    const alice = await createUser('alice@example.com')
    const reg = await request(nginx.url, '/api/v1/register', {
      method: 'POST', headers: { authorization: owner.auth, ...FORM }, body: new URLSearchParams({ event_types: '["message"]' }).toString()
    })
    t.equal(reg.status, 200)
    const queueId = JSON.parse(reg.body.toString()).data.queue_id as string
    const started = Date.now()
    let answered = false
    const poll = request(nginx.url, `/api/v1/events?queue_id=${encodeURIComponent(queueId)}&last_event_id=-1`, { headers: { authorization: owner.auth } })
      .then((r) => { answered = true; return r })
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.notOk(answered, 'the poll is held')
    const sent = await request(nginx.url, '/api/v1/messages', {
      method: 'POST',
      headers: { authorization: alice.auth, ...FORM },
      body: new URLSearchParams({ type: 'direct', to: JSON.stringify([owner.id]), content: 'through nginx' }).toString()
    })
    t.equal(sent.status, 200)
    const res = await poll
    t.equal(res.status, 200)
    t.equal(res.headers.server, 'nginx', 'through nginx')
    const events = JSON.parse(res.body.toString()).data.events as Array<{ type: string, message?: { content?: string } }>
    t.match(events, [{ type: 'message', message: { sender_id: alice.id } }])
    t.ok(Date.now() - started < 5000, 'answered as the message came, not at the heartbeat')
  })
}
