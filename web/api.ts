// The only door to the server: the /json API with the session cookie and the CSRF token
// from <meta name="csrf-token"> on every unsafe request (SPEC §4).

export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }

  /** No answer at all (server down, connection cut) or a 5xx: worth retrying. */
  get transient (): boolean {
    return this.status === 0 || this.status >= 500
  }
}

const csrfToken = (): string => document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? ''

type Params = Record<string, unknown>

function encode (params: Params): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined) q.set(k, typeof v === 'string' ? v : JSON.stringify(v))
  }
  return q.toString()
}

async function call<T> (method: string, path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  const get = method === 'GET'
  const query = get ? encode(params) : ''
  let res: Response
  try {
    res = await fetch(`/json${path}${query === '' ? '' : '?' + query}`, {
      method,
      credentials: 'same-origin',
      headers: get ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json', 'x-csrf-token': csrfToken() },
      ...(get ? {} : { body: JSON.stringify(params) }),
      ...(signal === undefined ? {} : { signal })
    })
  } catch (err) {
    if (signal?.aborted === true) throw err
    throw new ApiError(0, 'NETWORK', err instanceof Error ? err.message : String(err))
  }
  let body: { result?: string, msg?: string, code?: string, data?: T } | undefined
  try {
    body = await res.json() as typeof body
  } catch {
    body = undefined
  }
  if (!res.ok || body?.result !== 'success') {
    throw new ApiError(res.status, body?.code ?? 'HTTP_' + String(res.status), body?.msg ?? res.statusText)
  }
  return body.data as T
}

export const api = {
  get: async <T>(path: string, params?: Params, signal?: AbortSignal): Promise<T> => await call<T>('GET', path, params, signal),
  post: async <T>(path: string, params?: Params): Promise<T> => await call<T>('POST', path, params),
  csrfToken
}

/** Runs a promise without waiting for it; a failure is logged, never unhandled. */
export function background (p: Promise<unknown>): void {
  p.catch((err: unknown) => { console.error(err) })
}
