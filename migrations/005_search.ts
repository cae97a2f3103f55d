// The full-text index of messages for the `search` narrow (issue 16 point 4): on SQLite an FTS5
// table over messages.search_text kept by triggers, on PostgreSQL a generated tsvector column
// with a GIN index. Both index the tokens of plugins/app/stores/search.ts, so they agree.
import { sql, SqliteAdapter, type Kysely } from 'kysely'
import { searchText } from '../plugins/app/stores/search.js'

/**
 * Rewrites search_text of existing messages in the tokenized form (it was the lower-cased
 * topic and source), a slice of ids at a time; rows already in that form are not written.
 */
async function retokenize (db: Kysely<any>): Promise<void> {
  let after = 0
  for (;;) {
    const rows = await db.selectFrom('messages').select(['id', 'topic', 'content_markdown', 'search_text'])
      .where('id', '>', after).orderBy('id').limit(2000).execute() as Array<{ id: number, topic: string, content_markdown: string, search_text: string }>
    if (rows.length === 0) return
    for (const r of rows) {
      const text = searchText(r.topic, r.content_markdown)
      if (text !== r.search_text) await db.updateTable('messages').set({ search_text: text }).where('id', '=', r.id).execute()
    }
    after = (rows[rows.length - 1] as { id: number }).id
  }
}

export async function up (db: Kysely<any>): Promise<void> {
  await retokenize(db)
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    // External content: the index holds no copy of the text, which stays in messages.search_text.
    // search_text is already split into tokens: unicode61 splits it at the spaces (marks count as
    // letters, so Indic words stay whole); removing accents and lower-casing were done in JavaScript.
    await sql`create virtual table messages_fts using fts5(search_text, content='messages', content_rowid='id',
      tokenize="unicode61 remove_diacritics 0 categories 'L* N* M*'")`.execute(db)
    await sql`insert into messages_fts(messages_fts) values ('rebuild')`.execute(db)
    // Whoever writes messages, the index follows: the stores need not know it exists.
    await sql`create trigger messages_fts_insert after insert on messages begin
      insert into messages_fts(rowid, search_text) values (new.id, new.search_text); end`.execute(db)
    await sql`create trigger messages_fts_delete after delete on messages begin
      insert into messages_fts(messages_fts, rowid, search_text) values ('delete', old.id, old.search_text); end`.execute(db)
    await sql`create trigger messages_fts_update after update of search_text on messages begin
      insert into messages_fts(messages_fts, rowid, search_text) values ('delete', old.id, old.search_text);
      insert into messages_fts(rowid, search_text) values (new.id, new.search_text); end`.execute(db)
  } else {
    // `simple`: no stemming and no stop words, the same words as FTS5. Stored, so a phrase
    // search's recheck reads the vector instead of parsing the text again.
    await sql`alter table messages add column search_tsv tsvector
      generated always as (to_tsvector('simple'::regconfig, search_text)) stored`.execute(db)
    await sql`create index messages_search_tsv on messages using gin (search_tsv)`.execute(db)
  }
}

export async function down (db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    for (const t of ['insert', 'delete', 'update']) await sql`drop trigger if exists ${sql.raw(`messages_fts_${t}`)}`.execute(db)
    await sql`drop table if exists messages_fts`.execute(db)
  } else {
    await sql`drop index if exists messages_search_tsv`.execute(db)
    await sql`alter table messages drop column if exists search_tsv`.execute(db)
  }
}
