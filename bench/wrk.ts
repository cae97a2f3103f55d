// Runs wrk and reads its report: requests per second, latency percentiles, and
// the non-2xx/3xx and socket-error counts that say whether a run is valid.
import { spawn, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'

export interface WrkOptions {
  url: string
  seconds: number
  connections: number
  threads?: number
  /** A Lua script (e.g. one that rotates credentials), applied with `-s`. */
  script?: string
  /** Arguments for the script's init(args). */
  scriptArgs?: string[]
}

export interface WrkResult {
  requests: number
  rps: number
  p50Ms: number
  p99Ms: number
  /** Responses outside 2xx/3xx; any at all makes the run invalid. */
  non2xx: number
  socketErrors: number
}

export function hasWrk (): boolean {
  const r = spawnSync('wrk', ['--version'], { stdio: 'ignore' })
  // wrk --version prints its banner and exits 1; only a missing binary is an error.
  return r.error === undefined
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }

function ms (text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text)
  if (m === null) throw new Error(`wrk: cannot read the duration "${text}"`)
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number)
}

export function parseWrk (out: string): WrkResult {
  const grab = (re: RegExp, what: string): string => {
    const m = re.exec(out)
    if (m === null || m[1] === undefined) throw new Error(`wrk: no ${what} in its report:\n${out}`)
    return m[1]
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    requests: Number(grab(/(\d+) requests in /, 'request count')),
    rps: Number(grab(/Requests\/sec:\s+([\d.]+)/, 'Requests/sec')),
    p50Ms: ms(grab(/^\s+50%\s+(\S+)/m, '50th percentile')),
    p99Ms: ms(grab(/^\s+99%\s+(\S+)/m, '99th percentile')),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: socket === null ? 0 : socket.slice(1).reduce((n, s) => n + Number(s), 0)
  }
}

export async function runWrk (opts: WrkOptions): Promise<WrkResult> {
  const args = [`-t${opts.threads ?? 1}`, `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency']
  if (opts.script !== undefined) args.push('-s', opts.script)
  args.push(opts.url)
  if (opts.scriptArgs !== undefined) args.push('--', ...opts.scriptArgs)
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { out += s })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  if (code !== 0) throw new Error(`wrk exited with ${String(code)}:\n${out}`)
  return parseWrk(out)
}

/**
 * A wrk script sending `method path [body]` with the keys of one block (init args:
 * offset, count), each key for `perKey` requests in a row and then never again in
 * that run (users-me's rotation). Requests are built once, in init, so the client pays
 * the same for every server; the baseline ignores the Authorization header. A body is
 * form-encoded unless `headers` names another Content-Type.
 */
export function rotationScript (file: string, keys: string[], perKey: number, method: 'GET' | 'POST', path: string, body?: string, headers: Record<string, string> = {}): string {
  const list = keys.map((k) => `  ${JSON.stringify(k)}`).join(',\n')
  const all: Record<string, string> = body === undefined || Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')
    ? headers
    : { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }
  const table = (key: string): string => `{ ["Authorization"] = ${key}${Object.entries(all).map(([k, v]) => `, [${JSON.stringify(k)}] = ${luaString(v)}`).join('')} }`
  writeFileSync(file, `local keys = {\n${list}\n}
local reqs = {}
local n, used = 1, 0
function init(args)
  local offset, count = tonumber(args[1]) or 0, tonumber(args[2]) or #keys
  for k = 1, count do
    reqs[k] = wrk.format(${JSON.stringify(method)}, ${luaString(path)}, ${table('keys[offset + k]')}${body === undefined ? '' : `, ${luaString(body)}`})
  end
end
function request()
  local r = reqs[n]
  used = used + 1
  if used == ${perKey} then
    used = 0
    n = n + 1
    if n > #reqs then n = 1 end
  end
  return r
end
`)
  return file
}

/** Any text as a Lua long string (`[==[…]==]`): bytes as they are, no escapes to get wrong. */
function luaString (text: string): string {
  let level = ''
  while (text.includes(`]${level}]`)) level += '='
  // A newline right after the opening bracket is dropped by Lua: keep a leading one.
  return `[${level}[${text.startsWith('\n') ? '\n' : ''}${text}]${level}]`
}

/** A wrk script that adds request headers (wrk's -H is not reachable through runWrk). */
export function headersScript (file: string, headers: Record<string, string>): string {
  writeFileSync(file, Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}\n`).join(''))
  return file
}
