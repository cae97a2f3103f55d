// The users store: reads, credentials, and the do_* actions that change users
// (each in one transaction, publishing its event after commit).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Selectable } from 'kysely'
import type { DB, UserTable } from '../db/db.js'
import type { EventBus } from '../events/bus.js'
import { errors, ParleyError } from '../errors.js'
import { generateApiKey, generatePassword, hashPassword, safeEqual } from '../http/credentials.js'
import { subscribersChanged, subscribersSettled } from './subscriber-cache.js'
import { isUniqueViolation } from '../db/engine-errors.js'
import { BoundedMap } from '../bounded-map.js'
import { Prepared, type Placeholders } from '../db/compiled.js'

export type Role = 'owner' | 'admin' | 'member' | 'guest'
export const ROLES: Role[] = ['owner', 'admin', 'member', 'guest']
export type UserRow = Selectable<UserTable>

/** A user as the API shows it (SPEC §6). */
export interface User {
  user_id: number
  email: string
  full_name: string
  role: Role
  is_admin: boolean
  is_bot: boolean
  is_active: boolean
  date_joined: number
  avatar_url: string
  bot_owner_id?: number
  bot_type?: string
}

const AUTH_CACHE_MS = 2000
/** Compared against when the email is unknown, so timing does not reveal who exists. */
const UNKNOWN_USER_KEY = 'x'.repeat(32)

export function now (): number { return Math.floor(Date.now() / 1000) }

export function emailKey (email: string): string { return email.trim().toLowerCase() }

export function isAdmin (u: { role: Role }): boolean { return u.role === 'owner' || u.role === 'admin' }

export function toUser (row: UserRow): User {
  const u: User = {
    user_id: row.id,
    email: row.email,
    full_name: row.full_name,
    role: row.role,
    is_admin: row.role === 'owner' || row.role === 'admin',
    is_bot: row.is_bot === 1,
    is_active: row.is_active === 1,
    date_joined: row.date_joined,
    avatar_url: '/static/images/avatar.svg'
  }
  if (row.is_bot === 1) {
    if (row.bot_owner_id !== null) u.bot_owner_id = row.bot_owner_id
    if (row.bot_type !== null) u.bot_type = row.bot_type
  }
  return u
}

/**
 * For a transaction's `.catch`: a unique violation becomes `conflict()`. The check before an
 * insert answers most duplicates; on PostgreSQL two requests on two connections can both pass
 * it, and the loser's insert is refused by the unique index: the same answer, never a 500.
 */
export function uniqueAs (conflict: () => Error): (err: unknown) => never {
  return (err) => { throw isUniqueViolation(err) ? conflict() : err }
}

export interface NewUser { email: string, password?: string | undefined, full_name: string, role: Role }

export class UserStore {
  /** Recent credential look-ups by email key; cleared on every local change to a user. */
  private readonly authCache = new BoundedMap<string, { row: UserRow | undefined, user: User | undefined, key?: Buffer, until: number }>(10_000)

  constructor (private readonly db: DB, private readonly bus: EventBus, private readonly botDomain: string) {}

  /** Bumped on every change, so a look-up that raced a change does not cache what it read. */
  private generation = 0

  private invalidate (): void {
    this.generation++
    this.authCache.clear()
  }

  /**
   * Forgets every cached user, as after a change of this process's own. The hook for a change
   * made by ANOTHER process (on PostgreSQL): whoever learns of one (the Redis side) calls this.
   * Called after the change committed, it leaves nothing stale: a look-up that read before the
   * commit sees the generation move and does not cache what it read.
   */
  forgetCachedUsers (): void { this.invalidate() }

  async getRow (id: number): Promise<UserRow | undefined> {
    return await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
  }

  async get (id: number): Promise<User | undefined> {
    const row = await this.getRow(id)
    return row === undefined ? undefined : toUser(row)
  }

  // The look-up behind every API key check that misses the cache: compiled once.
  private readonly rowByEmailKey = new Prepared(['key'], (db: DB, p: Placeholders<{ key: string }>) =>
    db.selectFrom('users').selectAll().where('email_key', '=', p.key))

  async getRowByEmail (email: string): Promise<UserRow | undefined> {
    return await this.getRowByEmailKey(emailKey(email))
  }

