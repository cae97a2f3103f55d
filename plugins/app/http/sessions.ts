// Server-side browser sessions, stored in the database so they survive restarts
// and are shared by every process. The cookie holds a random token; the table
// holds only its SHA-256.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createHash, randomBytes } from 'node:crypto'
import type { DB } from '../db/db.js'
import { now } from '../stores/users.js'

export const SESSION_COOKIE = 'parley_session'
const LIFETIME_SECONDS = 14 * 24 * 3600

export interface Session { userId: number, csrfToken: string }

function digest (token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

export class SessionStore {
  constructor (private readonly db: DB) {}

  /** Starts a session; returns the cookie token and the CSRF token. */
  async create (userId: number): Promise<{ token: string, csrfToken: string }> {
    const token = randomBytes(32).toString('base64url')
    const csrfToken = randomBytes(24).toString('base64url')
    const t = now()
    await this.db.insertInto('sessions').values({
      id: digest(token), user_id: userId, csrf_token: csrfToken, created_at: t, expires_at: t + LIFETIME_SECONDS
    }).execute()
    return { token, csrfToken }
  }

  async get (token: string): Promise<Session | undefined> {
    if (token.length > 200) return undefined
    const row = await this.db.selectFrom('sessions').select(['user_id', 'csrf_token', 'expires_at'])
      .where('id', '=', digest(token)).executeTakeFirst()
    if (row === undefined || row.expires_at < now()) return undefined
    return { userId: row.user_id, csrfToken: row.csrf_token }
  }

  async destroy (token: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id', '=', digest(token)).execute()
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    sessions: SessionStore
  }
}

export default fp(async function sessionsPlugin (app: FastifyInstance) {
  app.decorate('sessions', new SessionStore(app.db))
}, { name: 'sessions', dependencies: ['db'] })
