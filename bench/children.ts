// Server child processes for benchmarks: the compiled Parley and the bare
// Fastify baseline, each in its own process so the server and wrk get a core each.
import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { closeSync, createReadStream, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

export interface Server {
  name: string
  url: string
  pid: number
  /** Date.now() when the child was spawned (a CPU profile's clock starts about then). */
  spawnedAt: number
  /** Where the child's stdout (for Parley: the pino log, access lines included) goes. */
  logFile: string
  /** SIGINT, then waits for the exit (a CPU profile is written on the way out). */
  stop: () => Promise<void>
}

export interface ChildSpec {
  name: string
  script: string
  args?: string[]
  nodeArgs?: string[]
  env: Record<string, string>
  /** Working directory and home of the logs; must hold no .env of the developer's. */
  dir: string
  /** Finds the listening URL in the child's stdout. */
  urlPattern: RegExp
  /** How long the child may take to report its URL; default 30 s. */
  readyWithinMs?: number
}

const dist = fileURLToPath(new URL('..', import.meta.url))

/** Spawns a node script as a child with a clean environment and waits for its listening URL in its log. */
export async function startChild (spec: ChildSpec): Promise<Server> {
  const logFile = join(spec.dir, `${spec.name}.log`)
  const errFile = join(spec.dir, `${spec.name}.err`)
  const out = openSync(logFile, 'w')
  const err = openSync(errFile, 'w')
  const child: ChildProcess = spawn(process.execPath, [...(spec.nodeArgs ?? []), spec.script, ...(spec.args ?? [])], {
    cwd: spec.dir,
    // A clean environment: a developer's LOG_LEVEL or PARLEY_* must not change what is measured.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: spec.dir, ...spec.env },
    stdio: ['ignore', out, err]
  })
  const spawnedAt = Date.now()
  closeSync(out)
  closeSync(err)
  let exited: number | null | undefined
  const exit = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => { exited = code ?? (signal === null ? -1 : 128); resolve() })
  })

  const readyWithinMs = spec.readyWithinMs ?? 30_000
  const deadline = Date.now() + readyWithinMs
  let url: string | undefined
  while (url === undefined) {
    if (exited !== undefined || Date.now() > deadline) {
      child.kill('SIGKILL')
      const why = exited !== undefined ? `exited with ${exited}` : `did not report a URL within ${readyWithinMs / 1000} s`
      throw new Error(`${spec.name} ${why}:\n${readFileSync(errFile, 'utf8')}${readFileSync(logFile, 'utf8').slice(-2000)}`)
    }
    await sleep(50)
    url = spec.urlPattern.exec(readFileSync(logFile, 'utf8'))?.[1]
  }

  return {
    name: spec.name,
    url,
    pid: child.pid as number,
    spawnedAt,
    logFile,
    stop: async () => {
      if (exited !== undefined) return
      child.kill('SIGINT')
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      await exit
      clearTimeout(timer)
    }
  }
}

export interface ParleyOptions {
  name: string
  dir: string
  dataDir: string
  adminEmail: string
  adminPassword: string
  rateLimit: boolean
  /** Extra node flags, e.g. `--cpu-prof`. */
  nodeArgs?: string[]
  /** More environment, e.g. DATABASE_URL and REDIS_URL for the engines. */
  env?: Record<string, string>
  /** PORT (default 0: the OS's choice). */
  port?: number
}

/** `node dist/server.js` on PORT=0 with the access log on at the default level (info). */
export async function startParley (o: ParleyOptions): Promise<Server> {
  return await startChild({
    name: o.name,
    script: join(dist, 'server.js'),
    nodeArgs: o.nodeArgs ?? [],
    dir: o.dir,
    env: {
      HOST: '127.0.0.1',
      PORT: String(o.port ?? 0),
      PARLEY_DATA_DIR: o.dataDir,
      PARLEY_ADMIN_EMAIL: o.adminEmail,
      PARLEY_ADMIN_PASSWORD: o.adminPassword,
      PARLEY_RATE_LIMIT: o.rateLimit ? 'on' : 'off',
      LOG_LEVEL: 'info',
      ...o.env
    },
    urlPattern: /"url":"(http:\/\/[^"]+)"/
  })
}

/**
 * The Fastify app of baseline-server.ts, answering `path` with the JSON text in `payloadFile`;
 * with `usersFile`, behind @fastify/basic-auth checking its pairs in a Map.
 */
export async function startBaseline (o: { name: string, dir: string, payloadFile: string, path: string, usersFile?: string, nodeArgs?: string[] }): Promise<Server> {
  return await startChild({
    name: o.name,
    script: join(dist, 'bench', 'baseline-server.js'),
    args: [o.payloadFile, o.path, ...(o.usersFile === undefined ? [] : [o.usersFile])],
    nodeArgs: o.nodeArgs ?? [],
    dir: o.dir,
    env: {},
    urlPattern: /^listening (http:\/\/\S+)$/m
  })
}

/** How many lines of a (log) file contain `needle`, read as a stream: an access log can be large. */
export async function countLines (file: string, needle: string): Promise<number> {
  let n = 0
  let tail = ''
  for await (const chunk of createReadStream(file, { encoding: 'utf8' })) {
    const lines = (tail + (chunk as string)).split('\n')
    tail = lines.pop() ?? ''
    for (const l of lines) if (l.includes(needle)) n++
  }
  return n
}

export interface RawAnswer { status: number, headers: http.IncomingHttpHeaders, body: Buffer }

/** A GET whose body comes back as sent (fetch would decompress it). */
export function rawGet (url: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) })
    }).on('error', reject)
  })
}
