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

/** Streams the records on one thread, or of one act, in store order. */
export function scanWhere(db: Database, where: { thread: string } | { act: string }, onRecord: (r: StoredRecord) => void): Promise<number> {
  const [column, value] = 'thread' in where ? ['thread', where.thread] : ['act', where.act];
  return db.each<RecordRow>(`SELECT ${RECORD_COLUMNS} FROM records WHERE ${column} = ? ORDER BY sequence`, [value], (row) => onRecord(rowToRecord(row)));
}
