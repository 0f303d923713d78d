// Full checkpoints from a test beside a live RecordLog. The log's background checkpoint
// (lib/store/wal-checkpoint.ts) may hold SQLite's checkpoint lock for a moment after a commit; a checkpoint that
// meets it answers at once with busy 1 and log -1 (it could not start), and is tried again. A reader holding old
// frames answers busy 1 with the real frame counts, which is returned as it is: the caller's check fails.

import type { RecordLog } from '../../lib/store/record-log.js';

type Result = { busy: number; log: number; checkpointed: number };
type Connection = { get<T>(sql: string): Promise<T | undefined> };

/** `PRAGMA wal_checkpoint(mode)` on `db`, tried again while another checkpoint holds the lock. */
export async function walCheckpoint(db: Connection, mode: 'PASSIVE' | 'TRUNCATE'): Promise<Result> {
  let r = (await db.get<Result>(`PRAGMA wal_checkpoint(${mode})`))!;
  for (let i = 0; i < 50 && r.log === -1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    r = (await db.get<Result>(`PRAGMA wal_checkpoint(${mode})`))!;
  }
  return r;
}

/** A TRUNCATE checkpoint on the log's own writer connection. */
export function truncateWal(log: RecordLog): Promise<Result> {
  return walCheckpoint((log as unknown as { writer: Connection }).writer, 'TRUNCATE');
}
