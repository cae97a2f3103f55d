// What the database's errors mean to the API, on either engine; no imports, so the error
// handler (plugins/app/errors.ts) can ask without loading a driver.

const UNAVAILABLE_CODES = new Set([
  // The network: nothing listens, the connection broke, the host is gone.
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  // PostgreSQL: admin_shutdown, crash_shutdown, cannot_connect_now (starting or stopping), too_many_connections.
  '57P01', '57P02', '57P03', '53300',
  // connection_exception and its kinds.
  '08000', '08001', '08003', '08004', '08006'
])

/** pg's own messages when a connection ends under a query, or none can be had in time. */
const UNAVAILABLE_MESSAGE = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable)/

/**
 * Whether `err` says the database cannot be reached right now (503 SERVER_NOT_READY, SPEC §2),
 * not that a query was wrong: the one place pg's connection errors are recognised.
 */
export function isDatabaseUnavailable (err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const { code, message } = err as { code?: unknown, message?: unknown }
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true
  return typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)
}

/** Whether `err` is a unique (or primary key) violation, on PostgreSQL (23505) or SQLite. */
export function isUniqueViolation (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
}

/**
 * PostgreSQL's deadlock_detected (40P01) and serialization_failure (40001): the transaction lost
 * to a concurrent one and was rolled back; run again, it normally succeeds (postgres.ts retries).
 */
export function isTransientConflict (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === '40P01' || code === '40001'
}

/**
 * Whether `err` says the database is too busy to answer now (503 SERVER_NOT_READY with
 * Retry-After, SPEC §2), the request's transaction rolled back: a conflict still lost after
 * its retries, or a statement cancelled by statement_timeout (57014 query_canceled) or
 * lock_timeout (55P03 lock_not_available).
 */
export function isDatabaseBusy (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return isTransientConflict(err) || code === '57014' || code === '55P03'
}
