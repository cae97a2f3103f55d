// The access line (SPEC §5): what one request's line says, and its exact JSON text.
// Shared by the main thread (notes.ts) and the log thread (log-worker.ts), so a line
// formatted on either side has the same bytes.

/** What one request's access line is made of. */
export interface AccessEntry {
  reqId: string
  method: string
  /** The route's path pattern (`/api/v1/users/:user_id`), or the path when no route matched. */
  url: string
  /** The path asked for, without the query string (query strings can carry webhook api_keys). */
  path: string
  statusCode: number
  responseTime: number
  requester: number | 'unauth'
  client: string
  clientVersion: string
}

/** The fields of the access line, in the order they are written. */
export interface AccessFields {
  reqId: string
  method: string
  url: string
  statusCode: number
  responseTime: number
  requester: number | 'unauth'
  client: string
}

export function accessFields (e: AccessEntry): AccessFields {
  return { reqId: e.reqId, method: e.method, url: e.url, statusCode: e.statusCode, responseTime: e.responseTime, requester: e.requester, client: e.client }
}

/** `GET 200 3ms /api/v1/users/me (7 via ZulipMobile/27.1)`. */
export function accessMessage (e: AccessEntry): string {
  const via = e.clientVersion === '' ? e.client : `${e.client}/${e.clientVersion}`
  return `${e.method} ${e.statusCode} ${e.responseTime}ms ${e.path} (${e.requester} via ${via})`
}

/**
 * The line pino writes for `log.info(accessFields(e), msg)` with its default format:
 * `chindings` is the logger's serialized bindings (`,"pid":…,"hostname":…`) and `time`
 * what its time function returns (`,"time":1764547200000`). notes.ts checks once, at
 * start, that pino writes exactly this; otherwise lines go through pino itself.
 */
export function accessJson (chindings: string, time: string, f: AccessFields, msg: string): string {
  return `{"level":30${time}${chindings},"reqId":${JSON.stringify(f.reqId)},"method":${JSON.stringify(f.method)},` +
    `"url":${JSON.stringify(f.url)},"statusCode":${f.statusCode},"responseTime":${f.responseTime},` +
    `"requester":${JSON.stringify(f.requester)},"client":${JSON.stringify(f.client)},"msg":${JSON.stringify(msg)}}\n`
}

/** A log destination that formats access lines itself, off the main thread (LogThread). */
export const ACCESS_SINK = Symbol('parley.accessSink')
export interface AccessSink {
  /** `time` is pino's epoch-milliseconds time. */
  [ACCESS_SINK]: (chindings: string, time: number, e: AccessEntry) => void
}
