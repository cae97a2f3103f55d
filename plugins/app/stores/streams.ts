// The streams store: streams, subscriptions, who may see which stream, and the
// do_* actions that change them (each in one transaction, events after commit).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { ExpressionBuilder, Selectable, Transaction } from 'kysely'
import type { Database, DB, StreamTable } from '../db/db.js'
import type { Audience, EventBus } from '../events/bus.js'
import { Prepared, type Placeholders } from '../db/compiled.js'
import { errors } from '../errors.js'
import { emailKey, isAdmin, now, uniqueAs, type User } from './users.js'
import { subscriberCache, subscribersChanged, subscribersSettled, type SubscriberCache } from './subscriber-cache.js'

export type StreamRow = Selectable<StreamTable>

/** A stream as the API shows it (SPEC §6). */
export interface Stream {
  stream_id: number
  name: string
  description: string
  invite_only: boolean
  date_created: number
}

export interface NewStream {
  name: string
  description: string
  invite_only: boolean
  /** Users subscribed along with the creator (ids or emails): the only way into a private stream. */
  principals?: Array<number | string> | undefined
}

export const STREAM_NAME_MAX = 60
export const STREAM_DESCRIPTION_MAX = 1024

export function toStream (row: StreamRow): Stream {
  return {
    stream_id: row.id,
    name: row.name,
    description: row.description,
    invite_only: row.invite_only === 1,
    date_created: row.date_created
  }
}

function nameKey (name: string): string { return name.trim().toLowerCase() }

function cleanName (name: string, varName: string): string {
  const n = name.trim()
  if (n === '') throw errors.invalid(varName, 'error.why.empty')
  if ([...n].length > STREAM_NAME_MAX) throw errors.invalid(varName, 'error.why.at_most_characters', { count: STREAM_NAME_MAX })
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(n)) throw errors.invalid(varName, 'error.why.control_characters')
  return n
}

type Db = DB | Transaction<Database>

/**
 * Where a stream is visible to a user: not archived, and public or subscribed.
 * The same rule for every role (admins included), so events and lists agree.
 */
export function streamVisibleTo (userId: number) {
  return (eb: ExpressionBuilder<Database, 'streams'>) => eb.and([
    eb('streams.is_archived', '=', 0),
    eb.or([
      eb('streams.invite_only', '=', 0),
      eb('streams.id', 'in', eb.selectFrom('subscriptions').select('subscriptions.stream_id').where('subscriptions.user_id', '=', userId))
    ])
  ])
}

export class StreamStore {
  private readonly subscribers: SubscriberCache

  // The look-ups of every send, compiled once per app (building and compiling cost more than running them).
  private readonly streamById = new Prepared(['user', 'id'], (db: DB, p: Placeholders<{ user: number, id: number }>) =>
    db.selectFrom('streams').selectAll().where(streamVisibleTo(p.user)).where('streams.id', '=', p.id))

  private readonly streamByName = new Prepared(['user', 'key'], (db: DB, p: Placeholders<{ user: number, key: string }>) =>
    db.selectFrom('streams').selectAll().where(streamVisibleTo(p.user)).where('streams.name_key', '=', p.key))

  private readonly subscribersOf = new Prepared(['stream'], (db: DB, p: Placeholders<{ stream: number }>) =>
    db.selectFrom('subscriptions').innerJoin('users', 'users.id', 'subscriptions.user_id')
      .select('subscriptions.user_id').where('subscriptions.stream_id', '=', p.stream).where('users.is_active', '=', 1)
      .orderBy('subscriptions.user_id'))

  constructor (private readonly db: DB, private readonly bus: EventBus) {
    this.subscribers = subscriberCache(db)
  }

  /** Streams the user may see: public ones and private ones they are subscribed to. */
  async visibleTo (user: User): Promise<Stream[]> {
    const rows = await this.db.selectFrom('streams').selectAll().where(streamVisibleTo(user.user_id)).orderBy('streams.id').execute()
    return rows.map(toStream)
  }

  /** The user's subscribed, non-archived streams. */
  async subscriptionsOf (userId: number): Promise<Stream[]> {
    const rows = await this.db.selectFrom('streams').selectAll('streams')
      .innerJoin('subscriptions', 'subscriptions.stream_id', 'streams.id')
      .where('subscriptions.user_id', '=', userId).where('streams.is_archived', '=', 0)
      .orderBy('streams.id').execute()
    return rows.map(toStream)
  }

