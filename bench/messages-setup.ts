// What the messages benchmark needs around the measuring: a seeded data dir (users,
// one public stream, a history of messages), the wrk key-rotation script, and the baseline child.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { migrate, openDatabase, type DB } from '../plugins/app/db/db.js'
import { renderMarkdown } from '../plugins/app/stores/markdown.js'
import { searchText, topicKey } from '../plugins/app/stores/narrow.js'
import { generateApiKey } from '../plugins/app/http/credentials.js'
import { startChild, type Server } from './children.js'

export const STREAM = 'bench'
/** Users subscribed to the stream, and the senders of its history: a team-sized stream. */
export const SUBSCRIBERS = 100
const TOPICS = 10

export interface Seeded {
  /** `Basic …` headers of every seeded member, in id order. */
  keys: string[]
  streamId: number
  firstUserId: number
}

export interface KeyBlocks {
  /** Keys in each wrk run's block: warm-up, the rounds, then the unqueued run at -c1. */
  blockSizes: number[]
  /** The first key of the n-th run's block. */
  blockStart: (run: number) => number
}

/**
 * Each wrk run against Parley gets its own block of keys, big enough for `maxRps`, each
 * key used `perKey` times: rate-limit counters live in the server process, and a key
 * must stay under its per-user limit however fast the run goes.
 */
export function keyBlocks (opts: { warmupSeconds: number, rounds: number, seconds: number }, maxRps: number, perKey: number): KeyBlocks {
  const blockSizes = [opts.warmupSeconds, ...Array<number>(opts.rounds + 1).fill(opts.seconds)].map((s) => Math.ceil(maxRps * s / perKey))
  return { blockSizes, blockStart: (run) => blockSizes.slice(0, run).reduce((a, b) => a + b, 0) }
}

function basic (email: string, apiKey: string): string {
  return 'Basic ' + Buffer.from(`${email}:${apiKey}`).toString('base64')
}

/** A message source of an ordinary length with some Markdown in it, so rendering has work to do. */
export function sampleContent (n: number): string {
  return `Message ${n}: the build on **main** is green again, see [the log](https://ci.example.com/${n}) and \`npm test\`.`
}

/** What is written: the same users (and API keys), stream and history on every engine it goes to. */
export interface SeedPlan {
  users: Array<{ email: string, email_key: string, full_name: string, role: 'member', is_bot: number, bot_type: null, bot_owner_id: null, is_active: number, date_joined: number, api_key: string, password_hash: null }>
  messages: number
  t: number
}

export function seedPlan (users: number, messages: number): SeedPlan {
  const t = Math.floor(Date.now() / 1000)
  return {
    t,
    messages,
    users: Array.from({ length: users }, (_, i) => {
      // Same-length emails and names, so every sender's messages have the same size.
      const n = String(i + 1).padStart(5, '0')
      const email = `bench-${n}@example.com`
      return { email, email_key: email, full_name: `Bench user ${n}`, role: 'member' as const, is_bot: 0, bot_type: null, bot_owner_id: null, is_active: 1, date_joined: t, api_key: generateApiKey(), password_hash: null }
    })
  }
}

/**
 * Migrates `db` (SQLite or PostgreSQL, by Parley's own code) and writes the plan's users, the
 * stream and its history straight into it before any server starts: through the API each
 * would count against a rate limit, and the benchmark is not about seeding. Closes `db`.
 */
export async function seedDatabase (db: DB, plan: SeedPlan): Promise<Seeded> {
  try {
    await migrate(db)
    const { t, messages } = plan
    const ids: number[] = []
    // SQLite caps the variables of one statement: insert in slices.
    for (let i = 0; i < plan.users.length; i += 500) {
      const r = await db.insertInto('users').values(plan.users.slice(i, i + 500)).returning('id').execute()
      ids.push(...r.map((x) => x.id))
    }
    const stream = await db.insertInto('streams').values({ name: STREAM, name_key: STREAM, description: 'Benchmark stream', invite_only: 0, is_archived: 0, date_created: t })
      .returning('id').executeTakeFirstOrThrow()
    const members = ids.slice(0, SUBSCRIBERS)
    await db.insertInto('subscriptions').values(members.map((id) => ({ user_id: id, stream_id: stream.id, date_subscribed: t }))).execute()
    await db.transaction().execute(async (trx) => {
      for (let i = 0; i < messages; i += 500) {
        const slice = Array.from({ length: Math.min(500, messages - i) }, (_, j) => {
          const n = i + j
          const topic = `topic ${n % TOPICS}`
          const content = sampleContent(n)
          return {
            sender_id: members[n % members.length] as number,
            type: 'stream' as const,
            stream_id: stream.id,
            dm_group_id: null,
            topic,
            topic_key: topicKey(topic),
            content: renderMarkdown(content),
            content_markdown: content,
            search_text: searchText(topic, content),
            timestamp: t - messages + n,
            last_edit_timestamp: null,
            client: 'bench'
          }
        })
        await trx.insertInto('messages').values(slice).execute()
      }
    })
    return { keys: plan.users.map((u) => basic(u.email, u.api_key)), streamId: stream.id, firstUserId: ids[0] as number }
  } finally {
    await db.destroy()
  }
}

/** A fresh data dir seeded with `users` users and `messages` messages (seedDatabase on SQLite). */
export async function seed (dataDir: string, users: number, messages: number): Promise<Seeded> {
  return await seedDatabase(openDatabase(dataDir), seedPlan(users, messages))
}

const script = fileURLToPath(new URL('messages-baseline.js', import.meta.url))

/** messages-baseline.js on its own copy of the seeded database, as a child process. */
export async function startMessagesBaseline (o: { name: string, dir: string, dataDir: string, senderId: number, nodeArgs?: string[] }): Promise<Server> {
  return await startChild({
    name: o.name,
    script,
    args: [join(o.dataDir, 'parley.sqlite3'), String(o.senderId)],
    ...(o.nodeArgs !== undefined ? { nodeArgs: o.nodeArgs } : {}),
    env: {},
    dir: o.dir,
    urlPattern: /^listening (http:\/\/\S+)$/m
  })
}