  /** The row for an e-mail key (`emailKey`): the one look-up behind getRowByEmail and authenticate. */
  protected async getRowByEmailKey (key: string): Promise<UserRow | undefined> {
    return await this.rowByEmailKey.executeTakeFirst(this.db, { key })
  }

  async list (includeDeactivated: boolean): Promise<User[]> {
    let q = this.db.selectFrom('users').selectAll().orderBy('id')
    if (!includeDeactivated) q = q.where('is_active', '=', 1)
    return (await q.execute()).map(toUser)
  }

  /** The owner's active bots, each with its API key: the owner configures them (as Zulip shows them). */
  async listBots (ownerId: number): Promise<Array<User & { api_key: string }>> {
    const rows = await this.db.selectFrom('users').selectAll()
      .where('is_bot', '=', 1).where('bot_owner_id', '=', ownerId).where('is_active', '=', 1).orderBy('id').execute()
    return rows.map((r) => ({ ...toUser(r), api_key: r.api_key }))
  }

  async countOwners (): Promise<number> {
    const r = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role', '=', 'owner').where('is_active', '=', 1).where('is_bot', '=', 0).executeTakeFirstOrThrow()
    return Number(r.n)
  }

  /**
   * HTTP Basic credentials → the user row, or an error of SPEC §4. The key is compared
   * in constant time; look-ups are cached briefly because every API request makes one.
   */
  async authenticate (email: string, apiKey: string, scheme: 'Basic' = 'Basic'): Promise<UserRow> {
    const key = emailKey(email)
    const cached = this.authenticateCached(email, apiKey, scheme, key)
    if (cached !== undefined) return cached.row
    const generation = this.generation
    const hit = { row: await this.getRowByEmailKey(key), user: undefined, until: Date.now() + AUTH_CACHE_MS }
    // A regeneration or deactivation that committed while we read may have made this
    // row stale; caching it would keep an old key alive for AUTH_CACHE_MS.
    if (generation === this.generation) {
      this.authCache.set(key, hit)
    }
    return this.verify(hit.row, apiKey, scheme)
  }

  /**
   * The same verdict without a promise when the look-up is cached and fresh (the common
   * case, and the API's hot path); undefined when the database must be asked.
   * `memo` belongs to one exact credential (basic-auth.ts keeps one per Authorization
   * header): once its key has matched a cached look-up, the same look-up answers it
   * without comparing again. Only a client that already sent the right key can send
   * that credential; any other key is compared, in constant time. A change to the user
   * (a new key, a deactivation) or the look-up's expiry makes a new look-up, and the
   * key is compared again.
   */
  authenticateCached (email: string, apiKey: string | Buffer, scheme: 'Basic' = 'Basic', key = emailKey(email), memo?: { verified?: object }): { row: UserRow, user: User } | undefined {
    const hit = this.authCache.get(key)
    if (hit === undefined || hit.until < Date.now()) return undefined
    if (memo?.verified === hit && hit.row !== undefined && hit.user !== undefined) return { row: hit.row, user: hit.user }
    hit.key ??= Buffer.from(hit.row?.api_key ?? UNKNOWN_USER_KEY)
    const row = this.verify(hit.row, apiKey, scheme, hit.key)
    hit.user ??= toUser(row)
    if (memo !== undefined) memo.verified = hit
    return { row, user: hit.user }
  }

  private verify (row: UserRow | undefined, apiKey: string | Buffer, scheme: 'Basic', key?: Buffer): UserRow {
    // Compare even for an unknown email, so the answer time does not tell which emails exist.
    const keyMatches = safeEqual(key ?? row?.api_key ?? UNKNOWN_USER_KEY, apiKey)
    if (row === undefined || !keyMatches) throw errors.unauthorized('error.invalid_credentials', scheme)
    if (row.is_active !== 1) throw errors.deactivated(scheme)
    return row
  }

  async byApiKey (apiKey: string): Promise<UserRow | undefined> {
    if (!/^[A-Za-z0-9]{32}$/.test(apiKey)) return undefined
    return await this.db.selectFrom('users').selectAll().where('api_key', '=', apiKey).executeTakeFirst()
  }

