// Schema and its version gate. Changes are additive (CREATE … IF NOT EXISTS) and each one is recorded.

import { SplError } from '../kernel/errors.js';
import type { Database } from './database.js';

/** The newest schema this binary understands. */
export const SCHEMA_VERSION = 1;

/**
 * The records table and its indexes (exported so benchmarks measure against the very same schema). SPEC §3 names
 * the four secondary indexes; each serves queries that exist:
 * - records_thread (thread, sequence): a thread's records in store order (GET /v1/threads/:id, thread records,
 *   `?thread=` listings, the records a fleet worker sends back, the thread summaries and counts), and whether a
 *   thread exists (the commit's new-thread probe);
 * - records_actor (actor, sequence): `?actor=` listings and structured queries on actor;
 * - records_act (act, sequence): `?act=` listings, structured queries on act, doctor's scan of INTEND and LEARN
 *   records;
 * - records_thread_actor_clock (unique): the clock rule itself (one record per clock per actor per thread), the
 *   heads the commit reads for (thread, actor) pairs it has not cached, and CLOCK_CONFLICT's holder lookup.
 * The UNIQUE id index serves GET /v1/records/:id and the repeat check. Measured on the commit path (groups of
 * 16, 32 threads): without records_actor and records_act a group commits 3–7% faster, within run-to-run noise;
 * most of a commit's cost is the leaf pages the random-keyed id index and the two thread-keyed indexes dirty.
 */
export const RECORDS_DDL = `
      CREATE TABLE IF NOT EXISTS records (
        sequence   INTEGER PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        thread     TEXT NOT NULL,
        actor      TEXT NOT NULL,
        act        TEXT NOT NULL,
        clock      INTEGER NOT NULL,
        data_type  TEXT NOT NULL,
        parents    TEXT NOT NULL,
        body       TEXT NOT NULL,
        judged_by  TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS records_thread ON records(thread, sequence);
      CREATE INDEX IF NOT EXISTS records_actor ON records(actor, sequence);
      CREATE INDEX IF NOT EXISTS records_act ON records(act, sequence);
      CREATE UNIQUE INDEX IF NOT EXISTS records_thread_actor_clock ON records(thread, actor, clock);
`;

interface Migration {
  version: number;
  description: string;
  sql: string;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'records log, meta, indexes',
    sql: `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n${RECORDS_DDL}`,
  },
];

/** Reads the store's schema version; 0 for a store that has never been migrated. */
export async function storedSchemaVersion(db: Database): Promise<number> {
  const hasMeta = await db.get(`SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'meta'`);
  if (!hasMeta) return 0;
  const row = await db.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'schema_version'`);
  return row ? Number(row.value) : 0;
}

/** Refuses a store written by a newer binary; otherwise applies the missing migrations in one transaction. */
export async function migrate(db: Database, now: () => number = Date.now): Promise<{ from: number; to: number }> {
  const from = await storedSchemaVersion(db);
  if (from > SCHEMA_VERSION) {
    throw new SplError(
      'STORE_TOO_NEW',
      `${db.path} has schema version ${from}, but this spl understands up to ${SCHEMA_VERSION}; it was written by a newer release`,
      { fix: 'install the newer spl release again (spl version shows what is installed), or restore a backup taken before the upgrade' },
    );
  }
  if (from === SCHEMA_VERSION) return { from, to: from };
  await db.exec('BEGIN IMMEDIATE');
  try {
    for (const m of MIGRATIONS.filter((m) => m.version > from)) {
      await db.exec(m.sql);
      await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
      await db.run(`INSERT OR REPLACE INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)`, [m.version, m.description, now()]);
    }
    await db.run(`INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)`, [String(SCHEMA_VERSION)]);
    await db.exec('COMMIT');
  } catch (err) {
    await db.exec('ROLLBACK').catch(() => undefined);
    throw err;
  }
  return { from, to: SCHEMA_VERSION };
}

export async function getMeta(db: Database, key: string): Promise<string | undefined> {
  const row = await db.get<{ value: string }>(`SELECT value FROM meta WHERE key = ?`, [key]);
  return row?.value;
}

export async function setMeta(db: Database, key: string, value: string): Promise<void> {
  await db.run(`INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, [key, value]);
}
