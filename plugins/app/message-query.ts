// The one select every message read goes through, and the rule of who may read a message.
import type { ExpressionBuilder, Transaction } from 'kysely'
import type { Database, DB } from './db.js'
import { streamVisibleTo } from './streams.js'

type Db = DB | Transaction<Database>

/** The columns of a message with its sender and stream, as one select over messages ⋈ users ⟕ streams. */
export function selectMessages (db: Db) {
  return db.selectFrom('messages')
    .innerJoin('users', 'users.id', 'messages.sender_id')
    .leftJoin('streams', 'streams.id', 'messages.stream_id')
    .select([
      'messages.id', 'messages.sender_id', 'messages.type', 'messages.stream_id', 'messages.dm_group_id',
      'messages.topic', 'messages.content', 'messages.content_markdown', 'messages.timestamp',
      'messages.last_edit_timestamp', 'messages.client',
      'users.email as sender_email', 'users.full_name as sender_full_name', 'streams.name as stream_name'
    ])
}

export type Row = Awaited<ReturnType<ReturnType<typeof selectMessages>['executeTakeFirstOrThrow']>>

/** Messages a user may read: in a visible stream, or in a direct conversation that includes them. */
export function readableBy (userId: number) {
  return (eb: ExpressionBuilder<Database, 'messages' | 'streams'>) => eb.or([
    // The stream rule is the streams store's own, so stream lists and message reads never disagree
    // (kysely cannot type a builder over more tables as one over fewer, hence the cast).
    streamVisibleTo(userId)(eb as unknown as ExpressionBuilder<Database, 'streams'>),
    eb('messages.dm_group_id', 'in', eb.selectFrom('dm_group_members').select('dm_group_members.group_id').where('dm_group_members.user_id', '=', userId))
  ])
}
