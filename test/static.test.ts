// SPEC §9 static files: served from static/, a missing file is the app's HTML 404, and
// path traversal never leaves static/ (over a real socket: inject normalises `..`).
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { build } from './helper.js'

function rawGet (port: number, path: string): Promise<{ status: number, type: string, body: string }> {
  return new Promise((resolve, reject) => {
    // A raw path, sent as written: no client-side normalisation of `..`.
    const req = http.request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('static files, the 404 page and traversal attempts', async (t) => {
  const { app } = await build(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as AddressInfo).port

  const avatar = await rawGet(port, '/static/images/avatar.svg')
  t.equal(avatar.status, 200)
  t.equal(avatar.type, 'image/svg+xml')
  t.match(avatar.body, '<svg')

  for (const path of ['/static/nope.css', '/static/../package.json', '/static/%2e%2e/package.json', '/static/..%2fpackage.json',
    '/static/images/../../package.json', '/static/.gitignore', '/no-such-page']) {
    const res = await rawGet(port, path)
    t.equal(res.status, 404, `${path} is 404`)
    t.equal(res.type, 'text/html; charset=utf-8', `${path} answers the HTML page`)
    t.notMatch(res.body, '"name": "parley"', `${path} leaks nothing`)
  }
})
