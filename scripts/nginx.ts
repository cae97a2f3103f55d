// A private nginx running deploy/nginx/parley.conf itself, for test/nginx.test.ts, the
// `static` benchmark and `npm run cluster`: the sample's three "set me" lines are
// substituted (the app's addresses, nginx's port, the build's dist/ directory) and it is
// included in a minimal nginx.conf whose logs, pid and temporary files all live in one directory.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

export const NGINX = '/usr/sbin/nginx'

/** deploy/nginx/parley.conf from the sources (scripts/) or from dist/scripts/. */
export const SAMPLE = ['../deploy/nginx/parley.conf', '../../deploy/nginx/parley.conf']
  .map((p) => fileURLToPath(new URL(p, import.meta.url)))
  .find((p) => existsSync(p)) ?? fileURLToPath(new URL('../deploy/nginx/parley.conf', import.meta.url))

export interface SiteOptions {
  /** host:port of the app, or of each of its processes (nginx takes them in turn: round robin). */
  upstream: string | string[]
  /** The port nginx listens on. */
  port: number
  /** The address nginx listens on; default 127.0.0.1. */
  host?: string
  /** The directory holding static/ (the build's dist/). */
  root: string
}

/** The sample with its three "set me" lines substituted; throws when one is not found exactly once. */
export function renderSite (sample: string, o: SiteOptions): string {
  const subs: Array<[string, string]> = [
    ['server 127.0.0.1:9991;  # set me', [o.upstream].flat().map((u) => `server ${u};`).join('\n    ')],
    ['listen 80;  # set me', `listen ${o.host ?? '127.0.0.1'}:${o.port};`],
    ['root /srv/parley/dist;  # set me: the dist/ directory that holds static/', `root ${o.root};`]
  ]
  let site = sample
  for (const [from, to] of subs) {
    const n = site.split(from).length - 1
    if (n !== 1) throw new Error(`deploy/nginx/parley.conf: expected the line "${from}" once, found it ${n} times`)
    site = site.replace(from, to)
  }
  return site
}

/** The main configuration around the site: Debian's http { } defaults, everything else inside `dir`. */
export function mainConf (dir: string, siteFile: string, accessLog: boolean): string {
  // As root, the workers would otherwise run as nobody, who cannot read a private temp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : ''
  return `${user}worker_processes 1;
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  gzip on;
  access_log ${accessLog ? join(dir, 'access.log') : 'off'};
  client_body_temp_path ${join(dir, 'tmp', 'body')};
  proxy_temp_path ${join(dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'tmp', 'scgi')};
  include ${siteFile};
}
`
}

export interface Nginx {
  url: string
  port: number
  pid: number
  dir: string
  stop: () => Promise<void>
}

/** A port free on 127.0.0.1 now (the OS's choice). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => { resolve(port) })
    })
  })
}

function connects (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { resolve(false) })
  })
}

/**
 * Starts `nginx -p dir -c dir/nginx.conf -g 'daemon off; pid dir/nginx.pid;'` in front of
 * the app at `upstream`, serving `root`/static/, and waits until it accepts connections.
 */
export async function startNginx (o: { dir: string, upstream: string | string[], root: string, accessLog?: boolean, port?: number, host?: string }): Promise<Nginx> {
  mkdirSync(join(o.dir, 'tmp'), { recursive: true })
  const port = o.port ?? await freePort()
  const siteFile = join(o.dir, 'parley.conf')
  writeFileSync(siteFile, renderSite(readFileSync(SAMPLE, 'utf8'), { upstream: o.upstream, port, root: o.root, ...(o.host === undefined ? {} : { host: o.host }) }))
  const conf = join(o.dir, 'nginx.conf')
  writeFileSync(conf, mainConf(o.dir, siteFile, o.accessLog ?? true))
  const child: ChildProcess = spawn(NGINX, ['-p', o.dir, '-c', conf, '-g', `daemon off; pid ${join(o.dir, 'nginx.pid')};`], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  let exited = false
  const exit = new Promise<void>((resolve) => { child.on('exit', () => { exited = true; resolve() }) })
  const deadline = Date.now() + 10_000
  while (!await connects(port)) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL')
      const log = existsSync(join(o.dir, 'error.log')) ? readFileSync(join(o.dir, 'error.log'), 'utf8') : ''
      throw new Error(`nginx ${exited ? 'exited' : 'did not listen within 10 s'}:\n${stderr}${log}`)
    }
    await sleep(20)
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid as number,
    dir: o.dir,
    stop: async () => {
      if (exited) return
      // SIGTERM: nginx's fast shutdown (held long-polls are cut, not waited for).
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exit
      clearTimeout(timer)
    }
  }
}