  /** One stream the user may see, by id or name; anything else is 404 (no existence leak). */
  async findVisible (user: User, idOrName: number | string, db: Db = this.db): Promise<StreamRow> {
    const row = typeof idOrName === 'number'
      ? await this.streamById.executeTakeFirst(db, { user: user.user_id, id: idOrName })
      : await this.streamByName.executeTakeFirst(db, { user: user.user_id, key: nameKey(idOrName) })
    if (row === undefined) {
      throw typeof idOrName === 'number'
        ? errors.notFound('error.invalid_stream_id', { id: idOrName })
        : errors.notFound('error.no_such_stream', { name: idOrName })
    }
    return row
  }

  async isSubscribed (userId: number, streamId: number, db: Db = this.db): Promise<boolean> {
    const row = await db.selectFrom('subscriptions').select('user_id')
      .where('user_id', '=', userId).where('stream_id', '=', streamId).executeTakeFirst()
    return row !== undefined
  }

  /** Active users subscribed to a stream: who gets its message events. A fresh array the caller may change. */
  async subscriberIds (streamId: number, db: Db = this.db): Promise<number[]> {
    const c = this.subscribers
    const cached = c.lists.get(streamId)
    if (cached !== undefined) return cached.slice()
    const gen = c.gen
    const rows = await this.subscribersOf.execute(db, { stream: streamId })
    const ids = rows.map((r) => r.user_id)
    if (gen === c.gen && !c.dirty.has(db)) c.lists.set(streamId, ids.slice())
    return ids
  }

  /** Who may learn about a stream's existence and changes: everyone, or its subscribers. */
  async audienceOf (row: StreamRow, db: Db = this.db): Promise<Audience> {
    return row.invite_only === 1 ? { kind: 'users', userIds: await this.subscriberIds(row.id, db) } : { kind: 'all' }
  }

  private async resolvePrincipals (trx: Db, principals: Array<number | string>): Promise<number[]> {
    const ids = new Set<number>()
    for (const p of principals) {
      const q = trx.selectFrom('users').select('id').where('is_active', '=', 1)
      const row = typeof p === 'number' ? await q.where('id', '=', p).executeTakeFirst() : await q.where('email_key', '=', emailKey(p)).executeTakeFirst()
      if (row === undefined) throw errors.invalid('principals', 'error.why.no_such_user', { id: String(p) })
      ids.add(row.id)
    }
    return [...ids]
  }

