// Records as rows: the column list, the row shape, the conversion back to a record, and the read-only
// queries that work on any connection (the instance's reader, doctor's read-only look, a backup file).

import type { StoredRecord } from '../kernel/record.js';
import type { Database } from './database.js';

export interface RecordRow {
  sequence: number;
  id: string;
  thread: string;
  actor: string;
  act: string;
  clock: number;
  data_type: string;
  parents: string;
  body: string;
  judged_by: string | null;
  created_at: number;
}

export const RECORD_COLUMNS = 'sequence, id, thread, actor, act, clock, data_type, parents, body, judged_by, created_at';

export function rowToRecord(row: RecordRow): StoredRecord {
  return {
    id: row.id,
    parents: JSON.parse(row.parents) as string[],
    thread: row.thread,
    actor: row.actor,
    act: row.act as StoredRecord['act'],
    body: JSON.parse(row.body) as StoredRecord['body'],
    clock: row.clock,
    data_type: row.data_type as StoredRecord['data_type'],
    judged_by: row.judged_by,
    sequence: row.sequence,
    created_at: new Date(row.created_at).toISOString(),
  };
}

/** Record and thread counts; zero for a file that has no records table yet. */
export async function recordCounts(db: Database): Promise<{ records: number; threads: number }> {
  const hasRecords = await db.get(`SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'records'`);
  if (!hasRecords) return { records: 0, threads: 0 };
  const row = await db.get<{ records: number; threads: number }>('SELECT count(*) AS records, count(DISTINCT thread) AS threads FROM records');
  return { records: row?.records ?? 0, threads: row?.threads ?? 0 };
}

/**
 * The highest sequence: the record count of a log spl wrote (sequences run 1..N), read from the primary key
 * alone, so it costs the same on any size of store. Throws when the file has no records table.
 */
export async function highestSequence(db: Database): Promise<number> {
  const row = await db.get<{ n: number | null }>('SELECT max(sequence) AS n FROM records');
  return row?.n ?? 0;
}

export interface ThreadCount {
  threads: number;
  /** The highest sequence when they were counted. */
  last: number;
}

/** Threads holding records, and the highest sequence, read in one statement (so in one snapshot). */
export async function threadCount(db: Database): Promise<ThreadCount> {
  const row = await db.get<{ n: number; s: number | null }>('SELECT (SELECT count(DISTINCT thread) FROM records) AS n, (SELECT max(sequence) FROM records) AS s');
  return { threads: row?.n ?? 0, last: row?.s ?? 0 };
}

/** Rows per page when a whole table (or a thread's part of it) is read. */
const SCAN_PAGE = 1000;

/**
 * Records after `afterSequence` that match `where` (a condition over bound `params`), in store order, read a page
 * at a time (`sequence > last LIMIT n`) so memory holds one page, not the result set: the driver's row stream
 * queues every row it has read ahead of the consumer, which on a 1M-record store was over a gigabyte.
 */
export async function scanPaged(
  db: Database,
  where: { sql: string; params: unknown[] } | undefined,
  afterSequence: number,
  onRecord: (r: StoredRecord) => void,
  pageSize = SCAN_PAGE,
): Promise<number> {
  const sql = `SELECT ${RECORD_COLUMNS} FROM records WHERE sequence > ?${where ? ` AND ${where.sql}` : ''} ORDER BY sequence LIMIT ?`;
  let after = afterSequence;
  let count = 0;
  for (;;) {
    const rows = await db.all<RecordRow>(sql, [after, ...(where?.params ?? []), pageSize]);
    for (const row of rows) onRecord(rowToRecord(row));
    count += rows.length;
    if (rows.length < pageSize) return count;
    after = rows[rows.length - 1]!.sequence;
  }
}

/** The records on one thread, or of one act, in store order. */
export function scanWhere(db: Database, where: { thread: string } | { act: string }, onRecord: (r: StoredRecord) => void): Promise<number> {
  const [column, value] = 'thread' in where ? ['thread', where.thread] : ['act', where.act];
  return scanPaged(db, { sql: `${column} = ?`, params: [value] }, 0, onRecord);
}