  /** do_create_user: a human account; 409 ALREADY_EXISTS when the email is taken in any letter case. */
  async doCreateUser (input: NewUser): Promise<User> {
    const passwordHash = input.password === undefined ? null : await hashPassword(input.password)
    const taken = (): Error => errors.alreadyExists('error.email_in_use', { email: input.email })
    const row = await this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('users').select('id').where('email_key', '=', emailKey(input.email)).executeTakeFirst()
      if (existing !== undefined) throw taken()
      return await trx.insertInto('users').values({
        email: input.email.trim(),
        email_key: emailKey(input.email),
        full_name: input.full_name,
        role: input.role,
        is_bot: 0,
        bot_type: null,
        bot_owner_id: null,
        is_active: 1,
        date_joined: now(),
        api_key: generateApiKey(),
        password_hash: passwordHash,
        webhook_secret: null
      }).returningAll().executeTakeFirstOrThrow()
    }).catch(uniqueAs(taken))
    this.invalidate()
    const user = toUser(row)
    this.bus.publish({ type: 'realm_user', op: 'add', person: user }, { kind: 'all' })
    return user
  }

  /**
   * do_create_bot: a bot owned by `owner`, email `<short_name>-bot@<domain>`. Guests may
   * not own bots (as in Zulip), nor may bots: a bot's bot would outlive its owner's
   * deactivation, which only takes the owner's own bots along.
   */
  async doCreateBot (owner: User, input: { full_name: string, short_name: string, bot_type: string, webhook_secret?: string | undefined }): Promise<UserRow> {
    if (owner.is_bot) throw errors.forbidden('error.bots_cannot_create_bots')
    if (owner.role === 'guest') throw errors.forbidden('error.not_member')
    if (input.webhook_secret !== undefined && input.bot_type !== 'incoming_webhook') {
      throw errors.invalid('webhook_secret', 'error.why.webhook_secret_incoming_only')
    }
    const email = `${input.short_name}-bot@${this.botDomain}`
    const row = await this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('users').select('id').where('email_key', '=', emailKey(email)).executeTakeFirst()
      if (existing !== undefined) throw errors.badRequest('error.username_in_use')
      return await trx.insertInto('users').values({
        email,
        email_key: emailKey(email),
        full_name: input.full_name,
        role: 'member',
        is_bot: 1,
        bot_type: input.bot_type,
        bot_owner_id: owner.user_id,
        is_active: 1,
        date_joined: now(),
        api_key: generateApiKey(),
        password_hash: null,
        webhook_secret: input.webhook_secret ?? null
      }).returningAll().executeTakeFirstOrThrow()
    }).catch(uniqueAs(() => errors.badRequest('error.username_in_use')))
    this.invalidate()
    this.bus.publish({ type: 'realm_user', op: 'add', person: toUser(row) }, { kind: 'all' })
    return row
  }

  /**
   * do_update_user: `full_name` by the user or an admin, `role` by an admin (owner
   * role only by an owner). Idempotent: the same edit twice succeeds twice.
   */
  async doUpdateUser (actor: User, targetId: number, changes: { full_name?: string | undefined, role?: Role | undefined }): Promise<User> {
    const self = actor.user_id === targetId
    if (!isAdmin(actor) && (!self || changes.role !== undefined)) {
      if (await this.get(targetId) === undefined) throw errors.notFound('error.no_such_user')
      throw errors.notAdmin()
    }
    const updated = await this.db.transaction().execute(async (trx) => {
      const target = await trx.selectFrom('users').selectAll().where('id', '=', targetId).executeTakeFirst()
      if (target === undefined) throw errors.notFound('error.no_such_user')
      if (changes.role !== undefined && changes.role !== target.role) {
        if ((changes.role === 'owner' || target.role === 'owner') && actor.role !== 'owner') {
          throw errors.forbidden('error.not_owner')
        }
        if (target.role === 'owner') {
          const owners = await trx.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n'))
            .where('role', '=', 'owner').where('is_active', '=', 1).where('is_bot', '=', 0).executeTakeFirstOrThrow()
          if (Number(owners.n) <= 1 && target.is_active === 1) {
            throw errors.badRequest('error.last_owner_role')
          }
        }
      }
      const set: Partial<Pick<UserRow, 'full_name' | 'role'>> = {}
      if (changes.full_name !== undefined) set.full_name = changes.full_name
      if (changes.role !== undefined) set.role = changes.role
      if (Object.keys(set).length === 0) return target
      return await trx.updateTable('users').set(set).where('id', '=', targetId).returningAll().executeTakeFirstOrThrow()
    })
    this.invalidate()
    const user = toUser(updated)
    const person: Record<string, unknown> = { user_id: user.user_id }
    if (changes.full_name !== undefined) person.full_name = user.full_name
    if (changes.role !== undefined) { person.role = user.role; person.is_admin = user.is_admin }
    if (Object.keys(person).length > 1) this.bus.publish({ type: 'realm_user', op: 'update', person }, { kind: 'all' })
    return user
  }

  /**
   * do_deactivate_user (admin): 409 NO_CHANGE when already deactivated; the last
   * owner cannot be deactivated; the user's sessions end and their bots go with them.
   */
  async doDeactivateUser (actor: User, targetId: number): Promise<void> {
    if (!isAdmin(actor)) {
      if (await this.get(targetId) === undefined) throw errors.notFound('error.no_such_user')
      throw errors.notAdmin()
    }
    const removed = await this.db.transaction().execute(async (trx) => {
      const target = await trx.selectFrom('users').selectAll().where('id', '=', targetId).executeTakeFirst()
      if (target === undefined) throw errors.notFound('error.no_such_user')
      if (target.is_active !== 1) throw errors.noChange('error.already_deactivated')
      if (target.role === 'owner' && target.is_bot === 0) {
        if (actor.role !== 'owner') throw errors.forbidden('error.not_owner')
        const owners = await trx.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n'))
          .where('role', '=', 'owner').where('is_active', '=', 1).where('is_bot', '=', 0).executeTakeFirstOrThrow()
        if (Number(owners.n) <= 1) throw errors.badRequest('error.last_owner_deactivate')
      }
      const bots = await trx.selectFrom('users').select('id')
        .where('bot_owner_id', '=', targetId).where('is_active', '=', 1).execute()
      const ids = [targetId, ...bots.map((b) => b.id)]
      await trx.updateTable('users').set({ is_active: 0 }).where('id', 'in', ids).execute()
      subscribersChanged(this.db, trx)
      await trx.deleteFrom('sessions').where('user_id', 'in', ids).execute()
      return ids
    })
    subscribersSettled(this.db)
    this.invalidate()
    for (const id of removed) this.bus.publish({ type: 'realm_user', op: 'remove', person: { user_id: id } }, { kind: 'all' })
  }

  /** do_regenerate_api_key: the old key stops working at once. */
  async doRegenerateApiKey (userId: number): Promise<string> {
    const apiKey = generateApiKey()
    await this.db.updateTable('users').set({ api_key: apiKey }).where('id', '=', userId).execute()
    this.invalidate()
    return apiKey
  }

  /** On a start with no owner, creates one from the configuration or with a generated password. */
  async ensureOwner (email: string | undefined, password: string | undefined): Promise<{ email: string, password: string | null, created: boolean }> {
    const anOwner = async (): Promise<{ email: string } | undefined> =>
      await this.db.selectFrom('users').select('email').where('role', '=', 'owner').where('is_bot', '=', 0).executeTakeFirst()
    const owner = await anOwner()
    if (owner !== undefined) return { email: owner.email, password: null, created: false }
    const pw = password ?? generatePassword()
    const mail = email ?? `admin@${this.botDomain}`
    try {
      await this.doCreateUser({ email: mail, password: pw, full_name: 'Owner', role: 'owner' })
    } catch (err) {
      // Another process starting on the same empty database made the owner first (PostgreSQL).
      const other = err instanceof ParleyError && err.code === 'ALREADY_EXISTS' ? await anOwner() : undefined
      if (other === undefined) throw err
      return { email: other.email, password: null, created: false }
    }
    return { email: mail, password: pw, created: true }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    users: UserStore
  }
}

export default fp(async function usersPlugin (app: FastifyInstance) {
  const domain = new URL(app.config.externalUrl).hostname.replace(/^\[|\]$/g, '') || 'localhost'
  app.decorate('users', new UserStore(app.db, app.bus, domain === '127.0.0.1' ? 'localhost' : domain))
}, { name: 'users', dependencies: ['db', 'bus', 'config'] })