  /** do_create_stream: unique name in any letter case (409 ALREADY_EXISTS); the creator is subscribed. */
  async doCreateStream (creator: User, input: NewStream): Promise<Stream> {
    const name = cleanName(input.name, 'name')
    const t = now()
    const exists = (): Error => errors.alreadyExists('error.stream_exists', { name })
    const { row, members } = await this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('streams').select('id').where('name_key', '=', nameKey(name)).executeTakeFirst()
      if (existing !== undefined) throw exists()
      const others = await this.resolvePrincipals(trx, input.principals ?? [])
      const members = [...new Set([creator.user_id, ...others])]
      const row = await trx.insertInto('streams').values({
        name,
        name_key: nameKey(name),
        description: input.description,
        invite_only: input.invite_only ? 1 : 0,
        is_archived: 0,
        date_created: t
      }).returningAll().executeTakeFirstOrThrow()
      await trx.insertInto('subscriptions').values(members.map((id) => ({ user_id: id, stream_id: row.id, date_subscribed: t }))).execute()
      subscribersChanged(this.db, trx, row.id)
      return { row, members }
    }).catch(uniqueAs(exists))
    subscribersSettled(this.db, row.id)
    const stream = toStream(row)
    this.bus.publish({ type: 'stream', op: 'create', streams: [stream] },
      row.invite_only === 1 ? { kind: 'users', userIds: members } : { kind: 'all' })
    for (const id of members) this.bus.publish({ type: 'subscription', op: 'add', subscriptions: [stream] }, { kind: 'users', userIds: [id] })
    return stream
  }

  /**
   * do_update_stream (admins): rename and/or describe. Idempotent: an edit that changes
   * nothing succeeds and publishes nothing. A stream the actor cannot see is 404.
   */
  async doUpdateStream (actor: User, streamId: number, changes: { new_name?: string | undefined, description?: string | undefined }): Promise<Stream> {
    const newName = changes.new_name === undefined ? undefined : cleanName(changes.new_name, 'new_name')
    const { before, after, audience } = await this.db.transaction().execute(async (trx) => {
      const before = await this.findVisible(actor, streamId, trx)
      if (!isAdmin(actor)) throw errors.notAdmin()
      const set: Partial<Pick<StreamRow, 'name' | 'name_key' | 'description'>> = {}
      if (newName !== undefined && newName !== before.name) {
        if (nameKey(newName) !== before.name_key) {
          const clash = await trx.selectFrom('streams').select('id').where('name_key', '=', nameKey(newName)).executeTakeFirst()
          if (clash !== undefined) throw errors.alreadyExists('error.stream_exists', { name: newName })
        }
        set.name = newName
        set.name_key = nameKey(newName)
      }
      if (changes.description !== undefined && changes.description !== before.description) set.description = changes.description
      if (Object.keys(set).length === 0) return { before, after: before, audience: null }
      const after = await trx.updateTable('streams').set(set).where('id', '=', streamId).returningAll().executeTakeFirstOrThrow()
      return { before, after, audience: await this.audienceOf(after, trx) }
    }).catch(uniqueAs(() => errors.alreadyExists('error.stream_exists', { name: newName ?? '' })))
    if (audience !== null) {
      for (const property of ['name', 'description'] as const) {
        if (before[property] === after[property]) continue
        this.bus.publish({ type: 'stream', op: 'update', stream_id: after.id, property, value: after[property], name: before.name }, audience)
      }
    }
    return toStream(after)
  }

  /**
   * do_archive_stream (admins): the stream vanishes from lists and lookups and its
   * name is freed; a second archive is 409 NO_CHANGE. Subscriptions are kept as history.
   */
  async doArchiveStream (actor: User, streamId: number): Promise<void> {
    const { row, audience } = await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('streams').selectAll().where('id', '=', streamId).executeTakeFirst()
      const subscribed = row !== undefined && await this.isSubscribed(actor.user_id, streamId, trx)
      if (row === undefined || (row.invite_only === 1 && !subscribed)) throw errors.notFound('error.invalid_stream_id', { id: streamId })
      if (!isAdmin(actor)) {
        if (row.is_archived === 1) throw errors.notFound('error.invalid_stream_id', { id: streamId })
        throw errors.notAdmin()
      }
      if (row.is_archived === 1) throw errors.noChange('error.already_archived')
      await trx.updateTable('streams').set({ is_archived: 1, name_key: null }).where('id', '=', streamId).execute()
      subscribersChanged(this.db, trx, streamId)
      return { row, audience: await this.audienceOf(row, trx) }
    })
    subscribersSettled(this.db, streamId)
    this.bus.publish({ type: 'stream', op: 'delete', streams: [toStream(row)] }, audience)
  }

  /** do_subscribe: 404 for a stream the user cannot see, 409 ALREADY_EXISTS when subscribed. */
  async doSubscribe (user: User, streamId: number): Promise<Stream> {
    let name = ''
    const subscribed = (): Error => errors.alreadyExists('error.already_subscribed', { name })
    const row = await this.db.transaction().execute(async (trx) => {
      const row = await this.findVisible(user, streamId, trx)
      name = row.name
      if (await this.isSubscribed(user.user_id, streamId, trx)) throw subscribed()
      await trx.insertInto('subscriptions').values({ user_id: user.user_id, stream_id: streamId, date_subscribed: now() }).execute()
      subscribersChanged(this.db, trx, streamId)
      return row
    }).catch(uniqueAs(subscribed))
    subscribersSettled(this.db, streamId)
    const stream = toStream(row)
    this.bus.publish({ type: 'subscription', op: 'add', subscriptions: [stream] }, { kind: 'users', userIds: [user.user_id] })
    return stream
  }

  /** do_unsubscribe: 404 for a stream the user cannot see, 409 NO_CHANGE when not subscribed. */
  async doUnsubscribe (user: User, streamId: number): Promise<void> {
    const row = await this.db.transaction().execute(async (trx) => {
      const row = await this.findVisible(user, streamId, trx)
      const removed = await trx.deleteFrom('subscriptions').where('user_id', '=', user.user_id).where('stream_id', '=', streamId).executeTakeFirst()
      if (Number(removed.numDeletedRows) === 0) throw errors.noChange('error.not_subscribed', { name: row.name })
      subscribersChanged(this.db, trx, streamId)
      return row
    })
    subscribersSettled(this.db, streamId)
    this.bus.publish({ type: 'subscription', op: 'remove', subscriptions: [toStream(row)] }, { kind: 'users', userIds: [user.user_id] })
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    streams: StreamStore
  }
}

export default fp(async function streamsPlugin (app: FastifyInstance) {
  app.decorate('streams', new StreamStore(app.db, app.bus))
}, { name: 'streams', dependencies: ['db', 'bus', 'users'] })
